import type { Kysely, Migration } from 'kysely';

/**
 * Schema migrations, applied in key order. Never edit one that has shipped: add the next.
 * Column types are kept to what SQLite and PostgreSQL share (text, integer, real).
 */
export const migrations: Record<string, Migration> = {
  '0001_recipients': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('recipients')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        /** The whole validated record as JSON (see src/registry/schema.ts). */
        .addColumn('data', 'text', (c) => c.notNull())
        /** SHA-256 of `data`, so a campaign can tell that a recipient changed after approval. */
        .addColumn('data_sha256', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

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
  '0002_dispatch': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('campaigns')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('template_id', 'text', (c) => c.notNull())
        .addColumn('reference', 'text', (c) => c.notNull())
        /** Set when the reference belongs to a numbered series (CU 2009/92): series, year, number. */
        .addColumn('reference_series', 'text')
        .addColumn('reference_year', 'integer')
        .addColumn('reference_number', 'integer')
        /** As given: 'all', 'group:NAME' or 'FRA,DEU,...'; resolved at approval. */
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('letter_date', 'text', (c) => c.notNull())
        .addColumn('reply_by', 'text', (c) => c.notNull())
        /** JSON array of days before reply-by, e.g. [14,3]. */
        .addColumn('remind_offsets', 'text', (c) => c.notNull())
        /** draft | approved | sending | paused | cancelled | done */
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_reason', 'text')
        /** Messages per minute for this campaign only; null means only the global limit. */
        .addColumn('rate_per_minute', 'integer')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('approved_by', 'text')
        .addColumn('approved_at', 'text')
        /** SHA-256 over template hashes, recipient fingerprints and parameters (see approval.ts). */
        .addColumn('approval_fingerprint', 'text')
        /** The parts of the fingerprint as JSON, so a refusal can say what changed. */
        .addColumn('approval_detail', 'text')
        /** Bumped by resume and retry so re-enqueued jobs get fresh BullMQ ids. */
        .addColumn('enqueue_round', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('reference_series')
        .addColumn('series', 'text', (c) => c.notNull())
        .addColumn('year', 'integer', (c) => c.notNull())
        .addColumn('last_number', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('reference_series_pk', ['series', 'year'])
        .execute();
      // CU 2009/92 (A) went out on 8 July 2009: the next note of that series is CU 2009/93.
      await db
        .insertInto('reference_series')
        .values({ series: 'CU', year: 2009, last_number: 92, updated_at: '2009-07-08T00:00:00.000Z' })
        .execute();

      await db.schema
        .createTable('dispatches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
        .addColumn('recipient_id', 'text', (c) => c.notNull())
        /** note | reminder */
        .addColumn('kind', 'text', (c) => c.notNull())
        /** pending | queued | rendered | sending | sent | failed | cancelled */
        .addColumn('state', 'text', (c) => c.notNull())
        /** The recipient record exactly as merged (JSON), so later registry edits cannot rewrite history. */
        .addColumn('recipient_snapshot', 'text')
        .addColumn('language', 'text')
        .addColumn('template_id', 'text')
        .addColumn('template_version', 'integer')
        .addColumn('template_sha256', 'text')
        .addColumn('subject', 'text')
        .addColumn('pdf_sha256', 'text')
        .addColumn('pages', 'integer')
        .addColumn('pdf_path', 'text')
        .addColumn('message_id', 'text')
        .addColumn('smtp_response', 'text')
        /** BullMQ job holding the claim while in 'sending' (tells a crash from a concurrent duplicate job). */
        .addColumn('claim_job', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('possible_duplicate', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('rendered_at', 'text')
        .addColumn('sent_at', 'text')
        .execute();
      await db.schema
        .createIndex('dispatches_campaign_recipient_kind')
        .on('dispatches')
        .columns(['campaign_id', 'recipient_id', 'kind'])
        .unique()
        .execute();
      await db.schema.createIndex('dispatches_campaign_state').on('dispatches').columns(['campaign_id', 'state']).execute();

      /** Staff test sends: kept apart so they are never counted as dispatches. */
      await db.schema
        .createTable('test_sends')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
        .addColumn('recipient_id', 'text', (c) => c.notNull())
        .addColumn('to_address', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('pdf_sha256', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('smtp_response', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'text', (c) => c.notNull())
        .execute();

      /** Append-only, hash-chained audit trail (see events.ts). */
      await db.schema
        .createTable('events')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('campaign_id', 'text')
        .addColumn('dispatch_id', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .execute();
      await db.schema.createIndex('events_campaign').on('events').columns(['campaign_id', 'id']).execute();
      await db.schema.createIndex('events_dispatch').on('events').columns(['dispatch_id', 'id']).execute();
    },
  },
};

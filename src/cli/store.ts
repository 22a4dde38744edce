import type { Command } from 'commander';
import { describeBreak, verifyChain } from '../audit/verify.ts';
import { isDatabaseUrl, loadConfig, type Config } from '../config.ts';
import { InputError, UsageError } from '../errors.ts';
import { ensureRegistryLoaded } from '../registry/index.ts';
import { copyStore } from '../store/copy.ts';
import { appliedMigrations, CODE_SCHEMA_VERSION, openDb, openStore, storeLocation, type Db } from '../store/db.ts';
import { describePostgres } from '../store/postgres.ts';
import { action } from './run.ts';

/**
 * Opens the store for one command and closes it after, whatever happens. With `registry`, the
 * shipped registry is loaded first when the store has none (commands that need recipients).
 */
export async function withDb<T>(fn: (db: Db, cfg: Config) => Promise<T>, opts: { registry?: boolean } = {}): Promise<T> {
  const cfg = loadConfig();
  const db = await openStore(cfg);
  try {
    if (opts.registry) await ensureRegistryLoaded(db, cfg.CHANCERY_REGISTRY);
    return await fn(db, cfg);
  } finally {
    await db.destroy();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Where a store is, for messages: the SQLite file, or user@host:port/database (never the password). */
function describeStore(location: string): string {
  return isDatabaseUrl(location) ? `PostgreSQL ${describePostgres(location).where}` : `SQLite ${location}`;
}

/** `chancery store migrate | copy`: the store's schema, and moving a store into PostgreSQL. */
export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description('the store (SQLite file, or PostgreSQL with DATABASE_URL): schema and copy');

  store
    .command('migrate')
    .description('bring the configured store to the latest schema and print its version (every command also does this on first use)')
    .action(
      action(async () => {
        await withDb(async (db, cfg) => {
          const applied = await appliedMigrations(db);
          out(`${describeStore(storeLocation(cfg))}: schema ${applied.at(-1)} (${applied.length} migrations; this version's latest: ${CODE_SCHEMA_VERSION})`);
        });
      }),
    );

  store
    .command('copy')
    .description('copy every row of the configured store into an empty PostgreSQL database, in one transaction; check the counts and the audit chain there')
    .requiredOption('--to <url>', 'postgres://user:password@host:port/database (empty; the schema is created)')
    .action(
      action(async (opts: { to: string }) => {
        if (!isDatabaseUrl(opts.to)) throw new UsageError('store copy: --to must be a postgres://user:password@host:port/database URL');
        const cfg = loadConfig();
        if (storeLocation(cfg) === opts.to) throw new UsageError('store copy: --to is the configured store itself');
        const where = describeStore(opts.to);
        await withDb(async (source) => {
          const target = await openDb(opts.to);
          try {
            let events = 0;
            const counts = await copyStore(source, target, where, async (copied) => {
              const chain = await verifyChain(copied);
              if (!chain.ok) throw new InputError(`store copy: the audit chain does not verify on the copy, nothing was written: ${describeBreak(chain.firstBad)}`);
              events = chain.count;
            });
            for (const c of counts) out(`${c.table.padEnd(16)} ${c.rows}`);
            out(`copied ${describeStore(storeLocation(cfg))} into ${where}: counts equal in every table; audit chain whole (${events} events)`);
          } finally {
            await target.destroy();
          }
        });
      }),
    );
}

import { loadConfig, type Config } from '../config.ts';
import { ensureRegistryLoaded } from '../registry/index.ts';
import { openStore, type Db } from '../store/db.ts';

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

import { randomBytes } from 'node:crypto';
import { openWebRuntime, type WebRuntime } from '../../src/web/context.ts';
import { buildServer, type WebApp } from '../../src/web/server.ts';
import { addUser } from '../../src/web/users.ts';
import type { UserRole } from '../../src/store/schema.ts';
import { dispatchEnv, type DispatchEnv } from '../dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './redis.ts';

/** The web console as the web tests use it: a real Redis, a temp store, no workers, and these users. */
export type WebConsole = { redis: TestRedis; t: DispatchEnv; rt: WebRuntime; app: WebApp; stop(): Promise<void> };

export async function startWebConsole(users: { name: string; role: UserRole; password: string }[], opts: { templates?: string } = {}): Promise<WebConsole> {
  const redis = await startRedisServer();
  const t = await dispatchEnv(redis.url, { templates: opts.templates });
  const rt = await openWebRuntime(t.cfg, { workers: false });
  for (const u of users) await addUser(rt.db, { ...u, by: 'test' });
  const app = await buildServer({ runtime: rt, secret: randomBytes(32), loginRateLimit: { max: 100, timeWindowMs: 60_000 } });
  await app.ready();
  return {
    redis,
    t,
    rt,
    app,
    async stop() {
      await app.close();
      await rt.close();
      await t.cleanup();
      await redis.stop();
    },
  };
}

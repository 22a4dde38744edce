import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDb } from '../src/store/db.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

describe('chancery demo', () => {
  it('tells the whole CU 2009/92 (A) story on the embedded defaults, and runs twice', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-demo-'));
    // The embedded defaults: no REDIS_URL, no SMTP_URL.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.REDIS_URL;
    delete env.SMTP_URL;
    try {
      for (let i = 0; i < 2; i++) {
        const { stdout } = await run('node', ['bin/chancery.js', 'demo', '--home', home], { cwd: ROOT, env, maxBuffer: 1 << 24 });
        expect(stdout).toContain('preflight: 193 of 193 letters merged and rendered, no gaps');
        expect(stdout).toMatch(/; 193 sent, 0 failed to 193 recipients/);
        // 8 replies by hand before the first reminder; 185 others reminded on 17 July.
        expect(stdout).toContain('17 July 2009: reminders sent to 185 governments with no reply on record');
        expect(stdout).toContain('01-fra-in-reply-to.eml: matched FRA by in-reply-to');
        expect(stdout).toContain('06-aut-reference-and-domain.eml: matched AUT by reference+domain');
        expect(stdout).toContain('28 July 2009: reminders sent to 181 governments with no reply on record');
        expect(stdout).toContain('14 replied, 185 reminded, 179 overdue after 31 July 2009');
        expect(stdout).toMatch(/audit chain whole: \d+ events/);
      }
      // What the summary says is what the store and the outbox hold.
      const outbox = fs.readdirSync(path.join(home, 'outbox')).filter((f) => f.endsWith('.eml'));
      expect(outbox).toHaveLength(193 + 185 + 181);
      const db = await openDb(path.join(home, 'chancery.db'));
      try {
        const sent = await db.selectFrom('dispatches').select(({ fn }) => fn.countAll<number>().as('n')).where('state', '=', 'sent').executeTakeFirstOrThrow();
        expect(Number(sent.n)).toBe(193 + 185 + 181);
        const replies = await db.selectFrom('replies').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        expect(Number(replies.n)).toBe(14);
      } finally {
        await db.destroy();
      }
      // The demo stops the Redis it started.
      expect(fs.existsSync(path.join(home, 'redis', 'redis.port'))).toBe(false);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/queue/redis.ts';
import { cli } from './dispatch.fixture.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';

/** `chancery status`: one line per part, probed now; exit 3 naming what does not answer. */

let redis: TestRedis;
let smtp: TestSmtpServer;
let home: string;
beforeAll(async () => {
  redis = await startRedisServer();
  smtp = await startSmtpServer();
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-status-'));
});
afterAll(async () => {
  await smtp?.stop();
  await redis?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({ ...process.env, CHANCERY_HOME: home, ...extra });

describe('chancery status', () => {
  it('says ok for each part that answers, exit 0', async () => {
    const r = await cli(env({ REDIS_URL: redis.url, SMTP_URL: smtp.url }), ['status']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['store ok', 'redis ok', 'smtp ok']);
  });

  it('names the part that does not answer, exit 3, and never prints a password', async () => {
    const dead = await freePort();
    const r = await cli(env({ REDIS_URL: redis.url, SMTP_URL: `smtp://mailer:s3cret-pw@127.0.0.1:${dead}` }), ['status']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^redis\s+ok/m);
    expect(r.stdout).toMatch(new RegExp(`^smtp\\s+unreachable: .*ECONNREFUSED.*smtp://mailer:\\*\\*\\*@127\\.0\\.0\\.1:${dead}`, 'm'));
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
  });
});

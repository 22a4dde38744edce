import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { UsageError } from '../src/errors.ts';

describe('configuration', () => {
  it('defaults to the embedded parts under var/', () => {
    const cfg = loadConfig({});
    expect(cfg.REDIS_URL).toBeUndefined();
    expect(cfg.SMTP_URL).toBeUndefined();
    expect(cfg.paths.db).toMatch(/var\/chancery\.db$/);
    expect(cfg.paths.outbox).toMatch(/var\/outbox$/);
    expect(cfg.DUTY_STATION_TZ).toBe('Europe/Vienna');
  });

  it('refuses a malformed value with the variable named', () => {
    expect(() => loadConfig({ REDIS_URL: 'not a url' })).toThrow(UsageError);
    expect(() => loadConfig({ SEND_CONCURRENCY: '0' })).toThrow(/SEND_CONCURRENCY/);
  });
});

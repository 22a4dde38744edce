import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

it('a reader that closes the pipe early (| head) gets no stack trace', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pipe-'));
  try {
    const { stdout, stderr } = await run('bash', ['-c', 'node bin/chancery.js registry export --format csv | head -1'], {
      cwd: ROOT,
      env: { ...process.env, CHANCERY_HOME: home },
    });
    expect(stdout.startsWith('id,kind,groups,language')).toBe(true);
    expect(stderr).toBe('');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

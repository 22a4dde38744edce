import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chancery, hostileHome, recordHostile, ROOT } from './hostile.fixture.ts';

/** Wrong dates, impossible deadlines, unknown ids: exit 1 or 2, one line, no stack trace. */

const h = hostileHome();
let tried = 0;
let rejected = 0;
let campaignId = '';

const create = (over: Record<string, string> = {}) => {
  const o = { '--template': 'cu-2009-92', '--reference': 'CU 2009/92 (A)', '--audience': 'FRA,DEU', '--reply-by': '2009-07-31', '--by': 'alice', ...over };
  return ['campaign', 'create', ...Object.entries(o).flat()];
};

async function refused(args: string[], message: RegExp, codes: number[] = [1]): Promise<void> {
  tried++;
  const r = await chancery(h.env, args);
  expect(codes, `${args.join(' ')} -> ${r.code}: ${r.stderr}`).toContain(r.code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+|internal error/);
  rejected++;
}

beforeAll(async () => {
  const r = await chancery(h.env, create());
  expect(r.code, r.stderr).toBe(0);
  campaignId = r.stdout.trim().split('\n').at(-1)!;
});
afterAll(() => {
  recordHostile('commandLine', tried, rejected);
  h.cleanup();
});

describe('hostile command lines', () => {
  it('dates that do not exist', async () => {
    await refused(create({ '--reply-by': '2009-02-30' }), /^chancery: --reply-by: "2009-02-30" is not a valid date/);
    await refused(create({ '--letter-date': '2009-13-01' }), /^chancery: --letter-date: "2009-13-01" is not a valid date/);
    await refused(create({ '--reply-by': '31/07/2009' }), /^chancery: --reply-by: "31\/07\/2009" is not a valid date/);
    await refused(['campaign', 'set-reply-by', campaignId, '2010-02-29'], /reply-by: "2010-02-29" is not a valid date/);
    await refused(['preview', '--template', 'cu-2009-92', '--recipient', 'FRA', '--reply-by', '2009-02-30', '--out', path.join(h.home, 'p.pdf')], /2009-02-30/);
  });

  it('a reply-by date before the letter date', async () => {
    await refused(create({ '--reply-by': '2009-07-01' }), /^chancery: --reply-by: 2009-07-01 is before the letter date 2009-07-08$/);
    await refused(create({ '--letter-date': '2009-08-01' }), /--reply-by: 2009-07-31 is before the letter date 2009-08-01/);
    await refused(['campaign', 'set-reply-by', campaignId, '2009-01-01'], /reply-by: 2009-01-01 is before the letter date 2009-07-08/);
  });

  it('an audience naming unknown ids', async () => {
    await refused(create({ '--audience': 'FRA,XYZ,org:NOPE' }), /^chancery: audience: unknown recipient ids: XYZ, org:NOPE$/);
    await refused(create({ '--audience': 'group:nobody' }), /no recipient is in group "nobody"/);
    await refused(create({ '--audience': ' ' }), /audience/);
  });

  it('an unknown campaign id, for every command that takes one', async () => {
    for (const args of [
      ['campaign', 'status', 'cnope'],
      ['campaign', 'preflight', 'cnope'],
      ['campaign', 'approve', 'cnope', '--by', 'bob'],
      ['campaign', 'pause', 'cnope'],
      ['campaign', 'cancel', 'cnope'],
      ['campaign', 'set-reply-by', 'cnope', '2009-07-31'],
    ]) {
      await refused(args, /^chancery: unknown campaign "cnope"$/);
    }
  });

  it('end to end with the real binary: exit status and one line on stderr', async () => {
    tried++;
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), ...create({ '--reply-by': '2009-02-30' })], { env: { ...process.env, ...h.env }, cwd: ROOT }, (err, _out, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
      });
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('chancery: --reply-by: "2009-02-30" is not a valid date (expected yyyy-mm-dd, e.g. 2009-07-31)\n');
    rejected++;
  });
});

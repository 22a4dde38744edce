import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Four eyes on the command line (issue 21, point 11), through the real binary: once accounts
 * exist, `campaign create --by`, `campaign approve --by` and `user add --by` prove who they name
 * (CHANCERY_PASSWORD, or the password typed on a terminal) and that account's role; a refusal
 * changes nothing. Without any account (the demo) --by stays free text. The audit says how.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'chancery.js');
const PASSWORDS = { ada: 'ada-password-1', dora: 'dora-password-1', alan: 'alan-password-1' };

/** Each run starts tsx and Chancery (seconds on a busy machine); a bound, not a timed assertion. */
const SLOW = 15 * 60_000;

type Run = { code: number | null; stdout: string; stderr: string };

let tmp: string;

function envFor(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CHANCERY_HOME: home,
    CHANCERY_TEMPLATES: path.join(ROOT, 'templates'),
    CHANCERY_REGISTRY: path.join(ROOT, 'seeds', 'registry.json'),
    ...extra,
  };
  if (!('CHANCERY_PASSWORD' in extra)) delete env.CHANCERY_PASSWORD;
  return env;
}

/** The binary with standard input a pipe (no terminal), as a script runs it. */
function chancery(home: string, args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: envFor(home, extra) }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0, stdout, stderr });
    });
    child.stdin!.end();
  });
}

/**
 * The binary on a terminal (a pseudo-terminal made by util-linux `script`): answers each prompt
 * once it appears, as a person would, and returns everything the terminal showed.
 */
function onTerminal(home: string, args: string[], answers: [prompt: string, answer: string][]): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: ROOT, env: envFor(home), stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let next = 0;
  const onData = (d: Buffer) => {
    screen += d.toString();
    while (next < answers.length && screen.split(answers[next]![0]).length - 1 > countAnswered(next)) {
      child.stdin!.write(`${answers[next]![1]}\r`);
      next++;
    }
  };
  // How many of the prompts equal to answers[i]'s were already answered before i.
  const countAnswered = (i: number) => answers.slice(0, i).filter(([p]) => p === answers[i]![0]).length;
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, screen })));
}

function store<T>(home: string, fn: (db: SQLite.Database) => T): T {
  const db = new SQLite(path.join(home, 'chancery.db'), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const count = (home: string, table: string) => store(home, (db) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
const events = (home: string, type: string) =>
  store(home, (db) => (db.prepare('SELECT actor, data FROM events WHERE type = ? ORDER BY id').all(type) as { actor: string; data: string }[]).map((e) => ({ actor: e.actor, data: JSON.parse(e.data) as Record<string, unknown> })));

const createArgs = (reference: string, by?: string) => ['campaign', 'create', '--template', 'cu-2009-92', '--reference', reference, '--audience', 'FRA,DEU', '--reply-by', '2009-07-31', ...(by ? ['--by', by] : [])];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-four-eyes-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('four eyes on the command line', () => {
  it('without any account (the demo) --by is free text, as before; the audit says auth none', async () => {
    const home = path.join(tmp, 'demo');
    const created = await chancery(home, createArgs('CU 2009/92 (A)', 'alice'));
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trimEnd().split('\n').at(-1)!;
    // The approver must still be someone else.
    const self = await chancery(home, ['campaign', 'approve', id, '--by', 'Alice']);
    expect(self).toMatchObject({ code: 1, stderr: `chancery: campaign ${id}: the approver must be someone other than its creator (alice)\n` });
    const approved = await chancery(home, ['campaign', 'approve', id, '--by', 'bob']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(events(home, 'campaign.created')).toMatchObject([{ actor: 'alice', data: { auth: 'none' } }]);
    expect(events(home, 'campaign.approved')).toMatchObject([{ actor: 'bob', data: { auth: 'none' } }]);
    expect(count(home, 'users')).toBe(0);
  }, SLOW);

  it('accounts: the first is an admin made without a password; after it, --by is proven, role checked, and a refusal changes nothing', async () => {
    const home = path.join(tmp, 'office');
    const asAda = { CHANCERY_PASSWORD: PASSWORDS.ada };

    // The first account: no one to authenticate yet, and it must be able to add the others.
    const drafterFirst = await chancery(home, ['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora, '--by', 'setup']);
    expect(drafterFirst).toMatchObject({ code: 1, stderr: 'chancery: --role drafter: the first account must be an admin (it adds the others: chancery user add NAME --role admin)\n' });
    expect(count(home, 'users')).toBe(0);
    const first = await chancery(home, ['user', 'add', 'ada', '--role', 'admin', '--password', PASSWORDS.ada, '--by', 'setup']);
    expect(first.code, first.stderr).toBe(0);
    expect(events(home, 'user.added')).toMatchObject([{ actor: 'setup', data: { name: 'ada', role: 'admin', auth: 'none' } }]);

    // From now on user add needs an administrator, proven.
    const refusals: [args: string[], extra: Record<string, string>, code: number, stderr: string][] = [
      [['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora], asAda, 2, 'chancery: --by: user accounts exist, so say who you are: --by NAME (the password is asked, or read from CHANCERY_PASSWORD)\n'],
      [['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora, '--by', 'ada'], {}, 2, 'chancery: --by ada: no password: type it on a terminal or set CHANCERY_PASSWORD\n'],
      [['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora, '--by', 'ada'], { CHANCERY_PASSWORD: 'not-adas-password' }, 1, 'chancery: --by ada: unknown user or wrong password\n'],
      [['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora, '--by', 'nobody'], asAda, 1, 'chancery: --by nobody: unknown user or wrong password\n'],
    ];
    for (const [args, extra, code, stderr] of refusals) {
      const r = await chancery(home, args, extra);
      expect(r, args.join(' ')).toMatchObject({ code, stdout: '', stderr });
    }
    expect(count(home, 'users')).toBe(1);
    expect(events(home, 'user.added')).toHaveLength(1);

    for (const [name, role] of [['dora', 'drafter'], ['alan', 'approver']] as const) {
      const r = await chancery(home, ['user', 'add', name, '--role', role, '--password', PASSWORDS[name], '--by', 'ada'], asAda);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(events(home, 'user.added').slice(1)).toMatchObject([
      { actor: 'ada', data: { name: 'dora', auth: 'env' } },
      { actor: 'ada', data: { name: 'alan', auth: 'env' } },
    ]);
    // A drafter may not add users.
    const byDora = await chancery(home, ['user', 'add', 'eve', '--role', 'admin', '--password', 'eve-password-1', '--by', 'dora'], { CHANCERY_PASSWORD: PASSWORDS.dora });
    expect(byDora).toMatchObject({ code: 1, stderr: 'chancery: --by dora: the role drafter may not add users\n' });
    expect(count(home, 'users')).toBe(3);

    // campaign create: refused without --by, with a wrong password, or by a role that does not draft;
    // nothing is written, not even the shipped registry into this empty store.
    const createRefusals: [by: string | undefined, password: string, code: number, stderr: string][] = [
      [undefined, PASSWORDS.dora, 2, 'chancery: --by: user accounts exist, so say who you are: --by NAME (the password is asked, or read from CHANCERY_PASSWORD)\n'],
      ['dora', PASSWORDS.alan, 1, 'chancery: --by dora: unknown user or wrong password\n'],
      ['ada', PASSWORDS.ada, 1, 'chancery: --by ada: the role admin may not create campaigns\n'],
      ['alan', PASSWORDS.alan, 1, 'chancery: --by alan: the role approver may not create campaigns\n'],
    ];
    for (const [by, password, code, stderr] of createRefusals) {
      const r = await chancery(home, createArgs('CU 2009/92 (A)', by), { CHANCERY_PASSWORD: password });
      expect(r, `--by ${by}`).toMatchObject({ code, stdout: '', stderr });
      expect(r.stderr).not.toContain(password);
    }
    expect(count(home, 'campaigns')).toBe(0);
    expect(count(home, 'recipients')).toBe(0);

    // The drafter, as typed in any case: stored under the account's name.
    const created = await chancery(home, createArgs('CU 2009/92 (A)', 'DORA'), { CHANCERY_PASSWORD: PASSWORDS.dora });
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trimEnd().split('\n').at(-1)!;
    expect(store(home, (db) => db.prepare('SELECT created_by, state FROM campaigns WHERE id = ?').get(id))).toEqual({ created_by: 'dora', state: 'draft' });
    expect(events(home, 'campaign.created')).toMatchObject([{ actor: 'dora', data: { auth: 'env' } }]);

    // campaign approve: the drafter's role does not clear; a wrong password changes nothing.
    for (const [by, password, stderr] of [
      ['dora', PASSWORDS.dora, 'chancery: --by dora: the role drafter may not approve campaigns\n'],
      ['alan', PASSWORDS.dora, 'chancery: --by alan: unknown user or wrong password\n'],
    ] as const) {
      const r = await chancery(home, ['campaign', 'approve', id, '--by', by], { CHANCERY_PASSWORD: password });
      expect(r, `--by ${by}`).toMatchObject({ code: 1, stderr });
    }
    expect(store(home, (db) => db.prepare('SELECT state, approved_by FROM campaigns WHERE id = ?').get(id))).toEqual({ state: 'draft', approved_by: null });
    expect(events(home, 'campaign.approved')).toHaveLength(0);

    const approved = await chancery(home, ['campaign', 'approve', id, '--by', 'alan'], { CHANCERY_PASSWORD: PASSWORDS.alan });
    expect(approved.code, approved.stderr).toBe(0);
    expect(store(home, (db) => db.prepare('SELECT state, approved_by FROM campaigns WHERE id = ?').get(id))).toEqual({ state: 'approved', approved_by: 'alan' });
    expect(events(home, 'campaign.approved')).toMatchObject([{ actor: 'alan', data: { auth: 'env', created_by: 'dora' } }]);
  }, SLOW);

  it('on a terminal the password is asked and not echoed; the audit says auth password', async () => {
    const home = path.join(tmp, 'terminal');
    expect((await chancery(home, ['user', 'add', 'ada', '--role', 'admin', '--password', PASSWORDS.ada, '--by', 'setup'])).code).toBe(0);
    expect((await chancery(home, ['user', 'add', 'dora', '--role', 'drafter', '--password', PASSWORDS.dora, '--by', 'ada'], { CHANCERY_PASSWORD: PASSWORDS.ada })).code).toBe(0);

    // user add on a terminal: the administrator's password, then the new account's, twice.
    const added = await onTerminal(home, ['user', 'add', 'alan', '--role', 'approver', '--by', 'ada'], [
      ['Password of ada: ', PASSWORDS.ada],
      ['Password: ', PASSWORDS.alan],
      ['Again: ', PASSWORDS.alan],
    ]);
    expect(added.code, added.screen).toBe(0);
    expect(added.screen).toContain('user alan added as approver');
    expect(added.screen).not.toContain(PASSWORDS.ada);
    expect(added.screen).not.toContain(PASSWORDS.alan);
    expect(events(home, 'user.added').at(-1)).toMatchObject({ actor: 'ada', data: { name: 'alan', auth: 'password' } });

    const created = await onTerminal(home, createArgs('CU 2009/92 (A)', 'dora'), [['Password of dora: ', PASSWORDS.dora]]);
    expect(created.code, created.screen).toBe(0);
    expect(created.screen).not.toContain(PASSWORDS.dora);
    const id = /^(c[0-9a-z]{10})\s*$/m.exec(created.screen)![1]!;

    // A wrong password typed: exit 1, nothing approved.
    const wrong = await onTerminal(home, ['campaign', 'approve', id, '--by', 'alan'], [['Password of alan: ', 'not-alans-password']]);
    expect(wrong.code).toBe(1);
    expect(wrong.screen).toContain('chancery: --by alan: unknown user or wrong password');
    expect(wrong.screen).not.toContain('not-alans-password');
    expect(events(home, 'campaign.approved')).toHaveLength(0);

    const approved = await onTerminal(home, ['campaign', 'approve', id, '--by', 'alan'], [['Password of alan: ', PASSWORDS.alan]]);
    expect(approved.code, approved.screen).toBe(0);
    expect(events(home, 'campaign.created')).toMatchObject([{ actor: 'dora', data: { auth: 'password' } }]);
    expect(events(home, 'campaign.approved')).toMatchObject([{ actor: 'alan', data: { auth: 'password' } }]);
  }, SLOW);
});

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/queue/redis.ts';
import { openStore } from '../src/store/db.ts';
import { cli, dispatchEnv, until, type DispatchEnv } from './dispatch.fixture.ts';
import { pdfText } from './helpers/pdf.ts';
import { startRedisServer, type TestRedis } from './helpers/redis.ts';

/**
 * The web console end to end, as a person uses it: `chancery serve` in its own process (real
 * Redis, real SMTP, in-process workers), Debian's Chromium driven by playwright-core (no browser
 * download). Screenshots go to test-artifacts/.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-artifacts');

let redis: TestRedis;
let t: DispatchEnv;
let server: ChildProcess | undefined;
let serverOut = '';
let base = '';
let browser: BrowserContext | undefined;
let profile = '';

beforeAll(async () => {
  // Fail, never skip: without the browser this test proves nothing.
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the web end-to-end test`);
  redis = await startRedisServer();
  t = await dispatchEnv(redis.url);
  // The first account is an administrator's (no one to authenticate yet); that administrator
  // makes the others, proven by CHANCERY_PASSWORD: one with --password, one piped on stdin.
  const ada = await cli(t.env, ['user', 'add', 'ada', '--role', 'admin', '--password', 'ada-password-1', '--by', 'setup']);
  expect(ada.code, ada.stderr).toBe(0);
  const asAda = { ...t.env, CHANCERY_PASSWORD: 'ada-password-1' };
  const dora = cli(asAda, ['user', 'add', 'dora', '--role', 'drafter', '--password', 'dora-password-1', '--by', 'ada']);
  const alan = userAddPiped(asAda, 'alan', 'approver', 'alan-password-1');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), 'serve', '--port', String(port), '--host', '127.0.0.1'], { env: t.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverOut += d.toString()));
  await until(() => /chancery console ready/.test(serverOut) || server!.exitCode !== null, 30_000, () => `chancery serve to start: ${serverOut}`);
  if (server.exitCode !== null) throw new Error(`chancery serve exited: ${serverOut}`);
  const added = await dora;
  expect(added.code, added.stderr).toBe(0);
  expect(await alan).toBe(0);

  fs.mkdirSync(SHOTS, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) server.kill('SIGKILL');
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await t?.cleanup();
  await redis?.stop();
});

function userAddPiped(env: NodeJS.ProcessEnv, name: string, role: string, password: string): Promise<number | null> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'chancery.js'), 'user', 'add', name, '--role', role, '--by', 'ada'], { env, cwd: ROOT, stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin!.end(`${password}\n`);
  return new Promise((resolve) => child.on('exit', resolve));
}

/** Page 1 of a PDF as PNG (pdftoppm): headless Chromium has no PDF viewer to screenshot. */
function pdfPage1Png(pdf: Buffer, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', '-singlefile', '-', out.replace(/\.png$/, '')], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pdftoppm exited with ${code}`))));
    child.stdin!.end(pdf);
  });
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', `${name}-password-1`);
  await Promise.all([page.waitForURL(/\/campaigns$/), page.click('button[type=submit]')]);
  expect(await page.textContent('#whoami')).toContain(name);
}

async function signOut(page: Page): Promise<void> {
  await Promise.all([page.waitForURL(/\/login$/), page.click('form.who button')]);
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `web-${name}.png`), fullPage: false });

describe('web console in Chromium', () => {
  it('drafts, previews, is refused to its drafter, is approved and sent to 193, records a reply, exports the audit', async () => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(20_000);

    // 1. The drafter signs in and creates the CU 2009/92 (A) campaign.
    await page.goto(`${base}/campaigns`);
    expect(page.url()).toMatch(/\/login\?next=/);
    await shot(page, '01-login');
    await signIn(page, 'dora');
    await page.selectOption('select[name=template]', 'cu-2009-92');
    await page.fill('input[name=reference]', 'CU 2009/92 (A)');
    await page.fill('input[name=audience]', 'group:member-states');
    await page.fill('input[name=replyBy]', '2009-07-31');
    await page.fill('input[name=remind]', '14,3');
    await Promise.all([page.waitForURL(/\/campaigns\/c[0-9a-z]+$/), page.click('#create-campaign button[type=submit]')]);
    const id = /\/campaigns\/(c[0-9a-z]+)$/.exec(page.url())![1]!;
    expect(await page.textContent('#flash')).toContain('Campaign CU 2009/92 (A) created');
    expect(await page.locator('#recipients tbody tr').count()).toBe(193);
    await shot(page, '02-campaign-draft');

    // 2. France's letter, previewed before anything is sent.
    await Promise.all([page.waitForURL(/\/recipients\/FRA$/), page.click('#recipients tr[data-rid=FRA] a')]);
    expect(await page.textContent('#letter-kind')).toContain('Preview');
    const pdfUrl = await page.getAttribute('#pdf', 'src');
    const preview = await page.request.get(`${base}${pdfUrl}`);
    expect(preview.status()).toBe(200);
    expect(preview.headers()['content-type']).toBe('application/pdf');
    expect(preview.headers()['x-chancery-letter']).toBe('preview');
    const previewPdf = Buffer.from(await preview.body());
    const previewText = (await pdfText(previewPdf)).replace(/\s+/g, ' ');
    await pdfPage1Png(previewPdf, path.join(SHOTS, 'web-03-france-preview-pdf.png'));
    expect(previewText).toContain('Référence: CU 2009/92 (A)');
    expect(previewText).toContain('Représentant permanent de la France');
    await shot(page, '03-france-preview');

    // 3. The drafter has no Approve button, and forcing the request is refused.
    await page.goto(`${base}/campaigns/${id}`);
    expect(await page.locator('#do-approve').count()).toBe(0);
    await Promise.all([
      page.waitForURL(new RegExp(`/campaigns/${id}/approve$`)),
      page.evaluate((cid) => {
        const token = (document.querySelector('input[name=_csrf]') as HTMLInputElement).value;
        const f = document.createElement('form');
        f.method = 'post';
        f.action = `/campaigns/${cid}/approve`;
        f.innerHTML = `<input type="hidden" name="_csrf" value="${token}">`;
        document.body.appendChild(f);
        f.submit();
      }, id),
    ]);
    expect(await page.textContent('h1')).toContain('Not allowed');
    expect(await page.textContent('#error-message')).toContain('your role (drafter) may not approve campaigns');
    await shot(page, '04-drafter-refused');
    await signOut(page);

    // 4. The approver approves and sends; the page follows the progress to 193.
    await signIn(page, 'alan');
    await page.goto(`${base}/campaigns/${id}`);
    await Promise.all([page.waitForURL(new RegExp(`/campaigns/${id}$`)), page.click('#do-approve')]);
    expect(await page.textContent('#flash')).toContain('Approved by alan');
    expect(await page.textContent('#approved-by')).toContain('alan');
    await Promise.all([page.waitForURL(new RegExp(`/campaigns/${id}$`)), page.click('#do-send')]);
    expect(await page.textContent('#flash')).toContain('193 dispatch(es) created');
    await shot(page, '05-sending');
    await page.waitForFunction(() => document.querySelector('#sent-count')?.textContent === '193' && document.querySelector('#campaign-state')?.textContent === 'done', undefined, { timeout: 45_000 });
    // Once done, the page reloads itself (app.js, 500 ms later) without its live progress: wait
    // for that reload, or signing out races it and the reload lands on /login?next=...
    await page.waitForSelector('#progress[data-live="1"]', { state: 'detached', timeout: 15_000 });
    await page.waitForLoadState('load');
    expect(await page.textContent('#total-count')).toBe('193');
    await shot(page, '06-sent');
    expect(t.smtp.messages).toHaveLength(193);
    await signOut(page);

    // 5. The drafter records France's reply, with a file; France is marked replied.
    await signIn(page, 'dora');
    await page.goto(`${base}/campaigns/${id}/recipients/FRA`);
    expect(await page.textContent('#letter-kind')).toContain('stored PDF');
    const stored = await page.request.get(`${base}${await page.getAttribute('#pdf', 'src')}`);
    expect(stored.headers()['x-chancery-letter']).toBe('stored');
    // The PDF shown is the very one the French mission received.
    const sentPdf = t.smtp.messages.find((m) => m.headers['x-chancery-dispatch'] === `note-${id}-FRA`)?.attachments[0]?.content;
    expect(sentPdf).toBeDefined();
    expect(Buffer.from(await stored.body()).equals(sentPdf!)).toBe(true);
    await page.fill('input[name=receivedOn]', '2009-07-20');
    await page.selectOption('select[name=channel]', 'note-verbale');
    await page.fill('input[name=theirReference]', 'NV/2009/FR-123');
    await page.setInputFiles('input[name=file]', { name: 'reponse-france.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 reply of France\n') });
    await Promise.all([page.waitForURL(/\/recipients\/FRA$/), page.click('#do-record-reply')]);
    expect(await page.textContent('#flash')).toContain('Reply recorded: received 2009-07-20 by note-verbale, 1 file(s) kept');
    expect(await page.textContent('#reply-state')).toContain('replied 2009-07-20 by note-verbale');
    await shot(page, '07-reply-recorded');
    await page.goto(`${base}/campaigns/${id}?show=not-replied`);
    expect(await page.locator('#recipients tr[data-rid=FRA]').count()).toBe(0);
    await page.goto(`${base}/campaigns/${id}`);
    expect(await page.textContent('#recipients tr[data-rid=FRA] td.replied')).toContain('replied 2009-07-20 (note-verbale), NV/2009/FR-123');
    expect(await page.textContent('#replied-count')).toBe('1');
    await shot(page, '08-campaign-replied');

    // 6. The audit export, as downloaded: who drafted, approved, sent and logged the reply.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-audit')]);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('id,at,type,campaign_id,dispatch_id,actor,data,prev_hash,hash');
    const has = (type: string, actor: string) => lines.some((l) => l.includes(`,${type},${id},`) && l.includes(`,${actor},`));
    expect(has('campaign.created', 'dora')).toBe(true);
    expect(has('campaign.approved', 'alan')).toBe(true);
    expect(has('campaign.send-started', 'alan')).toBe(true);
    expect(lines.filter((l) => l.includes(',dispatch.sent,')).length).toBe(193);
    expect(lines.some((l) => /,reply\.[a-z-]+,/.test(l) && l.includes(',dora,'))).toBe(true);
    await page.close();

    // 7. SIGTERM: the server finishes and exits cleanly.
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    server!.kill('SIGTERM');
    expect(await exited).toBe(0);
    const db = await openStore(t.cfg);
    try {
      const c = await db.selectFrom('campaigns').select(['state', 'created_by', 'approved_by']).where('id', '=', id).executeTakeFirstOrThrow();
      expect(c).toEqual({ state: 'done', created_by: 'dora', approved_by: 'alan' });
    } finally {
      await db.destroy();
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PDFDocument from 'pdfkit';
import PostalMime from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { InputError } from '../src/errors.ts';
import {
  attachmentFileName,
  classifySmtpError,
  composeMessage,
  createMailer,
  createSmtpMailer,
  messageIdFileName,
  messageIdFor,
  type OutgoingMessage,
} from '../src/mail/index.ts';
import { freePort } from '../src/queue/redis.ts';
import { pdfText } from './helpers/pdf.ts';
import { startSmtpServer, type TestSmtpServer } from './helpers/smtp.ts';

let pdf: Buffer;
const homes: string[] = [];

function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-mail-'));
  homes.push(dir);
  return dir;
}

/** A real one-page PDF (pdfkit), as the render stage would attach it. */
function makePdf(text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', info: { CreationDate: new Date(Date.UTC(2009, 6, 8)) } });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.text(text);
    doc.end();
  });
}

function note(over: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    from: 'Secretariat of the Conference of the Parties <untoc.cop@unodc.org>',
    replyTo: 'untoc.cop@unodc.org',
    to: ['mission.fra@example.org'],
    cc: ['capital.fra@example.org'],
    subject: 'CU 2009/92 (A) — Traite des personnes',
    text: 'Veuillez trouver ci-joint la note verbale CU 2009/92 (A) du 8 juillet 2009.\n',
    attachments: [{ filename: attachmentFileName('CU 2009/92 (A)', 'FRA'), content: pdf, contentType: 'application/pdf' }],
    messageId: messageIdFor('cu-2009-92-a_FRA_note', 'chancery.unodc.org'),
    headers: { 'X-Chancery-Dispatch': 'cu-2009-92-a_FRA_note' },
    reference: 'CU 2009/92 (A)',
    ...over,
  };
}

beforeAll(async () => {
  pdf = await makePdf('Note verbale to the Permanent Mission of France');
});

afterAll(() => homes.forEach((h) => fs.rmSync(h, { recursive: true, force: true })));

describe('SMTP mailer', () => {
  let server: TestSmtpServer;
  afterAll(async () => server?.stop());

  it('delivers the message with its Message-ID, reference, To/Cc and the PDF byte for byte', async () => {
    server = await startSmtpServer();
    const mailer = createMailer(loadConfig({ CHANCERY_HOME: tempHome(), SMTP_URL: server.url }));
    expect(mailer.kind).toBe('smtp');
    const m = note();
    const result = await mailer.send(m);
    await mailer.close();

    expect(result.messageId).toBe('<chancery.cu-2009-92-a_FRA_note@chancery.unodc.org>');
    expect(result.response).toMatch(/^250 .*queued as test-1/);
    expect(result.accepted.sort()).toEqual(['capital.fra@example.org', 'mission.fra@example.org']);
    expect(result.rejected).toEqual([]);

    await server.waitFor(1);
    const got = server.messages[0]!;
    expect(got.messageId).toBe(m.messageId);
    expect(got.headers['x-chancery-reference']).toBe('CU 2009/92 (A)');
    expect(got.headers['x-chancery-dispatch']).toBe('cu-2009-92-a_FRA_note');
    expect(got.subject).toBe('CU 2009/92 (A) — Traite des personnes');
    expect(got.to).toEqual(['mission.fra@example.org']);
    expect(got.cc).toEqual(['capital.fra@example.org']);
    expect(got.from).toBe('untoc.cop@unodc.org');
    expect(got.envelope).toEqual({ from: 'untoc.cop@unodc.org', to: ['mission.fra@example.org', 'capital.fra@example.org'] });
    expect(got.text).toContain('CU 2009/92 (A) du 8 juillet 2009');
    expect(got.attachments).toHaveLength(1);
    expect(got.attachments[0]!.filename).toBe('CU-2009-92-A_FRA.pdf');
    expect(got.attachments[0]!.mimeType).toBe('application/pdf');
    expect(got.attachments[0]!.content.equals(pdf)).toBe(true);
    expect(await pdfText(got.attachments[0]!.content)).toContain('Permanent Mission of France');
  });

  it('451 at the first attempt is transient; the next attempt is delivered once', async () => {
    const s = await startSmtpServer({ respond: ({ attempt }) => (attempt === 1 ? { code: 451, message: '4.3.0 Try again later' } : undefined) });
    const mailer = createSmtpMailer(s.url);
    try {
      const m = note({ cc: [] });
      const err = await mailer.send(m).catch((e: unknown) => e);
      expect(classifySmtpError(err)).toMatchObject({ kind: 'transient', code: 451, response: expect.stringContaining('451 4.3.0 Try again later') });
      expect(s.messages).toHaveLength(0);
      const ok = await mailer.send(m);
      expect(ok.response).toMatch(/^250 /);
      expect(s.messages.map((x) => x.messageId)).toEqual([m.messageId]);
    } finally {
      await mailer.close();
      await s.stop();
    }
  });

  it('550 for an address is permanent, with the server reply kept; a message to others still goes', async () => {
    const s = await startSmtpServer({ respond: ({ rcpt }) => (rcpt[0] === 'gone@example.org' ? { code: 550, message: '5.1.1 No such mailbox' } : undefined) });
    const mailer = createSmtpMailer(s.url);
    try {
      const err = await mailer.send(note({ to: ['gone@example.org'], cc: [] })).catch((e: unknown) => e);
      const c = classifySmtpError(err);
      expect(c).toMatchObject({ kind: 'permanent', code: 550 });
      expect(c.response).toContain('550 5.1.1 No such mailbox');

      // With one good address of two the server takes the message; the refused one is reported.
      const partial = await mailer.send(note({ cc: ['gone@example.org'], messageId: messageIdFor('x2', 'chancery.unodc.org') }));
      expect(partial.accepted).toEqual(['mission.fra@example.org']);
      expect(partial.rejected).toEqual(['gone@example.org']);
      expect(s.messages).toHaveLength(1);
    } finally {
      await mailer.close();
      await s.stop();
    }
  });

  it('a refused DATA (421) and a closed port are transient', async () => {
    const s = await startSmtpServer({ respondAt: 'data', respond: () => ({ code: 421, message: '4.7.0 Too busy' }) });
    const mailer = createSmtpMailer(s.url);
    try {
      const err = await mailer.send(note()).catch((e: unknown) => e);
      expect(classifySmtpError(err)).toMatchObject({ kind: 'transient', code: 421 });
    } finally {
      await mailer.close();
      await s.stop();
    }
    const closed = createSmtpMailer(`smtp://127.0.0.1:${await freePort()}`);
    const refused = await closed.send(note()).catch((e: unknown) => e);
    await closed.close();
    expect(classifySmtpError(refused).kind).toBe('transient');
    expect(String(classifySmtpError(refused).response)).toMatch(/ECONNREFUSED/);
  });
});

describe('SMTP connection pool', () => {
  /**
   * A real SMTP server that holds every message at the end of DATA until `hold` sessions are in
   * DATA at once (or a second passes), then accepts them all: the most sessions seen open together is
   * the pool's size.
   */
  async function countingServer(hold: number) {
    let open = 0;
    let most = 0;
    const waiting: (() => void)[] = [];
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 500,
      onConnect(_session, callback) {
        most = Math.max(most, ++open);
        callback();
      },
      onClose() {
        open--;
      },
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => {
          waiting.push(() => callback(null, 'Ok'));
          if (waiting.length >= hold) waiting.splice(0).forEach((accept) => accept());
        });
      },
    });
    const timer = setInterval(() => waiting.splice(0).forEach((accept) => accept()), 1_000);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return {
      url: `smtp://127.0.0.1:${port}`,
      most: () => most,
      stop: () => (clearInterval(timer), new Promise<void>((resolve) => server.close(() => resolve()))),
    };
  }

  it('opens as many connections as the worker runs send jobs (SEND_CONCURRENCY); ?maxConnections in the URL wins', async () => {
    const s = await countingServer(7);
    try {
      const mailer = createMailer(loadConfig({ CHANCERY_HOME: tempHome(), SMTP_URL: s.url, SEND_CONCURRENCY: '7' }));
      const sent = await Promise.all(Array.from({ length: 7 }, (_, i) => mailer.send(note({ messageId: messageIdFor(`pool-${i}`, 'chancery.unodc.org') }))));
      await mailer.close();
      expect(sent.every((r) => /^250 /.test(r.response))).toBe(true);
      expect(s.most()).toBe(7);
    } finally {
      await s.stop();
    }

    const capped = await countingServer(7);
    try {
      const mailer = createMailer(loadConfig({ CHANCERY_HOME: tempHome(), SMTP_URL: `${capped.url}?maxConnections=2`, SEND_CONCURRENCY: '7' }));
      await Promise.all(Array.from({ length: 4 }, (_, i) => mailer.send(note({ messageId: messageIdFor(`capped-${i}`, 'chancery.unodc.org') }))));
      await mailer.close();
      expect(capped.most()).toBe(2);
    } finally {
      await capped.stop();
    }
  }, 30_000);
});

describe('classifySmtpError', () => {
  it('sorts configuration, permanent and transient failures', () => {
    const e = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);
    expect(classifySmtpError(e({ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Authentication credentials invalid' }))).toEqual({ kind: 'config', code: 535, response: '535 5.7.8 Authentication credentials invalid' });
    expect(classifySmtpError(e({ code: 'ETLS' })).kind).toBe('config');
    expect(classifySmtpError(e({ code: 'ESOCKET', cause: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' } })).kind).toBe('config');
    expect(classifySmtpError(e({ code: 'EENVELOPE', responseCode: 530, response: '530 5.7.0 Authentication required' })).kind).toBe('config');
    expect(classifySmtpError(e({ code: 'EDNS' }, 'getaddrinfo ENOTFOUND smtp.example.invalid')).kind).toBe('config');
    expect(classifySmtpError(e({ code: 'EENVELOPE', responseCode: 552 })).kind).toBe('permanent');
    expect(classifySmtpError(e({ code: 'EPROTOCOL', responseCode: 503 })).kind).toBe('transient');
    expect(classifySmtpError(e({ code: 'ETIMEDOUT' })).kind).toBe('transient');
    expect(classifySmtpError(e({ code: 'ECONNECTION' }, 'Connection closed unexpectedly')).kind).toBe('transient');
    expect(classifySmtpError(e({ code: 'EDNS' }, 'getaddrinfo EAI_AGAIN smtp.example.org')).kind).toBe('transient');
    expect(classifySmtpError(new InputError('message <a@b>: subject contains a line break, refused')).kind).toBe('permanent');
  });
});

describe('file outbox', () => {
  it('writes one .eml per message, atomically, that parses back with its attachment', async () => {
    const cfg = loadConfig({ CHANCERY_HOME: tempHome() });
    const mailer = createMailer(cfg);
    expect(mailer.kind).toBe('outbox');
    const m = note({ date: new Date('2009-07-08T09:00:00Z') });
    const result = await mailer.send(m);
    const files = fs.readdirSync(cfg.paths.outbox);
    expect(files).toEqual([`${messageIdFileName(m.messageId)}.eml`]); // no .tmp left behind
    expect(result.response).toMatch(/^250 written to .*\.eml$/);
    expect(result.accepted).toEqual(['mission.fra@example.org', 'capital.fra@example.org']);

    const raw = fs.readFileSync(path.join(cfg.paths.outbox, files[0]!));
    // Every line ends in CRLF (RFC 5322) and none is longer than 998 characters.
    const lines = raw.toString('latin1').split('\r\n');
    expect(lines.filter((l) => l.includes('\n') || l.includes('\r'))).toEqual([]);
    expect(lines.filter((l) => l.length > 998)).toEqual([]);
    const parsed = await PostalMime.parse(raw);
    expect(parsed.text?.replace(/\r\n/g, '\n').trimEnd()).toBe(m.text.trimEnd());
    expect(parsed.messageId).toBe(m.messageId);
    expect(parsed.subject).toBe(m.subject);
    expect(parsed.date).toBe('2009-07-08T09:00:00.000Z');
    expect(parsed.headers.find((h) => h.key === 'x-chancery-reference')?.value).toBe('CU 2009/92 (A)');
    expect(parsed.attachments).toHaveLength(1);
    expect(Buffer.from(parsed.attachments[0]!.content as ArrayBuffer).equals(pdf)).toBe(true);

    // The same dispatch sent again gives the same file, byte for byte.
    await mailer.send(m);
    expect(fs.readdirSync(cfg.paths.outbox)).toEqual(files);
    expect(fs.readFileSync(path.join(cfg.paths.outbox, files[0]!)).equals(raw)).toBe(true);
    expect((await composeMessage(m)).equals(raw)).toBe(true);
  });

  it('refuses CR/LF in a subject, a header or an address, and writes nothing', async () => {
    const cfg = loadConfig({ CHANCERY_HOME: tempHome() });
    const mailer = createMailer(cfg);
    await expect(mailer.send(note({ subject: 'CU 2009/92\r\nBcc: all@example.org' }))).rejects.toThrow(InputError);
    await expect(mailer.send(note({ subject: 'CU 2009/92\nBcc: all@example.org' }))).rejects.toThrow(/subject contains a line break/);
    await expect(mailer.send(note({ headers: { 'X-Note': 'a\r\nBcc: x@example.org' } }))).rejects.toThrow(/header X-Note/);
    await expect(mailer.send(note({ to: ['a@example.org\r\nBcc: x@example.org'] }))).rejects.toThrow(/to\[0\]/);
    await expect(mailer.send(note({ reference: 'CU\n2009' }))).rejects.toThrow(/reference/);
    await expect(mailer.send(note({ to: ['not an address'] }))).rejects.toThrow(/to\[0\] 'not an address' is not one e-mail address/);
    await expect(mailer.send(note({ to: [] }))).rejects.toThrow(/to has no address/);
    await expect(mailer.send(note({ headers: { 'Message-ID': '<x@y>' } }))).rejects.toThrow(/set from its own field/);
    expect(fs.existsSync(cfg.paths.outbox) ? fs.readdirSync(cfg.paths.outbox) : []).toEqual([]);
  });
});

describe('Message-IDs', () => {
  it('are deterministic, valid and distinct for distinct dispatches', () => {
    expect(messageIdFor('cu-2009-92-a_FRA_note', 'chancery.unodc.org')).toBe(messageIdFor('cu-2009-92-a_FRA_note', 'chancery.unodc.org'));
    const org = messageIdFor('c1_org:EU_note', 'chancery.unodc.org');
    expect(org).toMatch(/^<[A-Za-z0-9!#$%&'*+\/=?^_`{|}~.-]+@chancery\.unodc\.org>$/);
    expect(org).not.toBe(messageIdFor('c1_org=3AEU_note', 'chancery.unodc.org'));
    expect(messageIdFileName(org)).not.toMatch(/[/<>:]/);
    expect(() => messageIdFor('x', 'bad domain')).toThrow(InputError);
  });
});

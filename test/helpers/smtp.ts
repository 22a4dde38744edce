import { SMTPServer } from 'smtp-server';
import PostalMime, { type Address, type Email } from 'postal-mime';

/** One message the test SMTP server accepted, as a user would check it. */
export type ReceivedMessage = {
  raw: Buffer;
  envelope: { from: string; to: string[] };
  subject: string;
  /** With angle brackets, as in the header. */
  messageId: string;
  /** Lowercase header name -> value (unfolded; the first occurrence when repeated). */
  headers: Record<string, string>;
  from: string;
  /** Bare addresses of the To and Cc headers. */
  to: string[];
  cc: string[];
  text: string;
  attachments: { filename: string; mimeType: string; content: Buffer }[];
  parsed: Email;
};

/**
 * Called at RCPT TO (once per recipient address, `respondAt: 'rcpt'`, the default) or at the end of
 * DATA (once per message, `respondAt: 'data'`). `attempt` counts, from 1, how many times this
 * address (at DATA: the first recipient of the message) reached that stage. Return a reply to
 * refuse ({ code: 451, message: 'try later' }), or undefined to accept.
 */
export type Respond = (ctx: { stage: 'rcpt' | 'data'; rcpt: string[]; attempt: number; from: string }) => { code: number; message: string } | undefined;

export type TestSmtpServer = {
  port: number;
  url: string;
  messages: ReceivedMessage[];
  /** Attempts seen per recipient address, at RCPT and at DATA. */
  attempts: { rcpt: Map<string, number>; data: Map<string, number> };
  /** Resolves once at least n messages were accepted; rejects after timeoutMs (default 20 s). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
};

function addressesOf(list: Address[] | undefined): string[] {
  return (list ?? []).flatMap((a) => (a.group ? a.group.map((m) => m.address) : [a.address]));
}

function refusal(reply: { code: number; message: string }): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

/** A real SMTP server (smtp-server) on a free loopback port: no TLS, any or no authentication. */
export async function startSmtpServer(opts: { respond?: Respond; respondAt?: 'rcpt' | 'data' } = {}): Promise<TestSmtpServer> {
  const respondAt = opts.respondAt ?? 'rcpt';
  const messages: ReceivedMessage[] = [];
  const attempts = { rcpt: new Map<string, number>(), data: new Map<string, number>() };
  const waiters: (() => void)[] = [];
  let queued = 0;
  const bump = (map: Map<string, number>, key: string) => {
    const n = (map.get(key) ?? 0) + 1;
    map.set(key, n);
    return n;
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'test' });
    },
    onRcptTo(address, session, callback) {
      const rcpt = address.address.toLowerCase();
      const attempt = bump(attempts.rcpt, rcpt);
      if (opts.respond && respondAt === 'rcpt') {
        const reply = opts.respond({ stage: 'rcpt', rcpt: [rcpt], attempt, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '' });
        if (reply) return callback(refusal(reply));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        void (async () => {
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const rcpt = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          const counts = rcpt.map((r) => bump(attempts.data, r));
          if (opts.respond && respondAt === 'data') {
            const reply = opts.respond({ stage: 'data', rcpt, attempt: counts[0] ?? 1, from });
            if (reply) return callback(refusal(reply));
          }
          const raw = Buffer.concat(chunks);
          const parsed = await PostalMime.parse(raw);
          const headers: Record<string, string> = {};
          for (const h of parsed.headers) headers[h.key] ??= h.value;
          messages.push({
            raw,
            envelope: { from, to: rcpt },
            subject: parsed.subject ?? '',
            messageId: parsed.messageId ?? '',
            headers,
            from: parsed.from?.address ?? '',
            to: addressesOf(parsed.to),
            cc: addressesOf(parsed.cc),
            text: parsed.text ?? '',
            attachments: parsed.attachments.map((a) => ({
              filename: a.filename ?? '',
              mimeType: a.mimeType,
              content: typeof a.content === 'string' ? Buffer.from(a.content, a.encoding === 'base64' ? 'base64' : 'utf8') : Buffer.from(a.content as ArrayBuffer),
            })),
            parsed,
          });
          queued += 1;
          waiters.splice(0).forEach((w) => w());
          callback(null, `2.0.0 Ok: queued as test-${queued}`);
        })().catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
      });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.server.address();
      if (addr && typeof addr === 'object') resolve(addr.port);
      else reject(new Error('test SMTP server: no port'));
    });
  });
  server.on('error', () => {}); // client disconnects mid-session are part of the tests

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    attempts,
    async waitFor(n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`test SMTP server: ${messages.length} of ${n} messages after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

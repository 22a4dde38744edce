import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';

/**
 * An SMTP server for fault tests (smtp-server on loopback), with faults a real relay shows:
 * - a delay between taking a message and answering 250 (the window in which a sender that dies
 *   cannot record the send: the message is delivered, the sender does not know);
 * - a refusal (421, 451) for a spell;
 * - no answer at all after DATA (the client's socketTimeout ends it; the message was taken);
 * - down (nothing listens on the port) and back up on the same port.
 * It listens on several ports ("lanes") sharing one record, so a test can give each worker
 * process its own lane and know whose replies were pending when it killed one.
 */

/** What the server does with one message at the end of DATA. */
export type DataAction = { kind: 'accept'; delayMs?: number } | { kind: 'refuse'; code: number; message: string } | { kind: 'hang' };

export type Received = { dispatchId: string; messageId: string; rcpt: string[]; lane: number };

export type FaultSmtp = {
  urls: string[];
  /** Every message taken (recorded before the reply is sent, as a relay queues before answering). */
  received: Received[];
  /** Per lane: messages taken whose 250 has not been written yet. */
  pending: number[];
  /** DATA attempts seen (taken or refused), in order. */
  dataAttempts: { dispatchId: string; action: DataAction['kind'] }[];
  /** Decides each message's fate; `attempt` counts from 1 per dispatch. */
  decide: (m: { dispatchId: string; attempt: number; seq: number }) => DataAction;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
};

/** Header value from the raw header block (unfolded), or ''. */
function header(raw: string, name: string): string {
  const end = raw.search(/\r?\n\r?\n/);
  const head = (end >= 0 ? raw.slice(0, end) : raw).replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m ? m[1]!.trim() : '';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function startFaultSmtp(opts: { lanes?: number; query?: string } = {}): Promise<FaultSmtp> {
  const lanes = opts.lanes ?? 1;
  const ports = await Promise.all(Array.from({ length: lanes }, () => freePort()));
  const received: Received[] = [];
  const pending = ports.map(() => 0);
  const dataAttempts: FaultSmtp['dataAttempts'] = [];
  const attempts = new Map<string, number>();
  let seq = 0;
  let servers: SMTPServer[] = [];

  const self: FaultSmtp = {
    urls: ports.map((p) => `smtp://127.0.0.1:${p}${opts.query ? `?${opts.query}` : ''}`),
    received,
    pending,
    dataAttempts,
    decide: () => ({ kind: 'accept' }),
    down: async () => {
      const closing = servers;
      servers = [];
      await Promise.all(closing.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
    up: async () => {
      servers = await Promise.all(ports.map((port, lane) => listen(port, lane)));
    },
    stop: async () => self.down(),
  };

  function make(lane: number): SMTPServer {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 300,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', (err) => callback(err));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const dispatchId = header(raw, 'X-Chancery-Dispatch');
          const attempt = (attempts.get(dispatchId) ?? 0) + 1;
          attempts.set(dispatchId, attempt);
          const action = self.decide({ dispatchId, attempt, seq: ++seq });
          dataAttempts.push({ dispatchId, action: action.kind });
          if (action.kind === 'refuse') return callback(Object.assign(new Error(action.message), { responseCode: action.code }));
          received.push({ dispatchId, messageId: header(raw, 'Message-ID'), rcpt: _session.envelope.rcptTo.map((r) => r.address), lane });
          if (action.kind === 'hang') return; // taken, never answered
          pending[lane]!++;
          const reply = () => {
            pending[lane]!--;
            callback(null, `2.0.0 Ok: queued as f-${received.length}`);
          };
          if (action.delayMs) void sleep(action.delayMs).then(reply);
          else reply();
        });
      },
    });
    server.on('error', () => {}); // clients killed mid-session are the point of these tests
    return server;
  }

  async function listen(port: number, lane: number): Promise<SMTPServer> {
    const server = make(lane);
    for (let i = 0; ; i++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.server.off('error', reject);
            resolve();
          });
        });
        return server;
      } catch (err) {
        if (i > 50) throw err; // the port should come free quickly after down()
        await sleep(100);
      }
    }
  }

  await self.up();
  return self;
}

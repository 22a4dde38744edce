import { SMTPServer } from 'smtp-server';

/**
 * The benchmark's SMTP server: a real smtp-server on loopback that accepts every message and
 * notes when it accepted it, keyed by the X-Chancery-Dispatch header. It reads only the header
 * block of each message (the body is drained, not parsed), so it costs the pipeline little.
 */
export type SmtpSink = {
  url: string;
  /** dispatch id -> acceptance times (ms since epoch); more than one means a duplicate. */
  accepted: Map<string, number[]>;
  /** Messages accepted in all. */
  count(): number;
  stop(): Promise<void>;
};

const HEADER = /^X-Chancery-Dispatch:[ \t]*(\S+)/im;

export async function startSmtpSink(): Promise<SmtpSink> {
  const accepted = new Map<string, number[]>();
  let total = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'bench' });
    },
    onData(stream, _session, callback) {
      let head = '';
      let done = false;
      stream.on('data', (chunk: Buffer) => {
        if (done) return;
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0) {
          head = head.slice(0, end);
          done = true;
        }
      });
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        const id = HEADER.exec(head)?.[1] ?? '(no dispatch header)';
        const list = accepted.get(id);
        if (list) list.push(Date.now());
        else accepted.set(id, [Date.now()]);
        total++;
        callback(null, `2.0.0 Ok: queued as bench-${total}`);
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.server.address();
      if (addr && typeof addr === 'object') resolve(addr.port);
      else reject(new Error('bench SMTP server: no port'));
    });
  });
  server.on('error', () => {}); // a client closing its pool mid-session is not an error here
  return {
    url: `smtp://127.0.0.1:${port}`,
    accepted,
    count: () => total,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

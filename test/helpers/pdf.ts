import { spawn } from 'node:child_process';

/**
 * The text of a PDF as pdftotext (poppler-utils) extracts it: what a reader could copy out of it.
 * `layout: true` keeps the physical layout (columns, indentation) instead of reading order;
 * `raw: true` keeps the order of the content stream (no column detection: a very loose justified
 * line, with gaps wider than pdftotext expects between words, stays one line).
 */
export async function pdfText(pdf: Buffer | string, opts: { layout?: boolean; raw?: boolean } = {}): Promise<string> {
  const args = ['-enc', 'UTF-8', ...(opts.layout ? ['-layout'] : []), ...(opts.raw ? ['-raw'] : []), typeof pdf === 'string' ? pdf : '-', '-'];
  return new Promise((resolve, reject) => {
    const child = spawn('pdftotext', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error('pdftotext is not installed: apt-get install poppler-utils') : e),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`pdftotext exited with status ${code}: ${err.trim()}`));
    });
    child.stdin.on('error', () => {}); // pdftotext may exit before reading everything of a broken PDF
    child.stdin.end(typeof pdf === 'string' ? undefined : pdf);
  });
}

import fs from 'node:fs';
import path from 'node:path';

/**
 * The PDFs of one render batch, written to temporary names now and made durable and visible
 * together (`commit`): each is flushed to disk, then renamed into place, so a reader never sees
 * half a PDF and a letter is recorded as rendered only once its file would survive a power loss.
 *
 * Why together: one fsync per letter, made in turn on the worker's thread, each forcing its own
 * commit of the file system's journal, held the render worker up and, through that journal, the
 * send worker's flush of the store's log (the chancery bench: 117 -> 157 and 143 -> 163
 * dispatches/s at 2,000 recipients without them). The flushes of a batch are issued at once on
 * libuv's thread pool, where the file system joins them into few journal commits; writing stays
 * synchronous (through the pool, open/write/close cost several times the CPU here).
 */
export class PdfBatchWriter {
  private readonly pending: { fd: number; tmp: string; file: string }[] = [];
  /** Folders known to exist already (one mkdir per campaign, not one per letter). */
  private static readonly madeDirs = new Set<string>();

  /** Writes `bytes` for `file` under a temporary name, not yet flushed nor visible. */
  write(file: string, bytes: Buffer): void {
    const dir = path.dirname(file);
    if (!PdfBatchWriter.madeDirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      if (PdfBatchWriter.madeDirs.size >= 1_000) PdfBatchWriter.madeDirs.clear();
      PdfBatchWriter.madeDirs.add(dir);
    }
    const tmp = `${file}.${process.pid}.${Date.now()}.${this.pending.length}.tmp`;
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (err) {
      // The folder went away since it was made (a workspace reset): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(dir, { recursive: true });
      fd = fs.openSync(tmp, 'w');
    }
    this.pending.push({ fd, tmp, file });
    fs.writeFileSync(fd, bytes);
  }

  /** Flushes every file written, then renames each into place. On failure none is left behind. */
  async commit(): Promise<void> {
    const files = this.pending.splice(0);
    try {
      await Promise.all(files.map(({ fd }) => new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))));
    } catch (err) {
      discard(files);
      throw err;
    }
    for (const { fd, tmp, file } of files) {
      fs.closeSync(fd);
      fs.renameSync(tmp, file);
    }
  }

  /** Drops every file written and not committed (the batch failed before its record). */
  discard(): void {
    discard(this.pending.splice(0));
  }
}

function discard(files: { fd: number; tmp: string }[]): void {
  for (const { fd, tmp } of files) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
  }
}

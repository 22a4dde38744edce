import fs from 'node:fs';
import path from 'node:path';

type Written = { handle: fs.promises.FileHandle; tmp: string; file: string };

/**
 * The PDFs of one render batch, written to temporary names while the next letters render and
 * made durable and visible together (`commit`): each is flushed to disk, then renamed into place,
 * so a reader never sees half a PDF and a letter is recorded as rendered only once its file
 * would survive a power loss.
 *
 * Why on libuv's thread pool and together: one fsync per letter, made in turn on the worker's
 * thread, each forcing its own commit of the file system's journal, held the render worker up
 * and, through that journal, the send worker's flush of the store's log (bench at 2,000
 * recipients: 117 -> 157 and 143 -> 163 dispatches/s without them). Creating a file waits for a
 * journal commit in progress too (open took 1.1 ms a letter on the render thread in a profile):
 * now the render thread goes on while the pool waits.
 */
export class PdfBatchWriter {
  private readonly pending: Promise<Written>[] = [];
  /** Folders known to exist already (one mkdir per campaign, not one per letter). */
  private static readonly madeDirs = new Set<string>();

  /** Starts writing `bytes` for `file` under a temporary name; not flushed nor visible yet. */
  write(file: string, bytes: Buffer): void {
    const dir = path.dirname(file);
    if (!PdfBatchWriter.madeDirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      if (PdfBatchWriter.madeDirs.size >= 1_000) PdfBatchWriter.madeDirs.clear();
      PdfBatchWriter.madeDirs.add(dir);
    }
    const tmp = `${file}.${process.pid}.${Date.now()}.${this.pending.length}.tmp`;
    const written = (async (): Promise<Written> => {
      let handle: fs.promises.FileHandle;
      try {
        handle = await fs.promises.open(tmp, 'w');
      } catch (err) {
        // The folder went away since it was made (a workspace reset): make it again, once.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await fs.promises.mkdir(dir, { recursive: true });
        handle = await fs.promises.open(tmp, 'w');
      }
      try {
        await handle.writeFile(bytes);
      } catch (err) {
        await discard([{ handle, tmp }]);
        throw err;
      }
      return { handle, tmp, file };
    })();
    written.catch(() => undefined); // seen by commit or discard
    this.pending.push(written);
  }

  /** Flushes every file written, then renames each into place. On failure none is left behind. */
  async commit(): Promise<void> {
    const files = await settle(this.pending.splice(0));
    try {
      if (files.failed) throw files.failed;
      await Promise.all(files.ok.map(({ handle }) => handle.sync()));
    } catch (err) {
      await discard(files.ok);
      throw err;
    }
    await Promise.all(files.ok.map(({ handle }) => handle.close()));
    await Promise.all(files.ok.map(({ tmp, file }) => fs.promises.rename(tmp, file)));
  }

  /** Drops every file written and not committed (the batch failed before its record). */
  async discard(): Promise<void> {
    await discard((await settle(this.pending.splice(0))).ok);
  }
}

async function settle(pending: Promise<Written>[]): Promise<{ ok: Written[]; failed?: unknown }> {
  const results = await Promise.allSettled(pending);
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
  return failed === undefined ? { ok } : { ok, failed };
}

async function discard(files: { handle: fs.promises.FileHandle; tmp: string }[]): Promise<void> {
  for (const { handle, tmp } of files) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
  }
}

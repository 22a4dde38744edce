import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PdfBatchWriter } from '../src/campaigns/pdf-files.ts';

/**
 * A render batch's PDFs: written under temporary names, each flushed to disk (the real fsync;
 * spies only note the order) before any is renamed into place; nothing left behind on failure.
 */

let dir: string | undefined;
afterEach(() => {
  vi.restoreAllMocks();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const files = (d: string) => fs.readdirSync(d).sort();

/** FileHandle's prototype, to watch flushes (handle.sync) made on libuv's thread pool. */
async function fileHandleProto(d: string): Promise<fs.promises.FileHandle> {
  const h = await fs.promises.open(path.join(d, 'probe'), 'w');
  await h.close();
  fs.rmSync(path.join(d, 'probe'));
  return Object.getPrototypeOf(h) as fs.promises.FileHandle;
}

describe('PdfBatchWriter', () => {
  it('makes a PDF visible only after every PDF of the batch is flushed', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pdfs-'));
    const out = path.join(dir, 'campaign');
    const order: string[] = [];
    const proto = await fileHandleProto(dir);
    const realSync = proto.sync;
    vi.spyOn(proto, 'sync').mockImplementation(async function (this: fs.promises.FileHandle) {
      await realSync.call(this);
      order.push('flushed');
    });
    const realRename = fs.promises.rename.bind(fs.promises);
    vi.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      order.push(`renamed ${path.basename(String(to))}`);
      await realRename(from, to);
    });

    const writer = new PdfBatchWriter();
    writer.write(path.join(out, 'a.pdf'), Buffer.from('%PDF-a'));
    writer.write(path.join(out, 'b.pdf'), Buffer.from('%PDF-b'));
    writer.write(path.join(out, 'c.pdf'), Buffer.from('%PDF-c'));
    await new Promise((r) => setTimeout(r, 50));
    // Written, not yet visible under their own names.
    expect(files(out).filter((f) => f.endsWith('.pdf'))).toEqual([]);
    expect(files(out)).toHaveLength(3);

    await writer.commit();
    expect(order.slice(0, 3)).toEqual(['flushed', 'flushed', 'flushed']);
    expect(order.slice(3).sort()).toEqual(['renamed a.pdf', 'renamed b.pdf', 'renamed c.pdf']);
    expect(files(out)).toEqual(['a.pdf', 'b.pdf', 'c.pdf']);
    expect(fs.readFileSync(path.join(out, 'b.pdf'), 'utf8')).toBe('%PDF-b');
  });

  it('leaves nothing behind when a flush fails or the batch is dropped', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pdfs-'));
    const proto = await fileHandleProto(dir);
    const realSync = proto.sync;
    let calls = 0;
    // The disk refuses the second flush (fault injection; the others really run).
    vi.spyOn(proto, 'sync').mockImplementation(async function (this: fs.promises.FileHandle) {
      if (++calls === 2) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      await realSync.call(this);
    });

    const writer = new PdfBatchWriter();
    writer.write(path.join(dir, 'a.pdf'), Buffer.from('%PDF-a'));
    writer.write(path.join(dir, 'b.pdf'), Buffer.from('%PDF-b'));
    await expect(writer.commit()).rejects.toThrow(/EIO/);
    expect(files(dir)).toEqual([]);

    writer.write(path.join(dir, 'c.pdf'), Buffer.from('%PDF-c'));
    await writer.discard();
    expect(files(dir)).toEqual([]);
  });
});

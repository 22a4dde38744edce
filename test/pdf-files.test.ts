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

describe('PdfBatchWriter', () => {
  it('makes a PDF visible only after every PDF of the batch is flushed', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pdfs-'));
    const out = path.join(dir, 'campaign');
    const order: string[] = [];
    const realFsync = fs.fsync.bind(fs);
    vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => realFsync(fd, (err) => (order.push('flushed'), cb(err)))) as typeof fs.fsync);
    const realRename = fs.renameSync.bind(fs);
    vi.spyOn(fs, 'renameSync').mockImplementation((from, to) => (order.push(`renamed ${path.basename(String(to))}`), realRename(from, to)));

    const writer = new PdfBatchWriter();
    writer.write(path.join(out, 'a.pdf'), Buffer.from('%PDF-a'));
    writer.write(path.join(out, 'b.pdf'), Buffer.from('%PDF-b'));
    writer.write(path.join(out, 'c.pdf'), Buffer.from('%PDF-c'));
    // Written, not yet visible under their own names.
    expect(files(out).filter((f) => f.endsWith('.pdf'))).toEqual([]);
    expect(files(out)).toHaveLength(3);

    await writer.commit();
    expect(order).toEqual(['flushed', 'flushed', 'flushed', 'renamed a.pdf', 'renamed b.pdf', 'renamed c.pdf']);
    expect(files(out)).toEqual(['a.pdf', 'b.pdf', 'c.pdf']);
    expect(fs.readFileSync(path.join(out, 'b.pdf'), 'utf8')).toBe('%PDF-b');
  });

  it('leaves nothing behind when a flush fails or the batch is dropped', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chancery-pdfs-'));
    const realFsync = fs.fsync.bind(fs);
    let calls = 0;
    // The disk refuses the second flush (fault injection; the others really run).
    vi.spyOn(fs, 'fsync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      ++calls === 2 ? cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })) : realFsync(fd, cb)) as typeof fs.fsync);

    const writer = new PdfBatchWriter();
    writer.write(path.join(dir, 'a.pdf'), Buffer.from('%PDF-a'));
    writer.write(path.join(dir, 'b.pdf'), Buffer.from('%PDF-b'));
    await expect(writer.commit()).rejects.toThrow(/EIO/);
    expect(files(dir)).toEqual([]);

    writer.write(path.join(dir, 'c.pdf'), Buffer.from('%PDF-c'));
    writer.discard();
    expect(files(dir)).toEqual([]);
  });
});

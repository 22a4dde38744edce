import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';
import { writeFileAtomic } from '../files.ts';
import { batches } from '../store/batches.ts';
import type { Db } from '../store/db.ts';
import type { Trx } from '../store/tx.ts';
import { getCampaign, type Dispatch } from './repo.ts';

/**
 * The letters' PDFs, kept in the store (table documents) and written in the very transaction
 * that records each dispatch as rendered: a letter is never recorded without its PDF nor left as
 * a PDF without its record, whatever process dies when; the send claim's flush of the store's log
 * (store/tx.ts) makes the PDF durable before the message leaves; and workers on other machines
 * read it where they read everything else. Before, each PDF was a file of its own, created,
 * flushed and renamed into place, which cost the render workers about 0.8 ms of CPU a letter
 * (bench, 10,000 recipients: 4.5-4.8 -> 3.4-4.0 ms a letter), as much as laying the letter out.
 *
 * Files for people to open: `chancery campaign pdfs ID` (exportCampaignPdfs).
 */

export type RenderedDocument = { dispatchId: string; bytes: Buffer };

/** Stores the PDFs of dispatches recorded as rendered in the caller's transaction. */
export async function storeDocuments(trx: Trx, docs: RenderedDocument[]): Promise<void> {
  for (const part of batches(docs)) {
    await trx
      .insertInto('documents')
      .values(part.map((d) => ({ dispatch_id: d.dispatchId, bytes: d.bytes })))
      // Rendered again after `retry --failed` of a letter that failed to render: the new PDF.
      .onConflict((oc) => oc.column('dispatch_id').doUpdateSet((eb) => ({ bytes: eb.ref('excluded.bytes') })))
      .execute();
  }
}

/**
 * A dispatch's PDF as stored; for one rendered before the PDFs moved into the store, its file
 * under the home folder (pdf_path). Undefined when there is neither.
 */
export async function loadDocument(db: Db | Trx, home: string, d: Pick<Dispatch, 'id' | 'pdf_path'>): Promise<Buffer | undefined> {
  const row = await db.selectFrom('documents').select('bytes').where('dispatch_id', '=', d.id).executeTakeFirst();
  if (row) return Buffer.isBuffer(row.bytes) ? row.bytes : Buffer.from(row.bytes);
  if (!d.pdf_path) return undefined;
  try {
    return fs.readFileSync(path.resolve(home, d.pdf_path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * A dispatch's PDF checked against the SHA-256 recorded when it was rendered: its bytes, or what is
 * wrong with it, worded to follow "stored PDF". The send step and the export both go through here.
 */
export async function loadCheckedDocument(db: Db | Trx, home: string, d: Pick<Dispatch, 'id' | 'pdf_path' | 'pdf_sha256'>): Promise<{ bytes: Buffer } | { problem: string }> {
  const bytes = await loadDocument(db, home, d);
  if (!bytes) return { problem: 'is missing from the store' };
  if (d.pdf_sha256 === null || createHash('sha256').update(bytes).digest('hex') !== d.pdf_sha256) return { problem: 'does not match its recorded SHA-256' };
  return { bytes };
}

/**
 * Writes the PDF of every rendered letter of a campaign (notes and reminders) to
 * DIR/<dispatch id>.pdf, each checked against its recorded SHA-256 first. Refuses (InputError,
 * naming the dispatch) a PDF that is missing or does not match, after writing the ones before it.
 */
export async function exportCampaignPdfs(db: Db, home: string, campaignId: string, dir: string): Promise<{ count: number }> {
  await getCampaign(db, campaignId); // unknown campaign: InputError
  const rows = await db
    .selectFrom('dispatches')
    .select(['id', 'pdf_sha256', 'pdf_path'])
    .where('campaign_id', '=', campaignId)
    .where('pdf_sha256', 'is not', null)
    .orderBy('id')
    .execute();
  fs.mkdirSync(dir, { recursive: true });
  let count = 0;
  for (const d of rows) {
    const doc = await loadCheckedDocument(db, home, d);
    if ('problem' in doc) throw new InputError(`dispatch ${d.id}: the stored PDF ${doc.problem}`);
    const file = path.join(dir, `${d.id}.pdf`);
    writeFileAtomic(file, doc.bytes);
    count++;
  }
  return { count };
}

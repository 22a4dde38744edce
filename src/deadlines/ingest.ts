import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import PostalMime, { type Address, type Email } from 'postal-mime';
import type { Config } from '../config.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { zonedDate, type Clock } from '../clock.ts';
import { InputError } from '../errors.ts';
import { recipientSchema, type Recipient } from '../registry/index.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import type { IngestedEmailsTable } from '../store/schema.ts';
import { nowIso, writeTx, type Trx } from '../store/tx.ts';
import { currentReply } from '../campaigns/reminder.ts';
import { noteDispatchOf, recordReplyCore, removeCreated, replyDir, storeBytes, type RecordedReply, type StoredFile } from './replies.ts';

/**
 * `chancery reply ingest DIR`: e-mail replies saved from the secretariat's mailbox (.eml).
 *
 * Matching, in this order:
 * 1. In-Reply-To / References naming a Message-ID we sent (a note or a reminder: a reply to a
 *    reminder answers the note it recalls);
 * 2. a campaign reference (CU 2009/92 (A), spaces and case ignored) in the subject or body, with
 *    the sender (From, Sender, Reply-To) being an address of exactly one recipient of that
 *    campaign (registry today or as sent), else the sender's domain being used by exactly one of
 *    them. A domain shared by several recipients (example.org in the demo registry, a webmail
 *    provider) matches nobody: a person assigns it (`reply assign FILE CAMPAIGN RID`).
 * Every file is remembered by SHA-256 (and its Message-ID): ingesting it again records nothing.
 */

export type ParsedReply = {
  email: Email;
  messageId: string | null;
  senders: string[];
  subject: string;
  text: string;
  date: string | null;
  ids: string[];
};

export type Match = { campaignId: string; recipientId: string; method: 'in-reply-to' | 'reference+address' | 'reference+domain' | 'assigned' };

export type IngestItem = {
  file: string;
  sha256: string;
  outcome: 'matched' | 'unmatched' | 'already-ingested' | 'already-replied';
  campaignId?: string;
  recipientId?: string;
  method?: string;
  replyId?: string;
  reason?: string;
  from?: string;
  subject?: string;
};

const bare = (a: string) => a.trim().toLowerCase();

function addressesOf(list: (Address | undefined)[]): string[] {
  return list.flatMap((a) => (!a ? [] : a.group ? a.group.map((m) => m.address) : [a.address])).filter((a): a is string => !!a).map(bare);
}

export async function parseReply(bytes: Buffer): Promise<ParsedReply> {
  const email = await PostalMime.parse(bytes);
  const ids = `${email.inReplyTo ?? ''} ${email.references ?? ''}`.match(/<[^<>\s]+>/g) ?? [];
  const text = email.text ?? (email.html ? email.html.replace(/<[^>]*>/g, ' ') : '');
  return {
    email,
    messageId: email.messageId ?? null,
    senders: [...new Set(addressesOf([email.from, email.sender, ...(email.replyTo ?? [])]))],
    subject: email.subject ?? '',
    text,
    date: email.date ?? null,
    ids: [...new Set(ids)],
  };
}

/** "CU 2009/92 (A)" -> "cu2009/92(a)": what we look for, spaces and case aside. */
const squeeze = (s: string) => s.toLowerCase().replace(/\s+/g, '');

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);

/** Their reference when the e-mail states one ("Note No. 123/2009", "Réf.: ..."). */
export function theirReference(p: Pick<ParsedReply, 'subject' | 'text'>): string | null {
  const re = /(?:\b(?:our|their)\s+ref(?:erence)?\.?|\bnotre\s+r[ée]f(?:[ée]rence)?\.?|\bnote\s+(?:verbale\s+)?(?:No|n[o°º])\.?)\s*:?\s*([A-Za-z0-9][A-Za-z0-9./\-() ]{1,60}?)(?=\s*(?:[,;\n]|\.\s|$| of | du | dated | en date))/i;
  const m = re.exec(`${p.subject}\n${p.text}`);
  return m?.[1]?.trim() ?? null;
}

/** Finds the campaign and recipient an e-mail answers, or says why not. */
export async function matchReply(db: Db, p: ParsedReply): Promise<Match | { reason: string }> {
  if (p.ids.length > 0) {
    const rows = await db.selectFrom('dispatches').select(['id', 'campaign_id', 'recipient_id', 'kind', 'original_dispatch_id', 'message_id']).where('message_id', 'in', p.ids).execute();
    // In-Reply-To first, then References from the most recent.
    const order = [...p.ids].reverse();
    rows.sort((a, b) => order.indexOf(a.message_id!) - order.indexOf(b.message_id!));
    const hit = rows[0];
    if (hit) return { campaignId: hit.campaign_id, recipientId: hit.recipient_id, method: 'in-reply-to' };
  }
  const haystack = squeeze(`${p.subject}\n${p.text}`);
  const campaigns = await db.selectFrom('campaigns').select(['id', 'reference']).where('state', 'in', ['sending', 'done', 'paused', 'cancelled']).orderBy('created_at', 'desc').execute();
  const named = campaigns.filter((c) => haystack.includes(squeeze(c.reference)));
  if (named.length === 0) return { reason: `no Message-ID of ours in In-Reply-To/References and no campaign reference in the subject or body` };
  if (p.senders.length === 0) return { reason: `reference ${named[0]!.reference} found but the e-mail names no sender` };
  const reasons: string[] = [];
  for (const c of named) {
    const notes = await db.selectFrom('dispatches').select(['recipient_id', 'recipient_snapshot']).where('campaign_id', '=', c.id).where('kind', '=', 'note').where('state', '=', 'sent').execute();
    const current = new Map(
      (await db.selectFrom('recipients').select(['id', 'data']).where('id', 'in', notes.length ? notes.map((n) => n.recipient_id) : ['']).execute()).map((r) => [r.id, JSON.parse(r.data) as Recipient]),
    );
    const addresses = new Map<string, Set<string>>();
    for (const n of notes) {
      const set = new Set<string>();
      for (const rec of [n.recipient_snapshot ? recipientSchema.parse(JSON.parse(n.recipient_snapshot)) : undefined, current.get(n.recipient_id)]) {
        for (const a of [...(rec?.email.to ?? []), ...(rec?.email.cc ?? [])]) set.add(bare(a));
      }
      addresses.set(n.recipient_id, set);
    }
    const byAddress = [...addresses].filter(([, set]) => p.senders.some((s) => set.has(s))).map(([rid]) => rid);
    if (byAddress.length === 1) return { campaignId: c.id, recipientId: byAddress[0]!, method: 'reference+address' };
    if (byAddress.length > 1) {
      reasons.push(`${c.reference}: sender ${p.senders.join(', ')} is an address of ${byAddress.length} recipients (${byAddress.join(', ')})`);
      continue;
    }
    const domains = new Set(p.senders.map(domainOf));
    const byDomain = [...addresses].filter(([, set]) => [...set].some((a) => domains.has(domainOf(a)))).map(([rid]) => rid);
    if (byDomain.length === 1) return { campaignId: c.id, recipientId: byDomain[0]!, method: 'reference+domain' };
    reasons.push(
      byDomain.length === 0
        ? `${c.reference}: sender ${p.senders.join(', ')} is no address or domain of its recipients`
        : `${c.reference}: sender ${p.senders.join(', ')} is no registered address, and its domain is shared by ${byDomain.length} recipients`,
    );
  }
  return { reason: reasons.join('; ') };
}

function storeAttachments(cfg: Config, dir: string, p: ParsedReply): { files: StoredFile[]; created: StoredFile[] } {
  const files: StoredFile[] = [];
  const created: StoredFile[] = [];
  p.email.attachments.forEach((a, i) => {
    const content = typeof a.content === 'string' ? Buffer.from(a.content, a.encoding === 'base64' ? 'base64' : 'utf8') : Buffer.from(a.content as ArrayBuffer);
    const s = storeBytes(cfg, dir, 'attachment', a.filename ?? `attachment-${i + 1}`, content);
    files.push(s.file);
    if (s.created) created.push(s.file);
  });
  return { files, created };
}

function receivedOnOf(cfg: Config, p: ParsedReply, clock: Date): string {
  const d = p.date ? new Date(p.date) : undefined;
  return zonedDate(d && !Number.isNaN(d.getTime()) ? d : clock, cfg.DUTY_STATION_TZ);
}

async function rememberEmail(trx: Trx, row: IngestedEmailsTable): Promise<void> {
  await trx.insertInto('ingested_emails').values(row).onConflict((oc) => oc.column('sha256').doUpdateSet({ outcome: row.outcome, reason: row.reason, reply_id: row.reply_id })).execute();
}

/** Records one parsed e-mail as the reply of a recipient (matched or assigned). */
async function recordEmailReply(db: Db, cfg: Config, now: Date, args: { bytes: Buffer; sha256: string; fileName: string; parsed: ParsedReply; match: Match; by: string; replace: boolean }): Promise<Omit<RecordedReply, 'files'> & { files: StoredFile[] }> {
  const { parsed, match } = args;
  const dir = replyDir(cfg, match.campaignId, match.recipientId);
  const eml = storeBytes(cfg, dir, 'message', args.fileName.endsWith('.eml') ? args.fileName : `${args.fileName}.eml`, args.bytes);
  const att = storeAttachments(cfg, dir, parsed);
  const files = [eml.file, ...att.files];
  const created = [...(eml.created ? [eml.file] : []), ...att.created];
  try {
    const r = await recordReplyCore(db, {
      campaignId: match.campaignId,
      recipientId: match.recipientId,
      receivedOn: receivedOnOf(cfg, parsed, now),
      channel: 'email',
      theirReference: theirReference(parsed),
      note: parsed.subject ? `e-mail: ${parsed.subject}`.slice(0, 4000) : null,
      by: args.by,
      replace: args.replace,
      source: 'ingest',
      matchMethod: match.method,
      sourceSha256: args.sha256,
      files,
      clock: now,
      alsoInTx: (trx, replyId) =>
        rememberEmail(trx, {
          sha256: args.sha256,
          file_name: args.fileName,
          stored_path: eml.file.path,
          message_id: parsed.messageId,
          from_address: parsed.senders[0] ?? null,
          subject: parsed.subject || null,
          date: parsed.date,
          outcome: match.method === 'assigned' ? 'assigned' : 'matched',
          reason: null,
          reply_id: replyId,
          ingested_at: nowIso(),
          ingested_by: args.by,
        }),
    });
    return { ...r, files };
  } catch (err) {
    removeCreated(cfg, created);
    throw err;
  }
}

/** Reads every .eml of DIR (sorted by name) and records what it can match. */
export async function ingestReplies(db: Db, cfg: Config, clock: Clock, dir: string, opts: { by: string }): Promise<IngestItem[]> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.eml')).sort();
  } catch {
    throw new InputError(`reply ingest: cannot read the folder ${dir}`);
  }
  const out: IngestItem[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const seen = await db.selectFrom('ingested_emails').select(['outcome', 'reply_id']).where('sha256', '=', sha256).executeTakeFirst();
    if (seen) {
      out.push({ file, sha256, outcome: 'already-ingested', reason: `ingested before (${seen.outcome}${seen.reply_id ? `, ${seen.reply_id}` : ''})` });
      continue;
    }
    const parsed = await parseReply(bytes);
    const base = { file, sha256, from: parsed.senders[0], subject: parsed.subject };
    if (parsed.messageId) {
      const same = await db.selectFrom('ingested_emails').select(['file_name', 'outcome']).where('message_id', '=', parsed.messageId).executeTakeFirst();
      if (same) {
        out.push({ ...base, outcome: 'already-ingested', reason: `same Message-ID as ${same.file_name} (${same.outcome})` });
        continue;
      }
    }
    const now = await clock.now();
    const match = await matchReply(db, parsed);
    if ('reason' in match) {
      const stored = storeBytes(cfg, path.join(cfg.paths.home, 'replies', 'unmatched'), 'message', name, bytes);
      await writeTx(db, async (trx) => {
        await rememberEmail(trx, {
          sha256,
          file_name: name,
          stored_path: stored.file.path,
          message_id: parsed.messageId,
          from_address: parsed.senders[0] ?? null,
          subject: parsed.subject || null,
          date: parsed.date,
          outcome: 'unmatched',
          reason: match.reason,
          reply_id: null,
          ingested_at: nowIso(),
          ingested_by: opts.by,
        });
        await appendEvent(trx, { type: 'reply.unmatched', actor: opts.by, data: { file: name, sha256, stored_path: stored.file.path, from: parsed.senders[0], subject: parsed.subject, reason: match.reason } });
      });
      out.push({ ...base, outcome: 'unmatched', reason: match.reason });
      continue;
    }
    const note = await noteDispatchOf(db, match.campaignId, match.recipientId);
    const existing = note ? await currentReply(db, note.id) : undefined;
    if (existing) {
      // A reply is on record already (logged by hand, or an earlier e-mail): keep this one for a person to look at.
      const stored = storeBytes(cfg, path.join(cfg.paths.home, 'replies', 'unmatched'), 'message', name, bytes);
      const reason = `${match.recipientId} already has a reply on record for this campaign (${existing.id}, received ${existing.received_on} by ${existing.channel}); to make this one the reply: chancery reply assign FILE ${match.campaignId} ${match.recipientId} --replace`;
      await writeTx(db, (trx) =>
        rememberEmail(trx, {
          sha256,
          file_name: name,
          stored_path: stored.file.path,
          message_id: parsed.messageId,
          from_address: parsed.senders[0] ?? null,
          subject: parsed.subject || null,
          date: parsed.date,
          outcome: 'already-replied',
          reason,
          reply_id: existing.id,
          ingested_at: nowIso(),
          ingested_by: opts.by,
        }),
      );
      out.push({ ...base, outcome: 'already-replied', campaignId: match.campaignId, recipientId: match.recipientId, method: match.method, replyId: existing.id, reason });
      continue;
    }
    const r = await recordEmailReply(db, cfg, now, { bytes, sha256, fileName: name, parsed, match, by: opts.by, replace: false });
    out.push({ ...base, outcome: 'matched', campaignId: match.campaignId, recipientId: match.recipientId, method: match.method, replyId: r.reply.id });
  }
  return out;
}

/** `chancery reply assign FILE CAMPAIGN RID`: a person says whose reply an e-mail is. */
export async function assignReply(db: Db, cfg: Config, clock: Clock, file: string, campaignId: string, recipientId: string, opts: { by: string; replace?: boolean }): Promise<RecordedReply> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new InputError(`reply assign: cannot read ${file}`);
  }
  await getCampaign(db, campaignId);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const seen = await db.selectFrom('ingested_emails').select(['outcome', 'reply_id']).where('sha256', '=', sha256).executeTakeFirst();
  if (seen && (seen.outcome === 'matched' || seen.outcome === 'assigned')) {
    const r = seen.reply_id ? await db.selectFrom('replies').select(['recipient_id', 'campaign_id']).where('id', '=', seen.reply_id).executeTakeFirst() : undefined;
    throw new InputError(`reply assign: ${file} is already recorded as the reply of ${r?.recipient_id ?? '?'} to campaign ${r?.campaign_id ?? '?'} (${seen.reply_id})`);
  }
  const parsed = await parseReply(bytes);
  return recordEmailReply(db, cfg, await clock.now(), { bytes, sha256, fileName: path.basename(file), parsed, match: { campaignId, recipientId, method: 'assigned' }, by: opts.by, replace: !!opts.replace });
}

/** E-mails waiting for a person: unmatched, or matched to someone who had replied already. */
export async function listUnmatched(db: Db): Promise<IngestedEmailsTable[]> {
  return db.selectFrom('ingested_emails').selectAll().where('outcome', 'in', ['unmatched', 'already-replied']).orderBy('ingested_at').execute();
}

import { storeClock, zonedDate } from '../clock.ts';
import { loadConfig } from '../config.ts';
import { isOverdue } from '../campaigns/followup.ts';
import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { DispatchKind, DispatchState } from '../store/schema.ts';
import { checkExportOptions, EXPORT_BATCH, writeExport, type ExportOptions, type RowWriter } from './writer.ts';

/**
 * `chancery audit export` (default): one row per dispatch — each note and each reminder — with
 * what was sent to whom and what came of it. Dispatches are read in keyset batches ordered by id;
 * for the notes of a batch, the reply on record and the reminders sent are read with one query
 * each (the same rules as `campaign status`, src/campaigns/followup.ts). Written by ./writer.ts
 * (streamed, temporary file renamed at the end, formulas neutralised in CSV).
 *
 * The subject is the e-mail's as sent, from the dispatch's dispatch.sent event. Name, language and
 * addresses come from the recipient snapshot kept on the dispatch when its
 * letter was rendered (what was actually sent), so they are empty for a dispatch never rendered.
 * Rows are read batch by batch: a dispatch that changes while the export runs is exported as it
 * was when its batch was read.
 */

export type DispatchExportOptions = ExportOptions & {
  /** The business date (yyyy-mm-dd at the duty station) for the overdue column; default: the store's clock. */
  today?: string;
};

/** One exported row. In CSV the lists are joined with ';', booleans are true/false, null is empty. */
export type DispatchExportRow = {
  reference: string;
  campaign_id: string;
  dispatch_id: string;
  kind: DispatchKind;
  /** '' for a note; the round ('b14', 'b3', 'o7') for a reminder. */
  reminder_key: string;
  recipient_id: string;
  /** The short name in the letter's language, from the snapshot. */
  recipient_name: string | null;
  language: string | null;
  channel: 'email';
  to: string[];
  cc: string[];
  /** The e-mail's subject as sent (from the dispatch.sent event); null until sent. */
  subject: string | null;
  queued: string;
  sent: string | null;
  message_id: string | null;
  smtp_response: string | null;
  pdf_sha256: string | null;
  attempts: number;
  possible_duplicate: boolean;
  /** Notes: dates of the reminders sent for it. Empty for a reminder. */
  reminders_sent: string[];
  /** Notes: the reply on record (received on, channel). Null for a reminder or no reply. */
  reply_received: string | null;
  reply_channel: string | null;
  /** Notes: sent, no reply, reply-by date past. Null for a reminder. */
  overdue: boolean | null;
  /** The dispatch state: pending, queued, rendered, sending, sent, failed, cancelled. */
  status: DispatchState;
};

export const DISPATCH_EXPORT_COLUMNS = [
  'reference',
  'campaign_id',
  'dispatch_id',
  'kind',
  'reminder_key',
  'recipient_id',
  'recipient_name',
  'language',
  'channel',
  'to',
  'cc',
  'subject',
  'queued',
  'sent',
  'message_id',
  'smtp_response',
  'pdf_sha256',
  'attempts',
  'possible_duplicate',
  'reminders_sent',
  'reply_received',
  'reply_channel',
  'overdue',
  'status',
] as const satisfies readonly (keyof DispatchExportRow)[];

export async function exportDispatches(db: Db, opts: DispatchExportOptions): Promise<{ count: number }> {
  const out = await checkExportOptions(db, opts);
  const today = opts.today ?? zonedDate(await storeClock(db).now(), loadConfig().DUTY_STATION_TZ);

  async function* batches(): AsyncGenerator<DispatchExportRow[]> {
    let after = '';
    for (;;) {
      let q = db
        .selectFrom('dispatches as d')
        .innerJoin('campaigns as c', 'c.id', 'd.campaign_id')
        .select([
          'd.id',
          'd.campaign_id',
          'd.recipient_id',
          'd.kind',
          'd.state',
          'd.recipient_snapshot',
          'd.language',
          'd.pdf_sha256',
          'd.message_id',
          'd.smtp_response',
          'd.attempts',
          'd.possible_duplicate',
          'd.created_at',
          'd.sent_at',
          'd.reminder_key',
          'c.reference',
          'c.reply_by',
        ])
        .where('d.id', '>', after);
      if (opts.campaignId !== undefined) q = q.where('d.campaign_id', '=', opts.campaignId);
      const rows = await q.orderBy('d.id').limit(EXPORT_BATCH).execute();
      if (rows.length === 0) return;
      yield await toExportRows(db, rows, today);
      after = rows[rows.length - 1]!.id;
    }
  }
  return writeExport(out, opts.format, batches(), DISPATCH_WRITER);
}

type Joined = {
  id: string;
  campaign_id: string;
  recipient_id: string;
  kind: DispatchKind;
  state: DispatchState;
  recipient_snapshot: string | null;
  language: string | null;
  pdf_sha256: string | null;
  message_id: string | null;
  smtp_response: string | null;
  attempts: number;
  possible_duplicate: number;
  created_at: string;
  sent_at: string | null;
  reminder_key: string;
  reference: string;
  reply_by: string;
};

async function toExportRows(db: Db, rows: Joined[], today: string): Promise<DispatchExportRow[]> {
  const notes = rows.filter((d) => d.kind === 'note');
  // The current reply of each note (replaced_by null: the row `reply record --replace` kept last).
  const replies = new Map<string, { received_on: string; channel: string }>();
  if (notes.length > 0) {
    const found = await db
      .selectFrom('replies')
      .select(['dispatch_id', 'received_on', 'channel'])
      .where('dispatch_id', 'in', notes.map((d) => d.id))
      .where('replaced_by', 'is', null)
      .execute();
    for (const r of found) replies.set(r.dispatch_id, r);
  }
  // Reminders sent for each note, dated as `campaign status` dates them (the reminder's own date);
  // read per campaign by recipient, along the (campaign, recipient, kind, key) index.
  const reminders = new Map<string, string[]>();
  const byCampaign = new Map<string, string[]>();
  for (const d of notes) {
    const ids = byCampaign.get(d.campaign_id) ?? [];
    ids.push(d.recipient_id);
    byCampaign.set(d.campaign_id, ids);
  }
  for (const [campaignId, recipientIds] of byCampaign) {
    const sent = await db
      .selectFrom('dispatches')
      .select(['original_dispatch_id', 'letter_date', 'sent_at'])
      .where('campaign_id', '=', campaignId)
      .where('recipient_id', 'in', recipientIds)
      .where('kind', '=', 'reminder')
      .where('state', '=', 'sent')
      .orderBy('letter_date')
      .orderBy('created_at')
      .execute();
    for (const m of sent) {
      if (!m.original_dispatch_id) continue;
      const dates = reminders.get(m.original_dispatch_id) ?? [];
      dates.push(m.letter_date ?? m.sent_at?.slice(0, 10) ?? '?');
      reminders.set(m.original_dispatch_id, dates);
    }
  }

  // The e-mail subject as sent (reference and subject of the letter, or a reminder's), recorded
  // in the dispatch.sent event; read along the (dispatch_id, id) index. The last one counts.
  const subjects = new Map<string, string>();
  const sentIds = rows.filter((d) => d.state === 'sent').map((d) => d.id);
  if (sentIds.length > 0) {
    const events = await db.selectFrom('events').select(['id', 'dispatch_id', 'data']).where('dispatch_id', 'in', sentIds).where('type', '=', 'dispatch.sent').orderBy('id').execute();
    for (const e of events) {
      const subject = readEventSubject(e);
      if (e.dispatch_id !== null && subject !== undefined) subjects.set(e.dispatch_id, subject);
    }
  }

  return rows.map((d) => {
    const snap = readSnapshot(d);
    const lang = d.language ?? snap?.language ?? null;
    const names = snap?.names ?? {};
    const reply = d.kind === 'note' ? replies.get(d.id) : undefined;
    return {
      reference: d.reference,
      campaign_id: d.campaign_id,
      dispatch_id: d.id,
      kind: d.kind,
      reminder_key: d.reminder_key,
      recipient_id: d.recipient_id,
      recipient_name: (lang !== null ? names[lang]?.short : undefined) ?? (snap?.language !== undefined ? names[snap.language]?.short : undefined) ?? null,
      language: lang,
      channel: 'email',
      to: snap?.email?.to ?? [],
      cc: snap?.email?.cc ?? [],
      subject: subjects.get(d.id) ?? null,
      queued: d.created_at,
      sent: d.sent_at,
      message_id: d.message_id,
      smtp_response: d.smtp_response,
      pdf_sha256: d.pdf_sha256,
      attempts: d.attempts,
      possible_duplicate: d.possible_duplicate !== 0,
      reminders_sent: d.kind === 'note' ? (reminders.get(d.id) ?? []) : [],
      reply_received: reply?.received_on ?? null,
      reply_channel: reply?.channel ?? null,
      overdue: d.kind === 'note' ? isOverdue(d.state, !!reply, today, d.reply_by) : null,
      status: d.state,
    };
  });
}

/** The parts of the recipient snapshot (a registry record, src/registry/schema.ts) the export shows. */
type Snapshot = { language?: string; names?: Partial<Record<string, { short?: string }>>; email?: { to?: string[]; cc?: string[] } };

function readSnapshot(d: Joined): Snapshot | undefined {
  if (d.recipient_snapshot === null) return undefined;
  try {
    const s = JSON.parse(d.recipient_snapshot) as unknown;
    if (typeof s === 'object' && s !== null && !Array.isArray(s)) return s as Snapshot;
  } catch {
    // fall through
  }
  throw new InputError(`dispatch ${d.id}: recipient_snapshot is not a JSON object`);
}

function readEventSubject(e: { id: number; data: string }): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(e.data);
  } catch {
    throw new InputError(`event ${e.id}: data is not valid JSON (see chancery audit verify)`);
  }
  const subject = (data as { subject?: unknown } | null)?.subject;
  return typeof subject === 'string' ? subject : undefined;
}

const DISPATCH_WRITER: RowWriter<DispatchExportRow> = {
  columns: DISPATCH_EXPORT_COLUMNS,
  csvCells: (r) =>
    DISPATCH_EXPORT_COLUMNS.map((c) => {
      const v = r[c];
      if (Array.isArray(v)) return v.join(';');
      if (typeof v === 'boolean') return String(v);
      return v;
    }),
  // Keys in column order; lists stay lists.
  jsonLine: (r) => JSON.stringify(Object.fromEntries(DISPATCH_EXPORT_COLUMNS.map((c) => [c, r[c]]))),
};

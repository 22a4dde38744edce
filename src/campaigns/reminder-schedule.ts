import type { Config } from '../config.ts';
import type { Campaign } from './repo.ts';
import { addDays, zonedInstant } from '../clock.ts';
import { appendEvent } from '../store/events.ts';
import type { RemindersTable } from '../store/schema.ts';
import { nowIso, type Trx } from '../store/tx.ts';

/**
 * The reminder schedule of a campaign, kept in the store (table `reminders`): one row per round.
 * - `--remind 14,3`: rounds b14 and b3, 14 and 3 days before the reply-by date;
 * - `--overdue-remind 7`: round o7, 7 days after it.
 * A round is due on its calendar day at the duty station at REMIND_LOCAL_TIME (09:00 Vienna by
 * default), stored as a UTC instant. BullMQ jobs are only a trigger rebuilt from these rows
 * (see jobs.ts), so losing a Redis key never loses a reminder.
 */

export type ReminderRow = RemindersTable;

export type PlannedRound = { key: string; kind: 'before' | 'overdue'; offsetDays: number; dueOn: string; dueAt: string };

/** Why a round is cancelled when it would fall before the note went out. */
export const DUE_BEFORE_SEND = 'due before the note was sent';

export function reminderRowId(campaignId: string, key: string): string {
  return `${campaignId}-${key}`;
}

/** The rounds a campaign asks for, earliest first. */
export function planRounds(cfg: Config, c: Pick<Campaign, 'reply_by' | 'remind_offsets' | 'overdue_remind'>): PlannedRound[] {
  const before = JSON.parse(c.remind_offsets) as number[];
  const rounds: Omit<PlannedRound, 'dueAt'>[] = before.map((n) => ({ key: `b${n}`, kind: 'before' as const, offsetDays: n, dueOn: addDays(c.reply_by, -n) }));
  if (c.overdue_remind) rounds.push({ key: `o${c.overdue_remind}`, kind: 'overdue', offsetDays: c.overdue_remind, dueOn: addDays(c.reply_by, c.overdue_remind) });
  return rounds
    .map((r) => ({ ...r, dueAt: zonedInstant(r.dueOn, cfg.REMIND_LOCAL_TIME, cfg.DUTY_STATION_TZ).toISOString() }))
    .sort((a, b) => a.dueAt.localeCompare(b.dueAt));
}

/**
 * Inserts the rounds not yet in the store (called when the campaign starts sending, inside that
 * transaction). A round that would fall before `now` is recorded as cancelled: a reminder never
 * precedes the note it recalls.
 */
export async function scheduleRemindersTx(trx: Trx, cfg: Config, c: Campaign, now: Date, actor: string): Promise<ReminderRow[]> {
  const at = nowIso();
  const existing = new Set((await trx.selectFrom('reminders').select('key').where('campaign_id', '=', c.id).execute()).map((r) => r.key));
  for (const r of planRounds(cfg, c)) {
    if (existing.has(r.key)) continue;
    const past = Date.parse(r.dueAt) <= now.getTime();
    const row: ReminderRow = {
      id: reminderRowId(c.id, r.key),
      campaign_id: c.id,
      key: r.key,
      kind: r.kind,
      offset_days: r.offsetDays,
      due_on: r.dueOn,
      due_at: r.dueAt,
      state: past ? 'cancelled' : 'scheduled',
      state_reason: past ? DUE_BEFORE_SEND : null,
      result: null,
      ran_at: null,
      created_at: at,
      updated_at: at,
    };
    await trx.insertInto('reminders').values(row).execute();
    await appendEvent(trx, { type: 'reminder.scheduled', campaignId: c.id, actor, at, data: { key: r.key, due_on: r.dueOn, due_at: r.dueAt, state: row.state, ...(past ? { reason: DUE_BEFORE_SEND, clock: now.toISOString() } : {}) } });
  }
  return trx.selectFrom('reminders').selectAll().where('campaign_id', '=', c.id).orderBy('due_at').execute();
}

/**
 * After `campaign set-reply-by`: every round still pending moves with the date (and a round
 * cancelled only because it fell before the note went out comes back if it is now ahead).
 * `c` carries the new reply_by. Done rounds stay as they were.
 */
export async function rescheduleRemindersTx(trx: Trx, cfg: Config, c: Campaign, now: Date, actor: string): Promise<number> {
  const plan = new Map(planRounds(cfg, c).map((r) => [r.key, r]));
  const rows = await trx.selectFrom('reminders').selectAll().where('campaign_id', '=', c.id).execute();
  const at = nowIso();
  let moved = 0;
  for (const row of rows) {
    const r = plan.get(row.key);
    if (!r) continue;
    const revive = row.state === 'cancelled' && row.state_reason === DUE_BEFORE_SEND && Date.parse(r.dueAt) > now.getTime();
    if (row.state !== 'scheduled' && !revive) continue;
    if (row.due_at === r.dueAt && !revive) continue;
    await trx
      .updateTable('reminders')
      .set({ due_on: r.dueOn, due_at: r.dueAt, state: 'scheduled', state_reason: null, updated_at: at })
      .where('id', '=', row.id)
      .execute();
    await appendEvent(trx, { type: 'reminder.rescheduled', campaignId: c.id, actor, at, data: { key: row.key, from: row.due_at, to: r.dueAt, due_on: r.dueOn, reply_by: c.reply_by } });
    moved++;
  }
  return moved;
}

/** Cancels every pending round of a campaign (campaign cancelled). */
export async function cancelRemindersTx(trx: Trx, campaignId: string, actor: string, reason: string): Promise<number> {
  const rows = await trx.selectFrom('reminders').select(['id', 'key']).where('campaign_id', '=', campaignId).where('state', '=', 'scheduled').execute();
  const at = nowIso();
  for (const row of rows) {
    await trx.updateTable('reminders').set({ state: 'cancelled', state_reason: reason, updated_at: at }).where('id', '=', row.id).where('state', '=', 'scheduled').execute();
    await appendEvent(trx, { type: 'reminder.cancelled', campaignId, actor, at, data: { key: row.key, reason } });
  }
  return rows.length;
}

import { enqueueDispatches, type Queues } from '../queue/queues.ts';
import { batches } from '../store/batches.ts';
import type { Db } from '../store/db.ts';
import { appendEvents } from '../store/events.ts';
import { nowIso, writeTx } from '../store/tx.ts';
import { getCampaign } from './repo.ts';

/**
 * Puts a job on the right queue for every dispatch not yet done: a render job for pending and
 * queued ones, a send job for rendered ones and ones left in 'sending' (the send step tells a
 * crash from a job still running). Job ids carry the campaign's enqueue round.
 */
export async function enqueuePending(db: Db, queues: Queues, id: string, actor: string): Promise<number> {
  const campaign = await getCampaign(db, id);
  const rows = await db
    .selectFrom('dispatches')
    .select(['id', 'state'])
    .where('campaign_id', '=', id)
    .where('state', 'in', ['pending', 'queued', 'rendered', 'sending'])
    .orderBy('recipient_id')
    .execute();
  const renderRows = rows.filter((r) => r.state === 'pending' || r.state === 'queued');
  const toRender = renderRows.map((r) => ({ campaignId: id, dispatchId: r.id }));
  const toSend = rows.filter((r) => r.state === 'rendered' || r.state === 'sending').map((r) => ({ campaignId: id, dispatchId: r.id }));
  await enqueueDispatches(queues, 'render', toRender, campaign.enqueue_round);
  await enqueueDispatches(queues, 'send', toSend, campaign.enqueue_round);
  // Rows become 'queued' once their job is in Redis; a crash before this leaves them 'pending'
  // and the next send/resume enqueues them again (same job ids, so no duplicate jobs).
  const pending = renderRows.filter((r) => r.state === 'pending');
  if (pending.length > 0) {
    const at = nowIso();
    await writeTx(db, async (trx) => {
      const queued = new Set<string>();
      for (const batch of batches(pending)) {
        const ids = batch.map((p) => p.id);
        const res = await trx.updateTable('dispatches').set({ state: 'queued', updated_at: at }).where('id', 'in', ids).where('state', '=', 'pending').returning('id').execute();
        for (const r of res) queued.add(r.id);
      }
      await appendEvents(
        trx,
        pending.filter((p) => queued.has(p.id)).map((p) => ({ type: 'dispatch.queued', campaignId: id, dispatchId: p.id, actor, at, data: { round: campaign.enqueue_round } })),
      );
    });
  }
  return toRender.length + toSend.length;
}

import type { DispatchContext } from './context.ts';

/**
 * Per-campaign rate limit (campaign.rate_per_minute), on top of the global BullMQ limiter:
 * a counter per campaign and minute in Redis, shared by every worker on every machine.
 * Returns how long the job should wait (0: go ahead).
 */
export async function campaignRateDelay(ctx: DispatchContext, campaignId: string): Promise<number> {
  const row = await ctx.db.selectFrom('campaigns').select('rate_per_minute').where('id', '=', campaignId).executeTakeFirst();
  const limit = row?.rate_per_minute;
  if (!limit) return 0;
  const now = Date.now();
  const window = Math.floor(now / 60_000);
  const key = `${ctx.cfg.QUEUE_PREFIX}:rate:${campaignId}:${window}`;
  const n = await ctx.queues.connection.incr(key);
  if (n === 1) await ctx.queues.connection.pexpire(key, 120_000);
  if (n <= limit) return 0;
  // Spread the waiting jobs over the next window rather than releasing them all at once.
  return (window + 1) * 60_000 - now + Math.floor(Math.random() * 1000);
}

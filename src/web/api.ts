import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { campaignStatus } from '../campaigns/lifecycle.ts';
import { getCampaign } from '../campaigns/repo.ts';
import { getRecipient, recipientSchema } from '../registry/index.ts';
import { campaignIdSchema, recipientIdSchema } from './pages.ts';
import { allRecipients, editRecipient, importRegistryBytes, recipientFields, searchRecipients } from './registry-web.ts';
import { permissionsOf } from './roles.ts';
import { doRecordReply, followUp, REPLY_CHANNELS } from './replies-web.ts';
import type { WebApp } from './server.ts';
import {
  doApprove,
  doCancel,
  doCreate,
  doPause,
  doPreflight,
  doResume,
  doRetry,
  doSend,
  doSetReplyBy,
  exportAudit,
  HttpError,
  listCampaigns,
  progress,
  templateChecks,
  templateGroups,
} from './service.ts';
import type { User } from './users.ts';

/**
 * The same operations as JSON under /api/, described by zod schemas (validation, response
 * serialization and the OpenAPI document at /api/openapi.json). Authentication is the session
 * cookie of /login; every POST needs the x-csrf-token header from GET /api/session.
 */

function me(req: FastifyRequest): User {
  if (!req.auth) throw new HttpError(401, 'sign in first');
  return req.auth.user;
}

const errorSchema = z.object({ error: z.string(), message: z.string() });
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema };

const campaignState = z.enum(['draft', 'approved', 'sending', 'paused', 'cancelled', 'done']);
const campaignSummary = z.object({
  id: z.string(),
  reference: z.string(),
  template_id: z.string(),
  audience: z.string(),
  state: campaignState,
  state_reason: z.string().nullable(),
  letter_date: z.string(),
  reply_by: z.string(),
  created_by: z.string(),
  created_at: z.string(),
  approved_by: z.string().nullable(),
  total: z.number().int(),
  sent: z.number().int(),
  failed: z.number().int(),
});
const progressSchema = z.object({
  total: z.number().int(),
  sent: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  open: z.number().int(),
  campaignState: z.string(),
  reason: z.string().nullable(),
});
const dispatchState = z.enum(['pending', 'queued', 'rendered', 'sending', 'sent', 'failed', 'cancelled']);
const statusSchema = z.object({
  campaign: z.object({
    id: z.string(),
    reference: z.string(),
    template_id: z.string(),
    state: campaignState,
    state_reason: z.string().nullable(),
    letter_date: z.string(),
    reply_by: z.string(),
    created_by: z.string(),
    approved_by: z.string().nullable(),
    approved_at: z.string().nullable(),
  }),
  counts: z.record(z.string(), z.number().int()),
  dispatches: z.array(
    z.object({
      recipient_id: z.string(),
      kind: z.string(),
      state: dispatchState,
      attempts: z.number().int(),
      possible_duplicate: z.boolean(),
      message_id: z.string().nullable(),
      error: z.string().nullable(),
      sent_at: z.string().nullable(),
    }),
  ),
  testSends: z.number().int(),
});
const gapSchema = z.object({ recipientId: z.string(), language: z.string(), field: z.string(), problem: z.string() });
const idParams = z.object({ id: campaignIdSchema });
const noBody = z.object({}).optional();

export function registerApiRoutes(appIn: WebApp): void {
  const app = appIn.withTypeProvider<ZodTypeProvider>();
  const rt = appIn.runtime;

  app.get(
    '/api/session',
    { schema: { tags: ['session'], summary: 'Who is signed in, what they may do, and the CSRF token for POST requests', response: { 200: z.object({ user: z.string(), role: z.string(), can: z.record(z.string(), z.boolean()), csrfToken: z.string() }), ...errors } } },
    async (req, reply) => {
      const user = me(req);
      const csrfToken = reply.generateCsrf({ userInfo: req.auth!.sessionId } as Parameters<typeof reply.generateCsrf>[0]);
      return { user: user.name, role: user.role, can: permissionsOf(user.role), csrfToken };
    },
  );

  // ------------------------------------------------------------ campaigns

  app.get('/api/campaigns', { schema: { tags: ['campaigns'], summary: 'Campaigns with state and progress', response: { 200: z.array(campaignSummary), ...errors } } }, async () => listCampaigns(rt));

  app.post(
    '/api/campaigns',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Create a campaign (drafter); the signed-in user is its creator',
        body: z.object({
          template: z.string().max(100).describe('template id, e.g. cu-2009-92'),
          reference: z.string().max(200).describe('"CU 2009/92 (A)" or next:CU'),
          audience: z.string().max(5000).describe("'all', 'group:NAME' or ids FRA,DEU"),
          replyBy: z.string().max(20).describe('yyyy-mm-dd'),
          letterDate: z.string().max(20).optional(),
          remind: z.string().max(100).optional().describe('days before reply-by: 14,3'),
        }),
        response: { 201: z.object({ id: z.string(), reference: z.string(), state: campaignState }), ...errors },
      },
    },
    async (req, reply) => {
      const c = await doCreate(rt, me(req), req.body);
      return reply.code(201).send({ id: c.id, reference: c.reference, state: c.state });
    },
  );

  app.get('/api/campaigns/:id', { schema: { tags: ['campaigns'], summary: 'A campaign and the state of each dispatch', params: idParams, response: { 200: statusSchema, ...errors } } }, async (req) => {
    const s = await campaignStatus(rt.db, req.params.id);
    return s;
  });

  app.get('/api/campaigns/:id/progress', { schema: { tags: ['campaigns'], summary: 'Sent, failed and open counts (polled by the campaign page)', params: idParams, response: { 200: progressSchema, ...errors } } }, async (req) =>
    progress(rt, req.params.id),
  );

  app.post(
    '/api/campaigns/:id/preflight',
    { schema: { tags: ['campaigns'], summary: 'Merge and render every letter; list every gap (nothing stored)', params: idParams, body: noBody, response: { 200: z.object({ recipients: z.number().int(), rendered: z.number().int(), gaps: z.array(gapSchema) }), ...errors } } },
    async (req) => doPreflight(rt, me(req), req.params.id),
  );

  const stateReply = z.object({ id: z.string(), state: campaignState, approved_by: z.string().nullable() });
  app.post('/api/campaigns/:id/approve', { schema: { tags: ['campaigns'], summary: 'Approve (approver; never the creator)', params: idParams, body: noBody, response: { 200: stateReply, ...errors } } }, async (req) => {
    const c = await doApprove(rt, me(req), req.params.id);
    return { id: c.id, state: c.state, approved_by: c.approved_by };
  });
  app.post('/api/campaigns/:id/send', { schema: { tags: ['campaigns'], summary: 'Send an approved campaign (approver): dispatches created and queued', params: idParams, body: noBody, response: { 200: z.object({ created: z.number().int(), enqueued: z.number().int() }), ...errors } } }, async (req) =>
    doSend(rt, me(req), req.params.id),
  );
  app.post('/api/campaigns/:id/pause', { schema: { tags: ['campaigns'], summary: 'Pause sending (approver)', params: idParams, body: z.object({ reason: z.string().max(500).optional() }).optional(), response: { 200: stateReply, ...errors } } }, async (req) => {
    const c = await doPause(rt, me(req), req.params.id, req.body?.reason ?? null);
    return { id: c.id, state: c.state, approved_by: c.approved_by };
  });
  app.post('/api/campaigns/:id/resume', { schema: { tags: ['campaigns'], summary: 'Resume a paused campaign (approver)', params: idParams, body: noBody, response: { 200: z.object({ enqueued: z.number().int() }), ...errors } } }, async (req) =>
    doResume(rt, me(req), req.params.id),
  );
  app.post('/api/campaigns/:id/cancel', { schema: { tags: ['campaigns'], summary: 'Cancel what is not yet sent (approver)', params: idParams, body: noBody, response: { 200: z.object({ cancelled: z.number().int(), sent: z.number().int(), inFlight: z.number().int() }), ...errors } } }, async (req) =>
    doCancel(rt, me(req), req.params.id),
  );
  app.post('/api/campaigns/:id/retry-failed', { schema: { tags: ['campaigns'], summary: 'Queue failed dispatches again (approver)', params: idParams, body: noBody, response: { 200: z.object({ requeued: z.number().int() }), ...errors } } }, async (req) =>
    doRetry(rt, me(req), req.params.id),
  );
  app.post('/api/campaigns/:id/reply-by', { schema: { tags: ['campaigns'], summary: 'Move the reply-by date (drafter)', params: idParams, body: z.object({ replyBy: z.string().max(20) }), response: { 200: z.object({ id: z.string(), reply_by: z.string() }), ...errors } } }, async (req) => {
    const c = await doSetReplyBy(rt, me(req), req.params.id, req.body.replyBy);
    return { id: c.id, reply_by: c.reply_by };
  });

  app.get(
    '/api/campaigns/:id/audit',
    {
      schema: {
        tags: ['audit'],
        summary: "The campaign's audit events, or one row per dispatch with rows=dispatches (CSV or JSON Lines)",
        params: idParams,
        querystring: z.object({ format: z.enum(['csv', 'jsonl']).default('jsonl'), rows: z.enum(['events', 'dispatches']).default('events') }),
      },
    },
    async (req, reply) => {
      const c = await getCampaign(rt.db, req.params.id);
      const { text } = await exportAudit(rt, me(req), c.id, req.query.format, req.query.rows);
      return reply.type(req.query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8').send(text);
    },
  );

  // ------------------------------------------------------------ replies (src/deadlines)

  app.get(
    '/api/campaigns/:id/follow-up',
    {
      schema: {
        tags: ['replies'],
        summary: 'Per recipient: note state, reply on record, reminders, overdue (on the store clock)',
        params: idParams,
        response: {
          200: z.object({
            today: z.string(),
            reply_by: z.string(),
            counts: z.object({ sent: z.number().int(), replied: z.number().int(), reminded: z.number().int(), overdue: z.number().int() }),
            recipients: z.array(
              z.object({
                recipient_id: z.string(),
                note_state: z.string(),
                sent_at: z.string().nullable(),
                replied: z.object({ on: z.string(), channel: z.string(), their_reference: z.string().nullable(), source: z.string(), logged_by: z.string() }).nullable(),
                reminders: z.array(z.object({ key: z.string(), date: z.string().nullable(), state: z.string(), sent_at: z.string().nullable() })),
                overdue: z.boolean(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (req) => {
      const { follow } = await followUp(rt, req.params.id);
      return { today: follow.today, reply_by: follow.reply_by, counts: follow.counts, recipients: follow.recipients };
    },
  );

  app.post(
    '/api/campaigns/:id/replies',
    {
      schema: {
        tags: ['replies'],
        summary: 'Record a reply (drafter); files go through the page form (multipart)',
        params: idParams,
        body: z.object({
          recipient: recipientIdSchema,
          receivedOn: z.string().max(20).optional().describe('yyyy-mm-dd at the duty station; default today'),
          channel: z.enum(REPLY_CHANNELS as [string, ...string[]]).optional(),
          theirReference: z.string().max(200).optional(),
          note: z.string().max(4000).optional(),
          replace: z.boolean().optional(),
        }),
        response: { 201: z.object({ id: z.string(), received_on: z.string(), channel: z.string(), cancelledReminders: z.number().int() }), ...errors },
      },
    },
    async (req, reply) => {
      const r = await doRecordReply(rt, me(req), req.params.id, req.body.recipient, req.body);
      return reply.code(201).send({ id: r.reply.id, received_on: r.reply.received_on, channel: r.reply.channel, cancelledReminders: r.cancelledReminders.length });
    },
  );

  // ------------------------------------------------------------ registry

  const recipientRow = z.object({ id: z.string(), language: z.string(), name: z.string(), email: z.array(z.string()) });
  app.get('/api/registry', { schema: { tags: ['registry'], summary: 'Search recipients (id, names, e-mail, city, group)', querystring: z.object({ q: z.string().max(200).optional() }), response: { 200: z.array(recipientRow), ...errors } } }, async (req) =>
    searchRecipients(await allRecipients(rt), req.query.q ?? '').map((r) => ({ id: r.id, language: r.language, name: r.names[r.language]?.short ?? '', email: r.email.to })),
  );
  app.get('/api/registry/:rid', { schema: { tags: ['registry'], summary: 'One recipient, the full record', params: z.object({ rid: recipientIdSchema }), response: { 200: recipientSchema, ...errors } } }, async (req) => {
    const r = await getRecipient(rt.db, req.params.rid);
    if (!r) throw new HttpError(404, `unknown recipient "${req.params.rid}"`);
    return r;
  });
  const problems = z.object({ problems: z.array(z.string()) });
  app.get('/api/registry/:rid/fields', { schema: { tags: ['registry'], summary: 'One recipient as the CSV columns an edit takes', params: z.object({ rid: recipientIdSchema }), response: { 200: z.record(z.string(), z.string()), ...errors } } }, async (req) => {
    const r = await getRecipient(rt.db, req.params.rid);
    if (!r) throw new HttpError(404, `unknown recipient "${req.params.rid}"`);
    return Object.fromEntries(recipientFields(r).map((f) => [f.column, f.value]));
  });
  app.post(
    '/api/registry/:rid',
    { schema: { tags: ['registry'], summary: 'Edit one recipient (admin): its CSV columns, validated as an import', params: z.object({ rid: recipientIdSchema }), body: z.record(z.string(), z.string()), response: { 200: z.object({ id: z.string() }), 400: problems.or(errorSchema), 401: errorSchema, 403: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      const r = await editRecipient(rt, me(req), req.params.rid, req.body);
      if (r.problems.length > 0) return reply.code(400).send({ problems: r.problems });
      return { id: req.params.rid };
    },
  );
  app.post(
    '/api/registry/import',
    {
      schema: {
        tags: ['registry'],
        summary: 'Import a registry CSV (admin): every problem listed; all rows or none; dryRun writes nothing',
        body: z.object({ csv: z.string().max(20 * 1024 * 1024), dryRun: z.boolean().default(true), name: z.string().max(200).optional() }),
        response: { 200: z.object({ rows: z.number().int(), dryRun: z.boolean(), added: z.number().int(), updated: z.number().int(), unchanged: z.number().int() }), 400: problems.or(errorSchema), 401: errorSchema, 403: errorSchema },
      },
    },
    async (req, reply) => {
      const o = await importRegistryBytes(rt, me(req), req.body.name ?? 'request body', Buffer.from(req.body.csv, 'utf8'), 'csv', req.body.dryRun);
      if (o.problems.length > 0 || !o.result) return reply.code(400).send({ problems: o.problems });
      return { rows: o.rows, dryRun: o.dryRun, ...o.result };
    },
  );

  // ------------------------------------------------------------ templates

  app.get(
    '/api/templates',
    {
      schema: {
        tags: ['templates'],
        summary: 'Templates and their language versions; broken: the files that do not load, with their line and error',
        response: {
          200: z.array(
            z.object({
              id: z.string(),
              versions: z.array(z.object({ language: z.string(), version: z.number(), kind: z.string(), reference: z.string(), subject: z.string() })),
              broken: z.array(z.object({ language: z.string(), file: z.string(), problem: z.string() })),
            }),
          ),
          ...errors,
        },
      },
    },
    async () =>
      (await templateGroups(rt)).map((g) => ({
        id: g.id,
        versions: g.versions.map((v) => ({ language: v.language, version: v.version, kind: v.kind, reference: v.reference, subject: v.subject })),
        broken: g.broken.map((b) => ({ language: b.language, file: b.file, problem: b.problem })),
      })),
  );
  app.get(
    '/api/templates/:tid/check',
    { schema: { tags: ['templates'], summary: 'Placeholders and problems of each language version', params: z.object({ tid: z.string().max(64) }), response: { 200: z.array(z.object({ language: z.string(), file: z.string(), placeholders: z.array(z.string()), problems: z.array(z.string()) })), ...errors } } },
    async (req) => templateChecks(rt, req.params.tid),
  );
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getCampaign, type Campaign } from '../campaigns/repo.ts';
import { campaignStatus } from '../campaigns/lifecycle.ts';
import { ChanceryError } from '../errors.ts';
import { formatGaps } from '../merge/index.ts';
import { getRecipient, registryFormatOf } from '../registry/index.ts';
import { doAssign, doRecordReply, followUp, REPLY_CHANNELS, unmatchedEmails } from './replies-web.ts';
import { allRecipients, editRecipient, importRegistryBytes, recipientFields, searchRecipients } from './registry-web.ts';
import { can } from './roles.ts';
import { FLASH_COOKIE, pageData, SESSION_COOKIE, setFlash, type WebApp } from './server.ts';
import {
  campaignRows,
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
  letterPdf,
  listCampaigns,
  need,
  progress,
  recordEvent,
  ROW_FILTERS,
  templateChecks,
  templateGroups,
  templatePreview,
  type Letter,
} from './service.ts';
import { addUser, authenticate, createSession, deleteSession, listUsers, ROLES, SESSION_HOURS, setUserRole, type User } from './users.ts';

/** The HTML pages. Each action is a form POST answered by a redirect (success or a refusal in words). */

export const campaignIdSchema = z.string().regex(/^c[0-9a-z]{1,40}$/, 'is not a campaign id');
export const recipientIdSchema = z.string().min(1).max(80);
const csrfField = { _csrf: z.string().optional() };

function me(req: FastifyRequest): User {
  if (!req.auth) throw new HttpError(401, 'sign in first');
  return req.auth.user;
}

function html(reply: FastifyReply, app: WebApp, req: FastifyRequest, view: string, data: Record<string, unknown>, status = 200) {
  return reply.code(status).type('text/html; charset=utf-8').send(app.views.render(view, { ...pageData(req, reply), ...data }));
}

/** Runs a form action: on success or on a refusal of the domain (bad date, wrong state), back to `to` with a message. */
async function act(reply: FastifyReply, to: string, fn: () => Promise<string>) {
  try {
    setFlash(reply, 'ok', await fn());
  } catch (err) {
    if (!(err instanceof ChanceryError)) throw err; // 403 and the unexpected go to the error page
    setFlash(reply, 'error', err.message);
  }
  return reply.redirect(to, 303);
}

function sendPdf(reply: FastifyReply, letter: Letter) {
  return reply
    .type('application/pdf')
    .header('content-disposition', `inline; filename="${letter.filename}"`)
    .header('x-chancery-letter', letter.kind)
    .header('cache-control', 'no-store')
    .send(letter.bytes);
}

/**
 * Where to go after signing in: a path of this site only, never "//other.example" nor "/\\other".
 * Anything but printable ASCII (controls, spaces, other letters) is percent-encoded first, so
 * the Location header is always valid and a browser cannot strip a tab to make "//".
 */
function safeNext(next: string | undefined): string {
  if (!next) return '/campaigns';
  const encoded = next.replace(/[^\x21-\x7e]/gu, (c) => Buffer.from(c, 'utf8').toString('hex').toUpperCase().replace(/../g, '%$&'));
  return /^\/(?!\/)[^\\]*$/.test(encoded) && !encoded.startsWith('/login') ? encoded : '/campaigns';
}

/** The actions a campaign's page offers: what the role allows and the state admits. */
function actionsFor(user: User, c: Campaign, counts: { failed: number }) {
  const open = !['cancelled', 'done'].includes(c.state);
  return {
    preflight: can(user.role, 'preflight') && ['draft', 'approved', 'paused'].includes(c.state),
    approve: can(user.role, 'approve') && ['draft', 'approved', 'paused'].includes(c.state),
    send: can(user.role, 'approve') && c.state === 'approved',
    pause: can(user.role, 'approve') && c.state === 'sending',
    resume: can(user.role, 'approve') && c.state === 'paused',
    cancel: can(user.role, 'approve') && open,
    retry: can(user.role, 'approve') && counts.failed > 0 && ['sending', 'done', 'paused'].includes(c.state),
    replyBy: can(user.role, 'draft') && c.state !== 'cancelled',
  };
}

export function registerPageRoutes(appIn: WebApp, opts: { loginRateLimit: { max: number; timeWindowMs: number } }): void {
  const app = appIn.withTypeProvider<ZodTypeProvider>();
  const rt = appIn.runtime;
  const hide = { hide: true };

  // ------------------------------------------------------------ sign in / out

  app.get('/login', { config: { public: true }, schema: { ...hide, querystring: z.object({ next: z.string().max(2000).optional() }) } }, async (req, reply) => {
    if (req.auth) return reply.redirect(safeNext(req.query.next), 303);
    return html(reply, appIn, req, 'login', { title: 'Sign in', next: req.query.next ?? '' });
  });

  app.post(
    '/login',
    {
      config: { public: true, rateLimit: { max: opts.loginRateLimit.max, timeWindow: opts.loginRateLimit.timeWindowMs } },
      schema: { ...hide, body: z.object({ ...csrfField, name: z.string().max(200), password: z.string().max(2000), next: z.string().max(2000).optional() }) },
    },
    async (req, reply) => {
      const { name, password, next } = req.body;
      const to = safeNext(next); // settled before anything is written
      const user = await authenticate(rt.db, name, password);
      if (!user) {
        await recordEvent(rt, 'web', 'user.sign-in-failed', { name: name.slice(0, 64), ip: req.ip });
        return html(reply, appIn, req, 'login', { title: 'Sign in', next: next ?? '', error: 'Wrong name or password.', name }, 401);
      }
      const session = await createSession(rt.db, user.name);
      await recordEvent(rt, user.name, 'user.signed-in', { role: user.role, ip: req.ip });
      reply.setCookie(SESSION_COOKIE, session.token, { path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto', maxAge: SESSION_HOURS * 3600 });
      return reply.redirect(to, 303);
    },
  );

  app.post('/logout', { schema: { ...hide, body: z.object(csrfField) } }, async (req, reply) => {
    if (req.auth) {
      await deleteSession(rt.db, req.auth.sessionId);
      await recordEvent(rt, req.auth.user.name, 'user.signed-out', {});
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    reply.clearCookie(FLASH_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  app.get('/', { schema: hide }, async (_req, reply) => reply.redirect('/campaigns', 303));

  // ------------------------------------------------------------ campaigns

  app.get('/campaigns', { schema: hide }, async (req, reply) => {
    const campaigns = await listCampaigns(rt);
    const templates = can(me(req).role, 'draft') ? (await templateGroups(rt)).filter((g) => g.versions.length > 0) : [];
    return html(reply, appIn, req, 'campaigns', { title: 'Campaigns', campaigns, templates, nav: 'campaigns' });
  });

  app.post(
    '/campaigns',
    {
      schema: {
        ...hide,
        body: z.object({
          ...csrfField,
          template: z.string().max(100),
          reference: z.string().max(200),
          audience: z.string().max(5000),
          replyBy: z.string().max(20),
          letterDate: z.string().max(20).optional(),
          remind: z.string().max(100).optional(),
        }),
      },
    },
    async (req, reply) => {
      try {
        const c = await doCreate(rt, me(req), req.body);
        setFlash(reply, 'ok', `Campaign ${c.reference} created (${c.id}). Run the preflight, then ask an approver to clear it.`);
        return reply.redirect(`/campaigns/${c.id}`, 303);
      } catch (err) {
        if (!(err instanceof ChanceryError)) throw err;
        setFlash(reply, 'error', err.message);
        return reply.redirect('/campaigns', 303);
      }
    },
  );

  const campaignPage = async (req: FastifyRequest, reply: FastifyReply, id: string, show: string, extra: Record<string, unknown> = {}) => {
    const user = me(req);
    const campaign = await getCampaign(rt.db, id);
    const status = await campaignStatus(rt.db, id);
    const p = await progress(rt, id);
    const filter = (ROW_FILTERS as readonly string[]).includes(show) ? (show as (typeof ROW_FILTERS)[number]) : 'all';
    const { follow, byRecipient } = await followUp(rt, id);
    const rows = await campaignRows(rt, campaign, filter, byRecipient);
    return html(reply, appIn, req, 'campaign', {
      title: `${campaign.reference} — ${campaign.template_id}`,
      nav: 'campaigns',
      campaign,
      remind: (JSON.parse(campaign.remind_offsets) as number[]).join(', '),
      counts: status.counts,
      progress: { ...p, done: p.sent + p.failed + p.cancelled },
      live: campaign.state === 'sending',
      rows,
      filters: ROW_FILTERS.map((f) => ({ name: f, active: f === filter })),
      actions: actionsFor(user, campaign, status.counts),
      workers: rt.inProcessWorkers,
      follow: follow.counts,
      today: follow.today,
      ...extra,
    });
  };

  const idParams = z.object({ id: campaignIdSchema });

  app.get('/campaigns/:id', { schema: { ...hide, params: idParams, querystring: z.object({ show: z.string().max(20).optional() }) } }, async (req, reply) =>
    campaignPage(req, reply, req.params.id, req.query.show ?? 'all'),
  );

  app.post('/campaigns/:id/preflight', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) => {
    const r = await doPreflight(rt, me(req), req.params.id);
    return campaignPage(req, reply, req.params.id, 'all', {
      preflight: { ...r, ok: r.gaps.length === 0, text: r.gaps.length ? formatGaps(r.gaps) : '' },
    });
  });

  const back = (id: string) => `/campaigns/${id}`;
  app.post('/campaigns/:id/approve', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => {
      const c = await doApprove(rt, me(req), req.params.id);
      return `Approved by ${c.approved_by}: every letter merged and rendered; the exact documents are fingerprinted.`;
    }),
  );
  app.post('/campaigns/:id/send', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => {
      const r = await doSend(rt, me(req), req.params.id);
      return `Sending: ${r.created} dispatch(es) created, ${r.enqueued} job(s) queued${rt.inProcessWorkers ? '' : ' for the chancery worker processes'}.`;
    }),
  );
  app.post('/campaigns/:id/pause', { schema: { ...hide, params: idParams, body: z.object({ ...csrfField, reason: z.string().max(500).optional() }) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => {
      await doPause(rt, me(req), req.params.id, req.body.reason?.trim() || null);
      return 'Paused: no new message leaves until it is resumed.';
    }),
  );
  app.post('/campaigns/:id/resume', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => `Resumed: ${(await doResume(rt, me(req), req.params.id)).enqueued} job(s) queued.`),
  );
  app.post('/campaigns/:id/cancel', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => {
      const r = await doCancel(rt, me(req), req.params.id);
      return `Cancelled: ${r.cancelled} dispatch(es) cancelled, ${r.sent} already sent${r.inFlight ? `, ${r.inFlight} being sent (their outcome will be recorded)` : ''}.`;
    }),
  );
  app.post('/campaigns/:id/retry', { schema: { ...hide, params: idParams, body: z.object(csrfField) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => `${(await doRetry(rt, me(req), req.params.id)).requeued} failed dispatch(es) queued again.`),
  );
  app.post('/campaigns/:id/reply-by', { schema: { ...hide, params: idParams, body: z.object({ ...csrfField, replyBy: z.string().max(20) }) } }, async (req, reply) =>
    act(reply, back(req.params.id), async () => `Reply-by date now ${(await doSetReplyBy(rt, me(req), req.params.id, req.body.replyBy)).reply_by}.`),
  );

  const letterParams = z.object({ id: campaignIdSchema, rid: recipientIdSchema });

  app.get('/campaigns/:id/recipients/:rid', { schema: { ...hide, params: letterParams } }, async (req, reply) => {
    const campaign = await getCampaign(rt.db, req.params.id);
    const recipient = await getRecipient(rt.db, req.params.rid);
    const dispatch = await rt.db
      .selectFrom('dispatches')
      .select(['id', 'state', 'sent_at', 'message_id', 'smtp_response', 'pdf_sha256', 'pages', 'attempts', 'possible_duplicate', 'error', 'subject', 'language'])
      .where('campaign_id', '=', campaign.id)
      .where('recipient_id', '=', req.params.rid)
      .where('kind', '=', 'note')
      .executeTakeFirst();
    const { byRecipient } = await followUp(rt, campaign.id);
    const f = byRecipient.get(req.params.rid);
    return html(reply, appIn, req, 'letter', {
      follow: f,
      reminders: (f?.reminders ?? []).map((m) => `${m.key} ${m.state}${m.date ? ` (${m.date})` : ''}`),
      channels: REPLY_CHANNELS,
      canReply: can(me(req).role, 'draft') && dispatch?.state === 'sent',
      title: `${campaign.reference} — ${req.params.rid}`,
      nav: 'campaigns',
      campaign,
      rid: req.params.rid,
      name: recipient?.names[recipient.language]?.short ?? req.params.rid,
      recipient,
      dispatch,
      pdfUrl: `/campaigns/${campaign.id}/recipients/${encodeURIComponent(req.params.rid)}/letter.pdf`,
      stored: Boolean(dispatch?.pdf_sha256),
    });
  });

  app.get('/campaigns/:id/recipients/:rid/letter.pdf', { schema: { ...hide, params: letterParams } }, async (req, reply) => sendPdf(reply, await letterPdf(rt, req.params.id, req.params.rid)));

  app.get('/campaigns/:id/audit', { schema: { ...hide, params: idParams, querystring: z.object({ format: z.enum(['csv', 'jsonl']).default('csv'), rows: z.enum(['events', 'dispatches']).default('events') }) } }, async (req, reply) => {
    const c = await getCampaign(rt.db, req.params.id);
    const { text } = await exportAudit(rt, me(req), c.id, req.query.format, req.query.rows);
    return reply
      .type(req.query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-${c.id}${req.query.rows === 'dispatches' ? '-dispatches' : ''}.${req.query.format}"`)
      .send(text);
  });

  app.post('/campaigns/:id/recipients/:rid/reply', { schema: { ...hide, params: letterParams } }, async (req, reply) => {
    const { fields, file } = await formOf(req);
    const to = `/campaigns/${req.params.id}/recipients/${encodeURIComponent(req.params.rid)}`;
    return act(reply, to, async () => {
      const r = await doRecordReply(rt, me(req), req.params.id, req.params.rid, {
        receivedOn: fields.receivedOn,
        channel: fields.channel,
        theirReference: fields.theirReference,
        note: fields.note,
        replace: fields.replace === 'on',
        file,
      });
      return `Reply recorded: received ${r.reply.received_on} by ${r.reply.channel}${r.files.length ? `, ${r.files.length} file(s) kept` : ''}${r.cancelledReminders.length ? `; ${r.cancelledReminders.length} reminder(s) cancelled` : ''}.`;
    });
  });

  app.get('/replies/unmatched', { schema: hide }, async (req, reply) => {
    const emails = await unmatchedEmails(rt);
    const campaigns = await listCampaigns(rt);
    return html(reply, appIn, req, 'unmatched', { title: 'Unmatched replies', nav: 'replies', emails, campaigns });
  });

  app.post(
    '/replies/unmatched/:sha',
    { schema: { ...hide, params: z.object({ sha: z.string().regex(/^[0-9a-f]{64}$/) }), body: z.object({ ...csrfField, campaign: campaignIdSchema, recipient: recipientIdSchema, replace: z.string().optional() }) } },
    async (req, reply) =>
      act(reply, '/replies/unmatched', async () => {
        const r = await doAssign(rt, me(req), req.params.sha, req.body.campaign, req.body.recipient.trim(), req.body.replace === 'on');
        return `Assigned: reply of ${r.reply.recipient_id} to campaign ${r.reply.campaign_id}, received ${r.reply.received_on}.`;
      }),
  );

  // ------------------------------------------------------------ registry

  app.get('/registry', { schema: { ...hide, querystring: z.object({ q: z.string().max(200).optional() }) } }, async (req, reply) => {
    const all = await allRecipients(rt);
    const found = searchRecipients(all, req.query.q ?? '');
    return html(reply, appIn, req, 'registry', {
      title: 'Registry',
      nav: 'registry',
      q: req.query.q ?? '',
      total: all.length,
      recipients: found.map((r) => ({ id: r.id, language: r.language, name: r.names[r.language]?.short ?? '', city: r.address.city, email: r.email.to.join(', '), groups: r.groups.join(', ') })),
    });
  });

  app.get('/registry/import', { schema: hide }, async (req, reply) => {
    need(me(req), 'admin', 'import into the registry');
    return html(reply, appIn, req, 'registry-import', { title: 'Import recipients', nav: 'registry' });
  });

  app.post('/registry/import', { schema: hide }, async (req, reply) => {
    const user = me(req);
    const { fields, file } = await formOf(req);
    const dryRun = fields.mode !== 'import';
    const outcome = file
      ? await importRegistryBytes(rt, user, file.filename, file.content, registryFormatOf(file.filename), dryRun)
      : await importRegistryBytes(rt, user, 'pasted CSV', Buffer.from(fields.csv ?? '', 'utf8'), 'csv', dryRun);
    return html(reply, appIn, req, 'registry-import', { title: 'Import recipients', nav: 'registry', outcome, csv: file ? '' : fields.csv }, outcome.problems.length ? 400 : 200);
  });

  const ridParams = z.object({ rid: recipientIdSchema });

  app.get('/registry/:rid', { schema: { ...hide, params: ridParams } }, async (req, reply) => {
    const r = await getRecipient(rt.db, req.params.rid);
    if (!r) throw new HttpError(404, `unknown recipient "${req.params.rid}"`);
    return html(reply, appIn, req, 'recipient', { title: r.id, nav: 'registry', r, fields: recipientFields(r) });
  });

  app.get('/registry/:rid/edit', { schema: { ...hide, params: ridParams } }, async (req, reply) => {
    need(me(req), 'admin', 'edit the registry');
    const r = await getRecipient(rt.db, req.params.rid);
    if (!r) throw new HttpError(404, `unknown recipient "${req.params.rid}"`);
    return html(reply, appIn, req, 'recipient-edit', { title: `Edit ${r.id}`, nav: 'registry', rid: r.id, fields: recipientFields(r) });
  });

  app.post('/registry/:rid', { schema: { ...hide, params: ridParams, body: z.record(z.string(), z.string()) } }, async (req, reply) => {
    const r = await editRecipient(rt, me(req), req.params.rid, req.body);
    if (r.problems.length > 0) return html(reply, appIn, req, 'recipient-edit', { title: `Edit ${req.params.rid}`, nav: 'registry', rid: req.params.rid, fields: r.fields, problems: r.problems }, 400);
    setFlash(reply, 'ok', `${req.params.rid} saved. Campaigns approved with the old record need approval again.`);
    return reply.redirect(`/registry/${encodeURIComponent(req.params.rid)}`, 303);
  });

  // ------------------------------------------------------------ templates

  app.get('/templates', { schema: hide }, async (req, reply) => html(reply, appIn, req, 'templates', { title: 'Templates', nav: 'templates', groups: await templateGroups(rt) }));

  const previewQuery = z.object({ recipient: recipientIdSchema.optional(), lang: z.string().max(5).optional() });

  app.get('/templates/:tid', { schema: { ...hide, params: z.object({ tid: z.string().max(64) }), querystring: previewQuery } }, async (req, reply) => {
    const checks = await templateChecks(rt, req.params.tid);
    const recipients = (await allRecipients(rt)).map((r) => ({ id: r.id, name: r.names[r.language]?.short ?? r.id, selected: r.id === req.query.recipient }));
    const q = new URLSearchParams();
    if (req.query.recipient) q.set('recipient', req.query.recipient);
    if (req.query.lang) q.set('lang', req.query.lang);
    return html(reply, appIn, req, 'template', {
      title: `Template ${req.params.tid}`,
      nav: 'templates',
      id: req.params.tid,
      checks: checks.map((c) => ({ ...c, ok: c.problems.length === 0 })),
      recipients,
      languages: checks.map((c) => ({ lang: c.language, selected: c.language === req.query.lang })),
      previewUrl: req.query.recipient ? `/templates/${encodeURIComponent(req.params.tid)}/preview.pdf?${q}` : undefined,
    });
  });

  app.get('/templates/:tid/preview.pdf', { schema: { ...hide, params: z.object({ tid: z.string().max(64) }), querystring: previewQuery.extend({ recipient: recipientIdSchema }) } }, async (req, reply) =>
    sendPdf(reply, await templatePreview(rt, req.params.tid, req.query.recipient, req.query.lang || undefined)),
  );

  // ------------------------------------------------------------ users

  app.get('/admin/users', { schema: hide }, async (req, reply) => {
    need(me(req), 'admin', 'manage users');
    return html(reply, appIn, req, 'users', { title: 'Users', nav: 'users', users: await listUsers(rt.db), roles: ROLES });
  });

  app.post('/admin/users', { schema: { ...hide, body: z.object({ ...csrfField, name: z.string().max(64), role: z.string().max(20), password: z.string().max(1024) }) } }, async (req, reply) => {
    const user = me(req);
    need(user, 'admin', 'manage users');
    return act(reply, '/admin/users', async () => {
      const u = await addUser(rt.db, { name: req.body.name, role: req.body.role, password: req.body.password, by: user.name, auth: 'session' });
      return `User ${u.name} added as ${u.role}.`;
    });
  });

  app.post('/admin/users/:name/role', { schema: { ...hide, params: z.object({ name: z.string().max(64) }), body: z.object({ ...csrfField, role: z.string().max(20) }) } }, async (req, reply) => {
    const user = me(req);
    need(user, 'admin', 'manage users');
    return act(reply, '/admin/users', async () => {
      const u = await setUserRole(rt.db, req.params.name, req.body.role, user.name);
      return `${u.name} is now ${u.role}; their sessions were closed.`;
    });
  });
}

/** A form's fields as strings and its one file, whether sent url-encoded or multipart. */
export async function formOf(req: FastifyRequest): Promise<{ fields: Record<string, string>; file?: { filename: string; mimetype: string; content: Buffer } }> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const fields: Record<string, string> = {};
  let file: { filename: string; mimetype: string; content: Buffer } | undefined;
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string') fields[k] = v;
    else if (v && typeof v === 'object' && 'type' in v) {
      const part = v as { type: string; value?: unknown; filename?: string; mimetype?: string; toBuffer?: () => Promise<Buffer> };
      if (part.type === 'field' && typeof part.value === 'string') fields[k] = part.value;
      else if (part.type === 'file' && part.toBuffer && part.filename) file = { filename: part.filename, mimetype: part.mimetype ?? 'application/octet-stream', content: await part.toBuffer() };
    }
  }
  return { fields, file };
}

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { openRemindQueue } from '../deadlines/jobs.ts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { can } from './roles.ts';
import type { WebRuntime } from './context.ts';

export const QUEUES_PATH = '/admin/queues';

/**
 * The BullMQ dashboard (@bull-board), for administrators only. Its own script calls its API
 * without our CSRF token, so its writes are held to the same origin instead (the session
 * cookie is SameSite=Strict as well): a page of another site can neither read nor drive it.
 */
export async function registerQueueDashboard(app: FastifyInstance & { runtime: WebRuntime }): Promise<void> {
  const adapter = new FastifyAdapter();
  const remind = openRemindQueue(app.runtime.cfg, app.runtime.queues.connection);
  app.addHook('onClose', async () => remind.close());
  createBullBoard({ queues: [new BullMQAdapter(app.runtime.queues.render), new BullMQAdapter(app.runtime.queues.send), new BullMQAdapter(remind)], serverAdapter: adapter });
  adapter.setBasePath(QUEUES_PATH);
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      if (!req.auth) return; // the global hook has already answered
      if (!can(req.auth.user.role, 'admin')) return reply.code(403).type('text/plain').send(`your role (${req.auth.user.role}) may not open the queue dashboard`);
      if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && !sameOrigin(req)) return reply.code(403).type('text/plain').send('cross-origin request refused');
    });
    await scope.register(adapter.registerPlugin(), { prefix: QUEUES_PATH });
  });
}

/** Scheme, host and port of the page that sent the request are this server's (as the browser sees it: req.protocol and req.host follow a trusted proxy). */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin ?? req.headers.referer;
  if (typeof origin !== 'string') return false;
  try {
    return new URL(origin).origin === new URL(`${req.protocol}://${req.host}`).origin;
  } catch {
    return false;
  }
}

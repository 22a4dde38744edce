import path from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.ts';

/**
 * All configuration, from the environment, validated in one place.
 * Defaults are the embedded ones: a Redis Chancery starts itself, a SQLite file, a file outbox.
 */
const envSchema = z.object({
  /** Working folder for the database, managed Redis, outbox, and the PDFs written out by `campaign pdfs`. */
  CHANCERY_HOME: z.string().default('var'),
  /** Folder of template files. */
  CHANCERY_TEMPLATES: z.string().default('templates'),
  /** Registry file loaded when the store has none yet (the demo's seed). */
  CHANCERY_REGISTRY: z.string().default('seeds/registry.json'),
  /**
   * A Redis to use instead of the managed one; when set Chancery never starts redis-server.
   * With REDIS_CLUSTER, nodes of the cluster to start from, comma-separated.
   */
  REDIS_URL: z
    .string()
    .refine((s) => s.split(',').every((u) => z.url().safeParse(u.trim()).success), 'must be a redis:// URL, or several comma-separated with REDIS_CLUSTER')
    .optional(),
  /** 1: REDIS_URL is a Redis Cluster (the hash tag in QUEUE_PREFIX keeps each queue in one slot). */
  REDIS_CLUSTER: z.enum(['0', '1', 'true', 'false']).default('0').transform((v) => v === '1' || v === 'true'),
  /** Any SMTP relay (smtp://user:pass@host:port); unset, messages go to the file outbox. */
  SMTP_URL: z.string().url().optional(),
  /**
   * PostgreSQL store (postgres://user:password@host:port/database); the SQLite file under
   * CHANCERY_HOME when unset. The message never repeats the value: it holds the password.
   */
  DATABASE_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().refine(isDatabaseUrl, 'must be a postgres://user:password@host:port/database URL (unset: the SQLite file under CHANCERY_HOME)').optional(),
  ),
  MAIL_FROM: z.string().default('Secretariat of the Conference of the Parties <untoc.cop@unodc.org>'),
  MAIL_REPLY_TO: z.string().default('untoc.cop@unodc.org'),
  /** Domain used in deterministic Message-IDs. */
  MESSAGE_ID_DOMAIN: z.string().default('chancery.unodc.org'),
  /** Duty station time zone: reply-by dates are calendar dates there. */
  DUTY_STATION_TZ: z.string().default('Europe/Vienna'),
  /** Local time (HH:MM at the duty station) at which a reminder round is due on its day. */
  REMIND_LOCAL_TIME: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, e.g. 09:00').default('09:00'),
  /** How often the reminder sweep re-creates missing reminder jobs from the store (ms). */
  REMIND_SWEEP_MS: z.coerce.number().int().min(1000).default(60_000),
  /** Prefix of every BullMQ queue key, so a Redis Cluster can hold them in one slot. */
  QUEUE_PREFIX: z.string().default('{chancery}'),
  /** Send jobs one worker process takes at once; also the size of its SMTP connection pool. */
  SEND_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  SEND_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  /** Global send rate limit, messages per minute; 0 means none. */
  SEND_RATE_PER_MINUTE: z.coerce.number().int().min(0).default(0),
  /** First retry delay after a transient SMTP failure (4xx, connection); doubles each attempt. */
  SEND_BACKOFF_MS: z.coerce.number().int().min(1).default(30_000),
  /** Render jobs one worker process takes at once (pdfkit is synchronous: run one process per core). */
  RENDER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /**
   * Letters per render job: one job, one transaction and one hand-over to the send queue per
   * batch (measured: about 0.8 ms less CPU per letter at 25 than at 1). Send jobs stay one per
   * government whatever this is.
   */
  RENDER_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(25),
  /**
   * How much a worker process that only renders lowers its CPU priority (nice, 0-19). On a
   * machine that also sends, the letters already rendered go out first and rendering takes the
   * CPU sending leaves: otherwise render workers took the cores, sends trailed behind and the
   * last part of a campaign ran on one busy core (10,000 recipients: 135/s while rendering,
   * 400/s after). 0 leaves the priority as it is.
   */
  RENDER_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /**
   * BullMQ job lock: a job held by a worker that died is handed to another one after this long
   * (and the stalled check runs at this interval).
   */
  WORKER_LOCK_MS: z.coerce.number().int().min(500).default(30_000),
  /**
   * A worker process whose resident memory grows past its working size (set by its first 500
   * letters) by more than this share runs a full garbage collection (workers/memory.ts), so its
   * memory does not grow with the size of the campaign; 0 leaves it to V8.
   */
  WORKER_MEMORY_HEADROOM: z.coerce.number().min(0).max(10).default(0.1),
  /** Log level of the one logger (src/ops/log.ts): trace, debug, info, warn, error. */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Log lines: JSON; `pretty`: readable text; `auto`: readable on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** While a part (Redis, SMTP, the store) stays unreachable, one log line this often (ms). */
  LOG_OUTAGE_EVERY_MS: z.coerce.number().int().min(100).default(60_000),
  /**
   * On SIGTERM/SIGINT, how long jobs in hand may take to finish before they are released
   * (a send cut short is resumed as after a crash, flagged); the whole stop stays under 10 s.
   */
  STOP_GRACE_MS: z.coerce.number().int().min(0).max(6_000).default(5_000),
  /**
   * Ed25519 private key (PEM, PKCS#8; `chancery audit keygen`) that signs audit checkpoints.
   * Set, the worker takes one when a campaign ends and once a day (src/audit/checkpoint.ts).
   */
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  /** Where checkpoints are appended; default audit-checkpoints.jsonl under CHANCERY_HOME. Best kept off the store's machine. */
  AUDIT_CHECKPOINT_FILE: z.string().min(1).optional(),
  /**
   * Password of the account named by --by (campaign create/approve, user add) for scripts, when
   * no one is at a terminal to type it. Read only to check it; never printed or logged.
   */
  CHANCERY_PASSWORD: z.string().optional(),
});

/** The logging settings alone, read when the logger is made (before any command loads the rest). */
export const logSettingsSchema = envSchema.pick({ LOG_LEVEL: true, LOG_FORMAT: true, LOG_OUTAGE_EVERY_MS: true });

/** A store location that is a PostgreSQL URL (else it is a SQLite file). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** A well-formed postgres:// URL with a host and a database. */
export function isDatabaseUrl(value: string): boolean {
  if (!isPostgresUrl(value)) return false;
  try {
    const u = new URL(value);
    return u.hostname !== '' && u.pathname.length > 1;
  } catch {
    return false;
  }
}

export type Config = z.infer<typeof envSchema> & {
  paths: { home: string; db: string; redis: string; outbox: string; documents: string; templates: string; checkpoints: string };
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  const c = parsed.data;
  if (c.REDIS_CLUSTER && !c.REDIS_URL) throw new UsageError('configuration: REDIS_CLUSTER needs REDIS_URL (a node of the cluster)');
  if (!c.REDIS_CLUSTER && c.REDIS_URL?.includes(',')) throw new UsageError('configuration: REDIS_URL lists several servers; set REDIS_CLUSTER=1 for a Redis Cluster');
  if (c.REDIS_CLUSTER && !hasHashTag(c.QUEUE_PREFIX)) {
    throw new UsageError(`configuration: QUEUE_PREFIX '${c.QUEUE_PREFIX}' needs a hash tag such as {chancery} on a Redis Cluster, so each queue's keys share one slot`);
  }
  const home = path.resolve(c.CHANCERY_HOME);
  return {
    ...c,
    paths: {
      home,
      db: path.join(home, 'chancery.db'),
      redis: path.join(home, 'redis'),
      outbox: path.join(home, 'outbox'),
      documents: path.join(home, 'documents'),
      templates: path.resolve(c.CHANCERY_TEMPLATES),
      checkpoints: path.resolve(c.AUDIT_CHECKPOINT_FILE ?? path.join(home, 'audit-checkpoints.jsonl')),
    },
  };
}

/** Whether Redis Cluster hashes keys starting with `prefix` by a tag: the text between its first '{' and the next '}', not empty. */
function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open >= 0 && prefix.indexOf('}', open + 1) > open + 1;
}

import pino, { type DestinationStream, type Logger } from 'pino';
import { logSettingsSchema } from '../config.ts';

/**
 * The one logger of every Chancery process (pino, as Fastify uses): JSON lines on stderr, so a
 * command's own output on stdout (ids, tables) stays clean for pipes; on a terminal a short
 * readable line instead (LOG_FORMAT). Written synchronously: a process that exits right after a
 * line (a stop, a second signal) loses none.
 */

export type LogFormat = 'auto' | 'json' | 'pretty';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'err', 'component']);

/** One JSON line as a person reads it: `15:04:05.123 WARN  redis unreachable: ... part=redis`. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const level = typeof o.level === 'number' ? (LEVEL_NAMES[o.level] ?? String(o.level)) : String(o.level ?? '').toUpperCase();
  const fields = Object.entries(o)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const err = o.err as { stack?: string; message?: string } | undefined;
  const component = typeof o.component === 'string' ? `${o.component}: ` : '';
  return `${time} ${level.padEnd(5)} ${component}${String(o.msg ?? '')}${fields ? `  ${fields}` : ''}${err?.stack ? `\n${err.stack}` : ''}\n`;
}

function destination(format: LogFormat): DestinationStream {
  const fd = pino.destination({ dest: 2, sync: true });
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (!pretty) return fd;
  return { write: (line: string) => fd.write(prettyLine(line)) };
}

/** LOG_LEVEL, LOG_FORMAT, LOG_OUTAGE_EVERY_MS (src/config.ts); defaults if invalid, as loadConfig then refuses them in one line. */
export const logSettings = logSettingsSchema.safeParse(process.env).data ?? logSettingsSchema.parse({});

/** The process's logger. */
export const logger: Logger = pino({ level: logSettings.LOG_LEVEL, base: { pid: process.pid } }, destination(logSettings.LOG_FORMAT));

/** A component's logger (`component` field: worker, serve, send…), taken from the current one. */
export function componentLogger(component: string): Logger {
  return logger.child({ component });
}

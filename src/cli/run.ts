import { ZodError } from 'zod';
import { ChanceryError } from '../errors.ts';

/**
 * Wraps a command's action: a ChanceryError becomes its one-line message and exit status
 * (1 input, 2 usage, 3 infrastructure); anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void | number> | void | number) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

export function reportError(err: unknown): number {
  if (err instanceof ChanceryError) {
    process.stderr.write(`chancery: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0]!;
    process.stderr.write(`chancery: ${issue.path.join('.') || 'input'}: ${issue.message}\n`);
    return 1;
  }
  process.stderr.write(`chancery: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}

/**
 * Typed errors the command line maps to exit statuses (DESIGN.md):
 * 1 invalid input, 2 wrong usage, 3 an infrastructure part unreachable.
 * Messages are one line and name the file, row, line or field at fault.
 */
export class ChanceryError extends Error {
  readonly exitCode: 1 | 2 | 3;
  constructor(message: string, exitCode: 1 | 2 | 3 = 1) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad input: a registry row, a template, a date, an unknown id. Exit 1. */
export class InputError extends ChanceryError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Wrong usage of a command. Exit 2. */
export class UsageError extends ChanceryError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** Redis, SMTP or another part unreachable or missing. Exit 3. */
export class InfrastructureError extends ChanceryError {
  constructor(message: string) {
    super(message, 3);
  }
}

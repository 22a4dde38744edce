import readline from 'node:readline';
import { defaultActor } from '../campaigns/repo.ts';
import type { Config } from '../config.ts';
import { InputError, UsageError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { AuthMethod } from '../store/schema.ts';
import { can, type Permission } from '../web/roles.ts';
import { authenticate } from '../web/users.ts';

/** Reads one line from a terminal without echoing it. */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const muted = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stderr.write(question);
    muted._writeToOutput = () => {};
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

export type Actor = { name: string; auth: AuthMethod };

/** True once `chancery user add` has made an account (disabled ones count: they are people). */
export async function accountsExist(db: Db): Promise<boolean> {
  return (await db.selectFrom('users').select('name').limit(1).executeTakeFirst()) !== undefined;
}

/**
 * Who runs a command that four eyes rest on (campaign create and approve, user add).
 * Without any account (the demo, or the first `user add`) --by is taken as given, the login name
 * by default, as before. Once accounts exist --by must name one and prove it with its password:
 * CHANCERY_PASSWORD for scripts, else typed on a terminal (not echoed). The account's role must
 * allow the action, as in the web console (src/web/roles.ts). Nothing is written here, so a
 * refusal changes nothing.
 */
export async function commandActor(db: Db, cfg: Config, by: string | undefined, permission: Permission, what: string): Promise<Actor> {
  if (!(await accountsExist(db))) return { name: by ?? defaultActor(), auth: 'none' };
  if (by === undefined || by.trim() === '') {
    throw new UsageError(`--by: user accounts exist, so say who you are: --by NAME (the password is asked, or read from CHANCERY_PASSWORD)`);
  }
  // The name as typed, on one line whatever it holds.
  const shown = /^[A-Za-z0-9._@-]{1,64}$/.test(by.trim()) ? by.trim() : JSON.stringify(by.slice(0, 64));
  let password: string;
  let auth: AuthMethod;
  if (cfg.CHANCERY_PASSWORD) {
    password = cfg.CHANCERY_PASSWORD;
    auth = 'env';
  } else if (process.stdin.isTTY) {
    password = await promptHidden(`Password of ${shown}: `);
    auth = 'password';
  } else {
    throw new UsageError(`--by ${shown}: no password: type it on a terminal or set CHANCERY_PASSWORD`);
  }
  const user = await authenticate(db, by, password);
  // One message for both: it must not tell who has an account.
  if (!user) throw new InputError(`--by ${shown}: unknown user or wrong password`);
  if (!can(user.role, permission)) throw new InputError(`--by ${user.name}: the role ${user.role} may not ${what}`);
  return { name: user.name, auth };
}

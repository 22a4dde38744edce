import type { Command } from 'commander';
import { defaultActor } from '../campaigns/repo.ts';
import { InputError, UsageError } from '../errors.ts';
import { addUser, checkRole, listUsers, ROLES, setUserPassword, setUserRole } from '../web/users.ts';
import { commandActor, promptHidden } from './identity.ts';
import { action } from './run.ts';
import { withDb } from './store.ts';

/** `chancery user add|list|set-role|passwd`: accounts of the web console (chancery serve). */

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** --password, else asked twice on a terminal, else the first line of standard input. Never echoed or logged. */
async function obtainPassword(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  if (process.stdin.isTTY) {
    const a = await promptHidden('Password: ');
    const b = await promptHidden('Again: ');
    if (a !== b) throw new InputError('password: the two entries differ');
    return a;
  }
  const line = await readStdinLine();
  if (!line) throw new UsageError('password: give --password, type it on a terminal, or pipe it on standard input');
  return line;
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('web console accounts: add, list, set-role, passwd');

  user
    .command('add <name>')
    .description(`add an account (role: ${ROLES.join(', ')}); the password is asked, piped, or given with --password`)
    .requiredOption('--role <role>', ROLES.join('|'))
    .option('--password <password>', 'the password (visible to other local users in the process list: prefer the prompt or stdin)')
    .option('--by <name>', 'who adds it: once accounts exist, an admin (password asked or CHANCERY_PASSWORD)')
    .action(
      action(async (name: string, opts: { role: string; password?: string; by?: string }) => {
        const u = await withDb(async (db, cfg) => {
          // Its administrator first (nothing to check for the very first account), then the new password.
          const actor = await commandActor(db, cfg, opts.by, 'admin', 'add users');
          if (actor.auth === 'none' && checkRole(opts.role) !== 'admin') {
            throw new InputError(`--role ${opts.role}: the first account must be an admin (it adds the others: chancery user add NAME --role admin)`);
          }
          const password = await obtainPassword(opts.password);
          return addUser(db, { name, role: opts.role, password, by: actor.name, auth: actor.auth });
        });
        process.stdout.write(`user ${u.name} added as ${u.role}\n`);
      }),
    );

  user
    .command('list')
    .description('list the accounts and their roles')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const users = await withDb((db) => listUsers(db));
        if (opts.json) process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        else for (const u of users) process.stdout.write(`${u.name.padEnd(20)} ${u.role.padEnd(9)} added ${u.created_at} by ${u.created_by}${u.disabled_at ? ' (disabled)' : ''}\n`);
      }),
    );

  user
    .command('set-role <name> <role>')
    .description("change an account's role (its sessions end)")
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (name: string, role: string, opts: { by?: string }) => {
        const u = await withDb((db) => setUserRole(db, name, role, opts.by ?? defaultActor()));
        process.stdout.write(`user ${u.name} is now ${u.role}\n`);
      }),
    );

  user
    .command('passwd <name>')
    .description("set an account's password (asked, piped, or --password); its sessions end")
    .option('--password <password>', 'the new password')
    .option('--by <name>', 'who does it (audit)')
    .action(
      action(async (name: string, opts: { password?: string; by?: string }) => {
        const password = await obtainPassword(opts.password);
        await withDb((db) => setUserPassword(db, name, password, opts.by ?? defaultActor()));
        process.stdout.write(`password of ${name} changed\n`);
      }),
    );
}

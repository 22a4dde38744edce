import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { InputError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { appendEvent } from '../store/events.ts';
import type { AuthMethod, UserRole, UsersTable } from '../store/schema.ts';
import { nowIso, writeTx } from '../store/tx.ts';

/**
 * Accounts and sessions of the web console. Passwords are hashed with scrypt (node:crypto),
 * never stored, logged or echoed; a session cookie holds a random token whose SHA-256 is the
 * session's id in the store.
 */

export const ROLES = ['viewer', 'drafter', 'approver', 'admin'] as const satisfies readonly UserRole[];
export type { UserRole };

export type User = Pick<UsersTable, 'name' | 'role' | 'created_at' | 'created_by' | 'disabled_at'>;

/** scrypt cost: N=2^15, r=8, p=1 (about 32 MiB, tens of milliseconds): OWASP's minimum or above. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 } as const;
const MAXMEM = 64 * 1024 * 1024;

/** Session lifetime: one working day. */
export const SESSION_HOURS = 8;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export function checkRole(value: string, what = '--role'): UserRole {
  if (!(ROLES as readonly string[]).includes(value)) throw new InputError(`${what}: "${value}" is not one of ${ROLES.join(', ')}`);
  return value as UserRole;
}

/** A user name: letters, digits, '.', '_', '-', 2 to 64 characters (it is the audit actor). */
export function checkUserName(value: string): string {
  const name = value.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/.test(name)) throw new InputError(`user name "${value}": 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return name;
}

export function checkPassword(password: string): string {
  if (password.length < 10) throw new InputError('password: at least 10 characters');
  if (password.length > 1024) throw new InputError('password: at most 1024 characters');
  if (/[\r\n]/.test(password)) throw new InputError('password: must be one line');
  return password;
}

/** "scrypt$N$r$p$salt$hash" (salt and hash base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: MAXMEM });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of nothing, compared against when the user is unknown, so timing does not tell who exists. */
let dummyHash: Promise<string> | undefined;

/** `auth`: how `by` was authenticated, for the audit. */
export async function addUser(db: Db, input: { name: string; role: string; password: string; by: string; auth?: AuthMethod }): Promise<User> {
  const name = checkUserName(input.name);
  const role = checkRole(input.role);
  const passwordHash = await hashPassword(checkPassword(input.password));
  const at = nowIso();
  await writeTx(db, async (trx) => {
    const existing = await trx.selectFrom('users').select('name').where('name_key', '=', name.toLowerCase()).executeTakeFirst();
    if (existing) throw new InputError(`user "${name}" already exists (as "${existing.name}")`);
    await trx.insertInto('users').values({ name, name_key: name.toLowerCase(), role, password_hash: passwordHash, created_at: at, created_by: input.by, disabled_at: null }).execute();
    await appendEvent(trx, { type: 'user.added', actor: input.by, at, data: { name, role, ...(input.auth ? { auth: input.auth } : {}) } });
  });
  return (await getUser(db, name))!;
}

/** Changes a role; the user's sessions end (they sign in again under the new role). */
export async function setUserRole(db: Db, nameIn: string, roleIn: string, by: string): Promise<User> {
  const role = checkRole(roleIn);
  const user = await getUser(db, nameIn);
  if (!user) throw new InputError(`unknown user "${nameIn}"`);
  await writeTx(db, async (trx) => {
    const at = nowIso();
    await trx.updateTable('users').set({ role }).where('name', '=', user.name).execute();
    await trx.deleteFrom('sessions').where('user_name', '=', user.name).execute();
    await appendEvent(trx, { type: 'user.role-changed', actor: by, at, data: { name: user.name, from: user.role, to: role } });
  });
  return (await getUser(db, user.name))!;
}

export async function setUserPassword(db: Db, nameIn: string, password: string, by: string): Promise<void> {
  const user = await getUser(db, nameIn);
  if (!user) throw new InputError(`unknown user "${nameIn}"`);
  const passwordHash = await hashPassword(checkPassword(password));
  await writeTx(db, async (trx) => {
    await trx.updateTable('users').set({ password_hash: passwordHash }).where('name', '=', user.name).execute();
    await trx.deleteFrom('sessions').where('user_name', '=', user.name).execute();
    await appendEvent(trx, { type: 'user.password-changed', actor: by, data: { name: user.name } });
  });
}

export async function getUser(db: Db, name: string): Promise<User | undefined> {
  return db
    .selectFrom('users')
    .select(['name', 'role', 'created_at', 'created_by', 'disabled_at'])
    .where('name_key', '=', name.trim().toLowerCase())
    .executeTakeFirst();
}

export async function listUsers(db: Db): Promise<User[]> {
  return db.selectFrom('users').select(['name', 'role', 'created_at', 'created_by', 'disabled_at']).orderBy('name_key').execute();
}

/** The user if the password is right (and the account enabled); undefined otherwise, in about the same time. */
export async function authenticate(db: Db, name: string, password: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('name_key', '=', name.trim().toLowerCase()).executeTakeFirst();
  if (!row) {
    dummyHash ??= hashPassword('not a password of anyone');
    await verifyPassword(password, await dummyHash);
    return undefined;
  }
  if (!(await verifyPassword(password, row.password_hash)) || row.disabled_at) return undefined;
  return { name: row.name, role: row.role, created_at: row.created_at, created_by: row.created_by, disabled_at: row.disabled_at };
}

const tokenId = (token: string) => createHash('sha256').update(token).digest('hex');

/** Opens a session; returns the token for the cookie (only its hash is stored). */
export async function createSession(db: Db, user: string): Promise<{ token: string; id: string; expiresAt: string }> {
  const token = randomBytes(32).toString('base64url');
  const now = Date.now();
  const expiresAt = new Date(now + SESSION_HOURS * 3600_000).toISOString();
  const id = tokenId(token);
  await db.insertInto('sessions').values({ id, user_name: user, created_at: new Date(now).toISOString(), expires_at: expiresAt }).execute();
  // Expired sessions of anyone are swept here: signing in is rare enough.
  await db.deleteFrom('sessions').where('expires_at', '<', new Date(now).toISOString()).execute();
  return { token, id, expiresAt };
}

/** The session's user, if the token is known, unexpired and the account enabled. */
export async function sessionUser(db: Db, token: string | undefined): Promise<{ sessionId: string; user: User } | undefined> {
  if (!token || token.length > 100) return undefined;
  const id = tokenId(token);
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.name', 'sessions.user_name')
    .select(['sessions.expires_at', 'users.name', 'users.role', 'users.created_at', 'users.created_by', 'users.disabled_at'])
    .where('sessions.id', '=', id)
    .executeTakeFirst();
  if (!row || row.expires_at < new Date().toISOString() || row.disabled_at) return undefined;
  return { sessionId: id, user: { name: row.name, role: row.role, created_at: row.created_at, created_by: row.created_by, disabled_at: row.disabled_at } };
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
}

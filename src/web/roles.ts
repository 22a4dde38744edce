import type { UserRole } from '../store/schema.ts';

/**
 * What each role may do. Not a ladder: an administrator manages users, the registry and the
 * queues but neither drafts nor clears notes, and an approver clears and sends but does not
 * draft, so the person who prepares a campaign and the one who clears it are always two.
 * (approveCampaign refuses its creator as well, for a role changed in between.)
 */
export const PERMISSIONS = {
  /** See campaigns, letters, the registry, templates; export the audit. */
  read: ['viewer', 'drafter', 'approver', 'admin'],
  /** Create a campaign, move its reply-by date, record replies. */
  draft: ['drafter'],
  /** Run a campaign's preflight (merge and render every letter, nothing stored). */
  preflight: ['drafter', 'approver'],
  /** Clear (approve) and send, pause, resume, cancel, retry. */
  approve: ['approver'],
  /** Users, registry edits and imports, the queue dashboard. */
  admin: ['admin'],
} as const satisfies Record<string, readonly UserRole[]>;

export type Permission = keyof typeof PERMISSIONS;

export function can(role: UserRole, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly UserRole[]).includes(role);
}

/** Every permission of a role, for the views (show only the actions the user may take). */
export function permissionsOf(role: UserRole): Record<Permission, boolean> {
  return {
    read: can(role, 'read'),
    draft: can(role, 'draft'),
    preflight: can(role, 'preflight'),
    approve: can(role, 'approve'),
    admin: can(role, 'admin'),
  };
}

import type { Generated } from 'kysely';

/** Row types of the store, one interface per table (see migrations.ts). */

export interface RecipientsTable {
  id: string;
  kind: string;
  language: string;
  data: string;
  data_sha256: string;
  updated_at: string;
}

export type CampaignState = 'draft' | 'approved' | 'sending' | 'paused' | 'cancelled' | 'done';

export interface CampaignsTable {
  id: string;
  template_id: string;
  reference: string;
  reference_series: string | null;
  reference_year: number | null;
  reference_number: number | null;
  audience: string;
  letter_date: string;
  reply_by: string;
  remind_offsets: string;
  state: CampaignState;
  state_reason: string | null;
  rate_per_minute: number | null;
  created_by: string;
  created_at: string;
  approved_by: string | null;
  approved_at: string | null;
  approval_fingerprint: string | null;
  approval_detail: string | null;
  enqueue_round: number;
  updated_at: string;
  /** Days after reply-by for one more reminder (0003_deadlines); null: none. */
  overdue_remind: number | null;
}

export interface ReferenceSeriesTable {
  series: string;
  year: number;
  last_number: number;
  updated_at: string;
}

export type DispatchKind = 'note' | 'reminder';
export type DispatchState = 'pending' | 'queued' | 'rendered' | 'sending' | 'sent' | 'failed' | 'cancelled';
export const DISPATCH_STATES: readonly DispatchState[] = ['pending', 'queued', 'rendered', 'sending', 'sent', 'failed', 'cancelled'];

export interface DispatchesTable {
  id: string;
  campaign_id: string;
  recipient_id: string;
  kind: DispatchKind;
  state: DispatchState;
  recipient_snapshot: string | null;
  language: string | null;
  template_id: string | null;
  template_version: number | null;
  template_sha256: string | null;
  subject: string | null;
  pdf_sha256: string | null;
  pages: number | null;
  /** Dispatches rendered before the PDFs moved into the store (migration 0006): the file under the home folder. New ones: null, the PDF is in documents. */
  pdf_path: string | null;
  message_id: string | null;
  smtp_response: string | null;
  claim_job: string | null;
  attempts: number;
  possible_duplicate: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  rendered_at: string | null;
  sent_at: string | null;
  /** 0003_deadlines: '' for a note; the reminder round ('b14', 'b3', 'o7') for a reminder. */
  reminder_key: Generated<string>;
  /** A reminder's original note dispatch. */
  original_dispatch_id: string | null;
  /** A reminder's own date (yyyy-mm-dd at the duty station). */
  letter_date: string | null;
}

export interface TestSendsTable {
  id: string;
  campaign_id: string;
  recipient_id: string;
  to_address: string;
  subject: string;
  pdf_sha256: string;
  message_id: string;
  smtp_response: string | null;
  actor: string;
  sent_at: string;
}

export interface EventsTable {
  id: number;
  at: string;
  type: string;
  campaign_id: string | null;
  dispatch_id: string | null;
  actor: string;
  /** Canonical JSON. */
  data: string;
  prev_hash: string;
  hash: string;
}

export type UserRole = 'viewer' | 'drafter' | 'approver' | 'admin';

/**
 * How the actor of an audit event proved who they are (events' data.auth): a password typed on a
 * terminal, CHANCERY_PASSWORD, a web session, or nothing (no account exists yet: the demo).
 */
export type AuthMethod = 'password' | 'env' | 'session' | 'none';

export interface UsersTable {
  name: string;
  name_key: string;
  role: UserRole;
  password_hash: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
}

export interface SessionsTable {
  id: string;
  user_name: string;
  created_at: string;
  expires_at: string;
}

export type ReplyChannel = 'email' | 'fax' | 'post' | 'hand' | 'note-verbale';
export const REPLY_CHANNELS: readonly ReplyChannel[] = ['email', 'fax', 'post', 'hand', 'note-verbale'];

export interface RepliesTable {
  id: string;
  dispatch_id: string;
  campaign_id: string;
  recipient_id: string;
  received_on: string;
  channel: ReplyChannel;
  their_reference: string | null;
  note: string | null;
  file_path: string | null;
  file_sha256: string | null;
  logged_by: string;
  logged_at: string;
  source: 'manual' | 'ingest';
  match_method: string | null;
  source_sha256: string | null;
  replaced_by: string | null;
}

export interface ReplyFilesTable {
  id: Generated<number>;
  reply_id: string;
  role: 'file' | 'message' | 'attachment';
  filename: string;
  path: string;
  sha256: string;
  bytes: number;
}

export interface IngestedEmailsTable {
  sha256: string;
  file_name: string;
  stored_path: string;
  message_id: string | null;
  from_address: string | null;
  subject: string | null;
  date: string | null;
  outcome: 'matched' | 'unmatched' | 'assigned' | 'already-replied';
  reason: string | null;
  reply_id: string | null;
  ingested_at: string;
  ingested_by: string;
}

export interface RemindersTable {
  id: string;
  campaign_id: string;
  key: string;
  kind: 'before' | 'overdue';
  offset_days: number;
  due_on: string;
  due_at: string;
  state: 'scheduled' | 'done' | 'cancelled';
  state_reason: string | null;
  result: string | null;
  ran_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ClockTable {
  id: number;
  offset_ms: number;
  set_at: string;
  set_by: string;
}

/** A letter's PDF as rendered for sending (migration 0006); its SHA-256 is on the dispatch. */
export interface DocumentsTable {
  dispatch_id: string;
  bytes: Uint8Array;
}

/** The exact text of an approved template version, by its SHA-256 (migration 0007). */
export interface TemplateSourcesTable {
  sha256: string;
  template_id: string;
  language: string;
  source: string;
  stored_at: string;
}

export interface Database {
  recipients: RecipientsTable;
  campaigns: CampaignsTable;
  reference_series: ReferenceSeriesTable;
  dispatches: DispatchesTable;
  documents: DocumentsTable;
  test_sends: TestSendsTable;
  events: EventsTable;
  replies: RepliesTable;
  reply_files: ReplyFilesTable;
  ingested_emails: IngestedEmailsTable;
  reminders: RemindersTable;
  clock: ClockTable;
  users: UsersTable;
  sessions: SessionsTable;
  template_sources: TemplateSourcesTable;
}

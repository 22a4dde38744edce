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

export interface Database {
  recipients: RecipientsTable;
  campaigns: CampaignsTable;
  reference_series: ReferenceSeriesTable;
  dispatches: DispatchesTable;
  test_sends: TestSendsTable;
  events: EventsTable;
}

/** Row types of the store, one interface per table (see migrations.ts). */

export interface RecipientsTable {
  id: string;
  kind: string;
  language: string;
  data: string;
  data_sha256: string;
  updated_at: string;
}

export interface Database {
  recipients: RecipientsTable;
}

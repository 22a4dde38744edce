import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';

/**
 * Schema migrations, applied in key order. Never edit one that has shipped: add the next.
 * Column types are kept to what SQLite and PostgreSQL share (text, integer, real); the two that
 * differ are spelled by the helpers below, which give SQLite exactly what it always had.
 */
export function migrationsFor(engine: 'sqlite' | 'postgres'): Record<string, Migration> {
  const pg = engine === 'postgres';
  /** SQLite's integer holds 64 bits (the clock's offset in ms needs them): bigint in PostgreSQL. */
  const int = pg ? 'bigint' : 'integer';
  /** Bytes: blob in SQLite, bytea in PostgreSQL. */
  const bytes = pg ? 'bytea' : 'blob';
  /** A key numbered by the store when not given: SQLite's integer primary key (the rowid), an identity column in PostgreSQL. */
  const autoId = (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey());
  return {
    '0001_recipients': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('recipients')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('language', 'text', (c) => c.notNull())
          /** The whole validated record as JSON (see src/registry/schema.ts). */
          .addColumn('data', 'text', (c) => c.notNull())
          /** SHA-256 of `data`, so a campaign can tell that a recipient changed after approval. */
          .addColumn('data_sha256', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_dispatch': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('campaigns')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('template_id', 'text', (c) => c.notNull())
          .addColumn('reference', 'text', (c) => c.notNull())
          /** Set when the reference belongs to a numbered series (CU 2009/92): series, year, number. */
          .addColumn('reference_series', 'text')
          .addColumn('reference_year', int)
          .addColumn('reference_number', int)
          /** As given: 'all', 'group:NAME' or 'FRA,DEU,...'; resolved at approval. */
          .addColumn('audience', 'text', (c) => c.notNull())
          .addColumn('letter_date', 'text', (c) => c.notNull())
          .addColumn('reply_by', 'text', (c) => c.notNull())
          /** JSON array of days before reply-by, e.g. [14,3]. */
          .addColumn('remind_offsets', 'text', (c) => c.notNull())
          /** draft | approved | sending | paused | cancelled | done */
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('state_reason', 'text')
          /** Messages per minute for this campaign only; null means only the global limit. */
          .addColumn('rate_per_minute', int)
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('approved_by', 'text')
          .addColumn('approved_at', 'text')
          /** SHA-256 over template hashes, recipient fingerprints and parameters (see approval.ts). */
          .addColumn('approval_fingerprint', 'text')
          /** The parts of the fingerprint as JSON, so a refusal can say what changed. */
          .addColumn('approval_detail', 'text')
          /** Bumped by resume and retry so re-enqueued jobs get fresh BullMQ ids. */
          .addColumn('enqueue_round', int, (c) => c.notNull().defaultTo(1))
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('reference_series')
          .addColumn('series', 'text', (c) => c.notNull())
          .addColumn('year', int, (c) => c.notNull())
          .addColumn('last_number', int, (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('reference_series_pk', ['series', 'year'])
          .execute();
        // CU 2009/92 (A) went out on 8 July 2009: the next note of that series is CU 2009/93.
        await db
          .insertInto('reference_series')
          .values({ series: 'CU', year: 2009, last_number: 92, updated_at: '2009-07-08T00:00:00.000Z' })
          .execute();

        await db.schema
          .createTable('dispatches')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
          .addColumn('recipient_id', 'text', (c) => c.notNull())
          /** note | reminder */
          .addColumn('kind', 'text', (c) => c.notNull())
          /** pending | queued | rendered | sending | sent | failed | cancelled */
          .addColumn('state', 'text', (c) => c.notNull())
          /** The recipient record exactly as merged (JSON), so later registry edits cannot rewrite history. */
          .addColumn('recipient_snapshot', 'text')
          .addColumn('language', 'text')
          .addColumn('template_id', 'text')
          .addColumn('template_version', int)
          .addColumn('template_sha256', 'text')
          .addColumn('subject', 'text')
          .addColumn('pdf_sha256', 'text')
          .addColumn('pages', int)
          .addColumn('pdf_path', 'text')
          .addColumn('message_id', 'text')
          .addColumn('smtp_response', 'text')
          /** BullMQ job holding the claim while in 'sending' (tells a crash from a concurrent duplicate job). */
          .addColumn('claim_job', 'text')
          .addColumn('attempts', int, (c) => c.notNull().defaultTo(0))
          .addColumn('possible_duplicate', int, (c) => c.notNull().defaultTo(0))
          .addColumn('error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('rendered_at', 'text')
          .addColumn('sent_at', 'text')
          .execute();
        await db.schema
          .createIndex('dispatches_campaign_recipient_kind')
          .on('dispatches')
          .columns(['campaign_id', 'recipient_id', 'kind'])
          .unique()
          .execute();
        await db.schema.createIndex('dispatches_campaign_state').on('dispatches').columns(['campaign_id', 'state']).execute();

        /** Staff test sends: kept apart so they are never counted as dispatches. */
        await db.schema
          .createTable('test_sends')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
          .addColumn('recipient_id', 'text', (c) => c.notNull())
          .addColumn('to_address', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('pdf_sha256', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('smtp_response', 'text')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('sent_at', 'text', (c) => c.notNull())
          .execute();

        /** Append-only, hash-chained audit trail (see events.ts). */
        await db.schema
          .createTable('events')
          .addColumn('id', int, (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('campaign_id', 'text')
          .addColumn('dispatch_id', 'text')
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .execute();
        await db.schema.createIndex('events_campaign').on('events').columns(['campaign_id', 'id']).execute();
        await db.schema.createIndex('events_dispatch').on('events').columns(['dispatch_id', 'id']).execute();
      },
    },
    '0003_deadlines': {
      async up(db: Kysely<any>) {
        // Reminders are dispatches too (kind 'reminder'), several per recipient: one per round,
        // told apart by reminder_key ('' for the note itself, 'b14', 'b3', 'o7').
        await db.schema.alterTable('dispatches').addColumn('reminder_key', 'text', (c) => c.notNull().defaultTo('')).execute();
        /** A reminder's original note dispatch. */
        await db.schema.alterTable('dispatches').addColumn('original_dispatch_id', 'text').execute();
        /** A reminder's own date (duty-station calendar date of the clock when its round ran). */
        await db.schema.alterTable('dispatches').addColumn('letter_date', 'text').execute();
        await db.schema.dropIndex('dispatches_campaign_recipient_kind').execute();
        await db.schema
          .createIndex('dispatches_campaign_recipient_kind_key')
          .on('dispatches')
          .columns(['campaign_id', 'recipient_id', 'kind', 'reminder_key'])
          .unique()
          .execute();
        await db.schema.createIndex('dispatches_message_id').on('dispatches').column('message_id').execute();
        /** --overdue-remind N: one more reminder N days after the reply-by date (null: none). */
        await db.schema.alterTable('campaigns').addColumn('overdue_remind', int).execute();

        /** Replies on record, one current per note dispatch; a replaced one points to its successor. */
        await db.schema
          .createTable('replies')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('dispatch_id', 'text', (c) => c.notNull().references('dispatches.id'))
          .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
          .addColumn('recipient_id', 'text', (c) => c.notNull())
          /** Calendar date (yyyy-mm-dd) at the duty station. */
          .addColumn('received_on', 'text', (c) => c.notNull())
          /** email | fax | post | hand | note-verbale */
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('their_reference', 'text')
          .addColumn('note', 'text')
          /** The reply itself: --file, or the .eml of an ingested e-mail (relative to CHANCERY_HOME). */
          .addColumn('file_path', 'text')
          .addColumn('file_sha256', 'text')
          .addColumn('logged_by', 'text', (c) => c.notNull())
          .addColumn('logged_at', 'text', (c) => c.notNull())
          /** manual | ingest */
          .addColumn('source', 'text', (c) => c.notNull())
          /** How an ingested e-mail was matched: in-reply-to | reference+address | reference+domain | assigned. */
          .addColumn('match_method', 'text')
          .addColumn('source_sha256', 'text')
          .addColumn('replaced_by', 'text')
          .execute();
        await sql`create unique index replies_current on replies (dispatch_id) where replaced_by is null`.execute(db);
        await db.schema.createIndex('replies_campaign').on('replies').columns(['campaign_id', 'recipient_id']).execute();

        /** Files kept with a reply (under var/replies): the .eml, its attachments, a --file. */
        await db.schema
          .createTable('reply_files')
          .addColumn('id', int, autoId)
          .addColumn('reply_id', 'text', (c) => c.notNull().references('replies.id'))
          /** file | message | attachment */
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('filename', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('bytes', int, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('reply_files_reply').on('reply_files').column('reply_id').execute();

        /** Every .eml `reply ingest` has seen, by SHA-256: ingesting it again records nothing. */
        await db.schema
          .createTable('ingested_emails')
          .addColumn('sha256', 'text', (c) => c.primaryKey())
          .addColumn('file_name', 'text', (c) => c.notNull())
          /** Copy under var/replies (relative to CHANCERY_HOME). */
          .addColumn('stored_path', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text')
          .addColumn('from_address', 'text')
          .addColumn('subject', 'text')
          .addColumn('date', 'text')
          /** matched | unmatched | assigned | already-replied */
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('reply_id', 'text')
          .addColumn('ingested_at', 'text', (c) => c.notNull())
          .addColumn('ingested_by', 'text', (c) => c.notNull())
          .execute();

        /** Reminder rounds of a campaign: the schedule the sweep rebuilds BullMQ jobs from. */
        await db.schema
          .createTable('reminders')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id'))
          /** b14 (14 days before reply-by), b3, o7 (7 days after): also the dispatches' reminder_key. */
          .addColumn('key', 'text', (c) => c.notNull())
          /** before | overdue */
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('offset_days', int, (c) => c.notNull())
          /** Duty-station calendar date and the UTC instant (that date at REMIND_LOCAL_TIME there). */
          .addColumn('due_on', 'text', (c) => c.notNull())
          .addColumn('due_at', 'text', (c) => c.notNull())
          /** scheduled | done | cancelled */
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('state_reason', 'text')
          /** Counts when it ran: JSON {reminded, replied, not_sent}. */
          .addColumn('result', 'text')
          .addColumn('ran_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('reminders_campaign_key').on('reminders').columns(['campaign_id', 'key']).unique().execute();
        await db.schema.createIndex('reminders_state_due').on('reminders').columns(['state', 'due_at']).execute();

        /** The driven clock: absent row = system time; else time = real time + offset_ms. */
        await db.schema
          .createTable('clock')
          .addColumn('id', int, (c) => c.primaryKey())
          .addColumn('offset_ms', int, (c) => c.notNull())
          .addColumn('set_at', 'text', (c) => c.notNull())
          .addColumn('set_by', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_users': {
      async up(db: Kysely<any>) {
        /** Web console accounts (chancery user add). name_key: the name in lower case, unique. */
        await db.schema
          .createTable('users')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('name_key', 'text', (c) => c.notNull().unique())
          /** viewer | drafter | approver | admin */
          .addColumn('role', 'text', (c) => c.notNull())
          /** scrypt$N$r$p$salt$hash (base64url); never the password itself. */
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('disabled_at', 'text')
          .execute();
        /** Web sessions: id is the SHA-256 of the cookie's token, so a copy of the store opens none. */
        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_user').on('sessions').columns(['user_name']).execute();
      },
    },
    '0006_documents': {
      async up(db: Kysely<any>) {
        /**
         * Each letter's PDF as rendered for sending, written in the same transaction that records
         * the dispatch as rendered (its hash is dispatches.pdf_sha256). A table of its own, not a
         * column of dispatches: rows read by state or campaign never walk the PDF's pages.
         * blob here; bytea in PostgreSQL.
         */
        await db.schema
          .createTable('documents')
          .addColumn('dispatch_id', 'text', (c) => c.primaryKey().references('dispatches.id'))
          .addColumn('bytes', bytes, (c) => c.notNull())
          .execute();
      },
    },
    '0007_template_sources': {
      async up(db: Kysely<any>) {
        /**
         * The exact text of every template version a campaign was approved with, by its SHA-256
         * (the hash the approval records), written in the approval's transaction. Workers render
         * from here, not from a templates folder: a worker on another machine needs no files.
         * Content-addressed, so approving again stores nothing twice.
         */
        await db.schema
          .createTable('template_sources')
          .addColumn('sha256', 'text', (c) => c.primaryKey())
          .addColumn('template_id', 'text', (c) => c.notNull())
          .addColumn('language', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('stored_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0008_write_lock': {
      async up(db: Kysely<any>) {
        if (!pg) return; // SQLite's write lock is BEGIN IMMEDIATE (tx.ts)
        /**
         * The write lock and the audit chain's head in one round trip (tx.ts beginWrite). Volatile,
         * so the SELECT takes its snapshot after the lock is granted: it sees the head as the last
         * writer committed it.
         */
        await sql`
          create or replace function chancery_write_lock(lock_key bigint) returns table (id bigint, hash text)
          language plpgsql volatile as $$
          begin
            perform pg_advisory_xact_lock(lock_key);
            return query select e.id, e.hash from events e order by e.id desc limit 1;
          end
          $$`.execute(db);
      },
    },
  };
}

import path from 'node:path';
import type { Command } from 'commander';
import { defaultActor, getCampaign } from '../campaigns/repo.ts';
import { storeClock } from '../clock.ts';
import { assignReply, ingestReplies, listUnmatched } from '../deadlines/ingest.ts';
import { listReplies, recordReply } from '../deadlines/replies.ts';
import { prepareSampleReplies } from '../deadlines/samples.ts';
import { action } from './run.ts';
import { withDb as withStore } from './store.ts';

/** Every command here needs the recipients: load the shipped registry into an empty store. */
const withDb = <T>(fn: Parameters<typeof withStore<T>>[0]) => withStore(fn, { registry: true });

/** `chancery reply ...`: record, ingest, assign, list, unmatched, samples. */

const out = (line: string): void => void process.stdout.write(`${line}\n`);

export function registerReplyCommands(program: Command): void {
  const reply = program.command('reply').description("governments' replies: record by hand, ingest e-mails, assign the unmatched");

  reply
    .command('record <campaign> <rid>')
    .description('record the reply of one recipient (refused if one is on record, unless --replace)')
    .option('--received <date>', 'date received, yyyy-mm-dd (default: today at the duty station)')
    .option('--channel <channel>', 'email | fax | post | hand | note-verbale', 'email')
    .option('--reference <ref>', 'their reference (e.g. their note number)')
    .option('--note <text>', 'a note for the file')
    .option('--file <path>', 'a file to keep with the reply (scan, PDF); stored with its SHA-256')
    .option('--by <name>', 'who logs it')
    .option('--replace', 'replace the reply on record')
    .action(
      action(async (campaignId: string, rid: string, opts: { received?: string; channel?: string; reference?: string; note?: string; file?: string; by?: string; replace?: boolean }) =>
        withDb(async (db, cfg) => {
          const r = await recordReply(db, cfg, storeClock(db), {
            campaignId,
            recipientId: rid,
            receivedOn: opts.received,
            channel: opts.channel,
            theirReference: opts.reference,
            note: opts.note,
            file: opts.file,
            by: opts.by ?? defaultActor(),
            replace: opts.replace,
          });
          out(`reply of ${rid} to ${campaignId} recorded: received ${r.reply.received_on} by ${r.reply.channel}${r.replaced ? `, replacing ${r.replaced.id}` : ''} (${r.reply.id})`);
          for (const f of r.files) out(`file ${f.path} sha256 ${f.sha256}`);
          if (r.cancelledReminders.length) out(`reminder(s) cancelled: ${r.cancelledReminders.join(', ')}`);
        }),
      ),
    );

  reply
    .command('ingest <dir>')
    .description('read the .eml files of DIR, record the replies they match, list the unmatched')
    .option('--by <name>', 'who runs it')
    .option('--json', 'as JSON')
    .action(
      action(async (dir: string, opts: { by?: string; json?: boolean }) =>
        withDb(async (db, cfg) => {
          const items = await ingestReplies(db, cfg, storeClock(db), dir, { by: opts.by ?? defaultActor() });
          if (opts.json) return out(JSON.stringify(items, null, 2));
          for (const i of items) {
            const name = path.basename(i.file);
            if (i.outcome === 'matched') out(`matched    ${name}: ${i.recipientId} to ${i.campaignId} (${i.method})`);
            else if (i.outcome === 'already-ingested') out(`skipped    ${name}: ${i.reason}`);
            else if (i.outcome === 'already-replied') out(`to review  ${name}: ${i.reason}`);
            else out(`unmatched  ${name}: ${i.reason}; assign with: chancery reply assign ${i.file} CAMPAIGN RID`);
          }
          const n = (o: string) => items.filter((i) => i.outcome === o).length;
          out(`${items.length} file(s): ${n('matched')} matched, ${n('unmatched')} unmatched, ${n('already-replied')} to review, ${n('already-ingested')} already ingested`);
        }),
      ),
    );

  reply
    .command('assign <file> <campaign> <rid>')
    .description('record an ingested (unmatched) e-mail as the reply of RID')
    .option('--by <name>', 'who assigns it')
    .option('--replace', 'replace the reply on record')
    .action(
      action(async (file: string, campaignId: string, rid: string, opts: { by?: string; replace?: boolean }) =>
        withDb(async (db, cfg) => {
          const r = await assignReply(db, cfg, storeClock(db), file, campaignId, rid, { by: opts.by ?? defaultActor(), replace: opts.replace });
          out(`reply of ${rid} to ${campaignId} recorded from ${path.basename(file)}: received ${r.reply.received_on} (${r.reply.id})`);
        }),
      ),
    );

  reply
    .command('unmatched')
    .description('ingested e-mails waiting for a person (reply assign)')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }) =>
        withDb(async (db) => {
          const rows = await listUnmatched(db);
          if (opts.json) return out(JSON.stringify(rows, null, 2));
          for (const r of rows) out(`${r.file_name}  from ${r.from_address ?? '?'}  "${r.subject ?? ''}"  ${r.outcome}: ${r.reason ?? ''}  [${r.stored_path}]`);
          out(`${rows.length} e-mail(s) to assign`);
        }),
      ),
    );

  reply
    .command('list <campaign>')
    .description('replies on record for a campaign')
    .option('--all', 'replaced ones too')
    .option('--json', 'as JSON')
    .action(
      action(async (campaignId: string, opts: { all?: boolean; json?: boolean }) =>
        withDb(async (db) => {
          await getCampaign(db, campaignId);
          const rows = await listReplies(db, campaignId, { all: opts.all });
          if (opts.json) return out(JSON.stringify(rows, null, 2));
          for (const r of rows) out(`${r.recipient_id.padEnd(12)} ${r.received_on} ${r.channel.padEnd(12)} ${r.source}${r.match_method ? `/${r.match_method}` : ''}  ${r.their_reference ?? ''}${r.replaced_by ? `  (replaced by ${r.replaced_by})` : ''}`);
          out(`${rows.length} reply(ies)`);
        }),
      ),
    );

  reply
    .command('samples <campaign>')
    .description('copy the sample replies (seeds/replies) with this campaign\'s Message-IDs, for reply ingest')
    .requiredOption('--out <dir>', 'where to write them')
    .option('--from <dir>', 'sample folder', 'seeds/replies')
    .action(
      action(async (campaignId: string, opts: { out: string; from: string }) =>
        withDb(async (db, cfg) => {
          await getCampaign(db, campaignId);
          const files = prepareSampleReplies(opts.from, opts.out, { campaignId, messageIdDomain: cfg.MESSAGE_ID_DOMAIN });
          out(`${files.length} sample reply(ies) written to ${opts.out}`);
        }),
      ),
    );
}

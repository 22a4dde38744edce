// Deadlines: replies, e-mail ingest, reminder rounds, the clock driven (see each file). The
// reminder schedule, its jobs, the follow-up and what the render/send steps do for a reminder
// live in src/campaigns (this folder depends on that one, never the reverse).
export { recordReply, listReplies, parseChannel, type RecordReplyInput, type RecordedReply, type Reply, type StoredFile } from './replies.ts';
export { ingestReplies, assignReply, listUnmatched, matchReply, parseReply, theirReference, type IngestItem, type Match } from './ingest.ts';
export { runReminderRound, listReminderRounds, type RoundOutcome } from './jobs.ts';
export { driveClock, advanceClock, sweepNow } from './drive.ts';
export { prepareSampleReplies } from './samples.ts';

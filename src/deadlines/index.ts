// Deadlines: replies, e-mail ingest, reminder rounds, follow-up and overdue (see each file).
export { recordReply, listReplies, parseChannel, type RecordReplyInput, type RecordedReply, type Reply, type StoredFile } from './replies.ts';
export { ingestReplies, assignReply, listUnmatched, matchReply, parseReply, theirReference, type IngestItem, type Match } from './ingest.ts';
export { planRounds, scheduleRemindersTx, rescheduleRemindersTx, cancelRemindersTx, reminderRowId, type PlannedRound, type ReminderRow } from './schedule.ts';
export { REMIND_QUEUE, openRemindQueue, reminderJobId, installSweepScheduler, sweepReminders, runReminderRound, listReminderRounds, type RemindPayload, type SweepReport, type RoundOutcome } from './jobs.ts';
export { reminderTemplateId, reminderDispatchId, reminderMessage, currentReply, REMINDER_CAMPAIGN_STATES } from './reminder.ts';
export { campaignFollowUp, overdueRecipients, followUpLine, type FollowUp, type RecipientFollowUp } from './followup.ts';
export { driveClock, advanceClock, sweepNow } from './drive.ts';
export { prepareSampleReplies } from './samples.ts';

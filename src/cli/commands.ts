import type { Command } from 'commander';
import { registerAuditCommands } from './audit.ts';
import { registerBenchCommands } from './bench.ts';
import { registerCampaignCommands } from './campaign.ts';
import { registerClockCommands } from './clock.ts';
import { registerReplyCommands } from './reply.ts';
import { registerDemoCommands } from './demo.ts';
import { registerPreviewCommands } from './preview.ts';
import { registerRedisCommands } from './redis.ts';
import { registerRegistryCommands } from './registry.ts';
import { registerServeCommands } from './serve.ts';
import { registerStatusCommands } from './status.ts';
import { registerStoreCommands } from './store.ts';
import { registerTemplateCommands } from './template.ts';
import { registerUserCommands } from './user.ts';
import { registerWorkerCommands } from './worker.ts';

/** One file per command group; each adds its sub-commands to the program. */
export function registerCommands(program: Command): void {
  void program;
  registerRedisCommands(program);
  registerRegistryCommands(program);
  registerTemplateCommands(program);
  registerCampaignCommands(program);
  registerWorkerCommands(program);
  registerReplyCommands(program);
  registerClockCommands(program);
  registerPreviewCommands(program);
  registerDemoCommands(program);
  registerServeCommands(program);
  registerStatusCommands(program);
  registerUserCommands(program);
  registerAuditCommands(program);
  registerBenchCommands(program);
  registerStoreCommands(program);
}

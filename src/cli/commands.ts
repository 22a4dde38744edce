import type { Command } from 'commander';

/** One file per command group; each adds its sub-commands to the program. */
export function registerCommands(program: Command): void {
  void program;
}

import type { Command } from 'commander';

/** Registers `site-recovery sandbox ...` subcommands. */
export function registerSandboxCommands(program: Command): void {
  program.command('sandbox').description('Local Kubernetes control plane and local Azure for tests and first runs');
}

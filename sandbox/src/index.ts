/**
 * Entry point of `@site-recovery/sandbox` for the product's CLI (src/cli/development-commands.ts loads it
 * by package name): registers `site-recovery sandbox …` and `site-recovery start` (DESIGN.md §6).
 * The product never imports this package; the package imports the product.
 */
import type { Command } from 'commander';
import type { DevelopmentCommands } from '../../src/cli/development-commands.ts';
import { registerSandboxCommands } from './cli.ts';
import { registerStartCommand } from './start/command.ts';

export { endOutage, listOutages, OUTAGE_FAILURES, REGION_DOWN_CODE, startOutage } from './outage.ts';
export type { Outage, OutageControl, OutageFailure } from './outage.ts';
export { armStats, armThrottling, setArmThrottling } from './throttle.ts';
export type { ArmStatsSummary, ThrottlingConfig } from './throttle.ts';
export { connectSandbox } from './client.ts';
export type { SandboxConnection } from './client.ts';

export const registerCommands: DevelopmentCommands['registerCommands'] = (program: Command): void => {
  registerSandboxCommands(program);
  registerStartCommand(program);
};

import { Command } from 'commander';
import { registerSandboxCommands } from '../sandbox/cli.ts';
import { registerOperatorCommand } from './operator-command.ts';
import { registerDatapathCommand } from './datapath-command.ts';
import { registerDrillCommand } from './drill-command.ts';
import { registerStartCommand } from './start-command.ts';

const program = new Command('site-recovery')
  .description('Disaster recovery for Azure virtual machines, as a Kubernetes operator');

registerOperatorCommand(program);
registerDatapathCommand(program);
registerSandboxCommands(program);
registerStartCommand(program);
registerDrillCommand(program);

await program.parseAsync(process.argv);

import { Command } from 'commander';
import { registerSandboxCommands } from '../sandbox/cli.ts';
import { registerOperatorCommand } from './operator-command.ts';
import { registerDatapathCommand } from './datapath-command.ts';

const program = new Command('site-recovery')
  .description('Disaster recovery for Azure virtual machines, as a Kubernetes operator');

registerOperatorCommand(program);
registerDatapathCommand(program);
registerSandboxCommands(program);

await program.parseAsync(process.argv);

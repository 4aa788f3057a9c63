import { Command } from 'commander';
import { registerSandboxCommands } from '../sandbox/cli.ts';

const program = new Command('site-recovery')
  .description('Disaster recovery for Azure virtual machines, as a Kubernetes operator');

registerSandboxCommands(program);

await program.parseAsync(process.argv);

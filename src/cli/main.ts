import { Command } from 'commander';
import { registerOperatorCommand } from './operator-command.ts';
import { registerDatapathCommand } from './datapath-command.ts';
import { registerDrillCommand } from './drill-command.ts';
import { commandWord, DEVELOPMENT_COMMAND_NAMES, loadDevelopmentCommands, NOT_INSTALLED_MESSAGE } from './development-commands.ts';

const program = new Command('site-recovery')
  .description('Disaster recovery for Azure virtual machines, as a Kubernetes operator');

registerOperatorCommand(program);
registerDatapathCommand(program);
registerDrillCommand(program);

// The development commands (`sandbox …`, `start`) come from their own package, loaded only when the
// command line is not one of the product's commands (so `--help` lists them in a checkout).
const word = commandWord(process.argv.slice(2));
if (word === undefined || !program.commands.some((c) => c.name() === word)) {
  const development = await loadDevelopmentCommands();
  if (development) development.registerCommands(program);
  else if (word !== undefined && DEVELOPMENT_COMMAND_NAMES.includes(word)) {
    process.stderr.write(`${NOT_INSTALLED_MESSAGE}\n`);
    process.exit(2);
  }
}

await program.parseAsync(process.argv);

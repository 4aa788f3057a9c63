import { Command } from 'commander';
import { registerOperatorCommand } from './operator-command.ts';
import { registerDatapathCommand } from './datapath-command.ts';
import { registerDrillCommand } from './drill-command.ts';
import { registerCheckCommand } from './check-command.ts';
import { registerFailoverCommands } from './user/failover-commands.ts';
import { registerReplicationCommands } from './user/replication-commands.ts';
import { programName } from './options.ts';
import { commandWord, DEVELOPMENT_COMMAND_NAMES, loadDevelopmentCommands, NOT_INSTALLED_MESSAGE } from './development-commands.ts';

const program = new Command(programName(process.argv[1]))
  .description('Disaster recovery for Azure virtual machines, as a Kubernetes operator')
  // A usage error (unknown option, bad value) is one line from commander and exit code 2; commander's
  // "(Did you mean …?)" suggestion joins that line instead of starting a second one.
  .configureOutput({ outputError: (text, write) => write(`${text.trim().replace(/\s*\n\s*/g, ' ')}\n`) })
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

registerOperatorCommand(program);
registerDatapathCommand(program);
registerDrillCommand(program);
registerFailoverCommands(program);
registerReplicationCommands(program);
registerCheckCommand(program);

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

// A usage error of a subcommand exits the same way as one of the program.
for (const command of program.commands) command.exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

// `help <word>` for a word that is no command: commander would print the whole help to stderr; one line
// instead, as for any other usage error.
const [first, second] = process.argv.slice(2);
if (first === 'help' && second !== undefined && !second.startsWith('-') && !program.commands.some((c) => c.name() === second || c.aliases().includes(second))) {
  process.stderr.write(`error: unknown command '${second}' (see '${program.name()} --help')\n`);
  process.exit(2);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Configuration errors (no subscription, no kubeconfig, a port in use) are one line, not a stack trace:
  // the first line of the message (a kubeconfig that is not YAML adds an excerpt of the file below it).
  const message = (error instanceof Error ? error.message : String(error)).trim().split('\n')[0];
  process.stderr.write(`site-recovery: ${message}\n`);
  if (process.env.SITE_RECOVERY_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

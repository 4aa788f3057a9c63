/**
 * The seam between the product's CLI and its development tools.
 *
 * `site-recovery sandbox …` and `site-recovery start` belong to the sandbox (local Kubernetes and local
 * Azure for tests and first runs), which is its own workspace package, `@site-recovery/sandbox`, present
 * in a development checkout and absent from the production image. Nothing in `src/` imports it: the CLI
 * loads it by package name with a dynamic `import()` only when the command line may need it, and the
 * package hands back a function that registers its commands. Without the package, those two commands
 * answer with one line on stderr and exit code 2 (a usage error: wrong installation, not a crash).
 */
import type { Command } from 'commander';

/** What a development-tools package exports: `registerCommands(program)`. */
export interface DevelopmentCommands {
  registerCommands(program: Command): void;
}

/** The package name; kept in a variable so the compiler does not pull the package into the product build. */
const PACKAGE: string = '@site-recovery/sandbox';

/** The commands the package registers, known here so an installation without it can say why they are missing. */
export const DEVELOPMENT_COMMAND_NAMES: readonly string[] = ['sandbox', 'start'];

export const NOT_INSTALLED_MESSAGE =
  'site-recovery: the sandbox is a development tool and is not part of this installation; ' +
  'run it from a development checkout (npm ci && npm run site-recovery -- sandbox up)';

/** Loads the development commands; undefined when the package is not installed. */
export async function loadDevelopmentCommands(): Promise<DevelopmentCommands | undefined> {
  try {
    return (await import(PACKAGE)) as DevelopmentCommands;
  } catch (error) {
    // Only the package itself being absent means "not installed"; anything failing inside it is a bug to show.
    const e = error as { code?: unknown; message?: unknown };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${PACKAGE}'`)) return undefined;
    throw error;
  }
}

/** The command word of an argument vector (the first operand; the top-level program has no options with values). */
export function commandWord(args: readonly string[]): string | undefined {
  return args.find((a) => !a.startsWith('-'));
}

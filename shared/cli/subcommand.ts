// `<command> [options]` command lines of the ops tools (`npm run outbox`, `npm run embedding`):
// the command name, help, and strict option parsing, with mistakes as UsageErrors.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error';

type Options = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export function parseSubcommand<C extends string>(
  argv: readonly string[],
  options: Record<C, Options>,
): { command: 'help' } | { command: C; values: OptionValues } {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') return { command: 'help' };
  const names = Object.keys(options) as C[];
  if (!names.includes(command as C)) {
    throw new UsageError(`unknown command "${command}" (expected ${names.slice(0, -1).join(', ')} or ${names.at(-1)})`);
  }
  if (rest.includes('-h') || rest.includes('--help')) return { command: 'help' };
  try {
    const { values } = parseArgs({ args: [...rest], options: options[command as C], strict: true, allowPositionals: false });
    return { command: command as C, values: values as OptionValues };
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--x'"; add which command it was given to.
    throw new UsageError(`${command}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

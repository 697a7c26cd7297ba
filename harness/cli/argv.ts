/**
 * node:util parseArgs with the house's messages: a negative number is a value (`--concurrency -3`
 * reaches the range check, which names the flag and the value), and Node's parser texts become
 * messages that name the flag, the nearest valid one and where the list is.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HarnessError } from '../../transports/errors.js';
import { didYouMean } from './nearest.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `--flag -3` -> `--flag=-3` for flags that take a value: otherwise Node reads `-3` as a flag. */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else out.push(arg);
  }
  return out;
}

/** The flag a Node parser message is about (`'--suite <value>'` -> `--suite`). */
const flagIn = (message: string): string => /'(-[^' ]+)/.exec(message)?.[1] ?? '';

/** Node's parse error as a USAGE error that names the flag; `command` is e.g. `run`. */
function usageFrom(error: unknown, options: Options, command: string): HarnessError {
  const e = error as Error & { code?: string };
  const flag = flagIn(e.message);
  const help = `(\`sidecar-bench ${command} --help\` lists the options)`;
  let message: string;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') message = `Unknown option \`${flag}\` for \`sidecar-bench ${command}\`.${didYouMean(flag.replace(/^-+/, ''), Object.keys(options), (k) => `--${k}`)} ${help}`;
  else if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && e.message.includes('does not take an argument')) message = `Expected \`${flag}\` to take no value ${help}`;
  else if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') message = `Expected a value after \`${flag}\` (a value that starts with a dash goes as \`${flag}=VALUE\`) ${help}`;
  else if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') message = `Unexpected argument \`${/'([^']*)'/.exec(e.message)?.[1] ?? ''}\`: \`sidecar-bench ${command}\` takes only options ${help}`;
  else message = e.message;
  return new HarnessError('USAGE', message, { cause: error });
}

/** parseArgs, strict, with the messages above. */
export function parseFlags<T extends Options>(argv: readonly string[], options: T, command: string, allowPositionals = false): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: boolean }>> {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals });
  } catch (error) {
    throw usageFrom(error, options, command);
  }
}

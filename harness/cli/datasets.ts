/**
 * `sidecar-bench datasets fetch cifar10 [--url URL] [--dir DIR] [--md5 HEX]`: download and unpack.
 * `sidecar-bench datasets locate [--data DIR]`: say which CIFAR-10 directory a run would use.
 */
import { parseArgs } from 'node:util';
import { CIFAR10_MD5, CIFAR10_URL, fetchCifar10, type OnProgress } from '../../datasets/fetch.js';
import { cacheDir, locateCifar10 } from '../../datasets/locate.js';
import { HarnessError } from '../../transports/errors.js';

const HELP = `Usage:
  sidecar-bench datasets fetch cifar10 [--url URL] [--dir DIR] [--md5 HEX]
      download the CIFAR-10 binary archive, check its md5, unpack it into DIR
      (default ${cacheDir()})
  sidecar-bench datasets locate [--data DIR]
      print the CIFAR-10 directory a run would use, and which rule found it
`;

const FLAGS = {
  url: { type: 'string' },
  dir: { type: 'string' },
  md5: { type: 'string' },
  data: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MB = 1e6;
const size = (bytes: number): string => (bytes < MB ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / MB).toFixed(1)} MB`);

/** A bar redrawn in place on a TTY (at most ~10 times a second); a line per 10% (or 10 MB) otherwise. */
export function createDownloadProgress(stream: NodeJS.WriteStream = process.stderr): { onProgress: OnProgress; finish: () => void } {
  const live = stream.isTTY === true;
  let lastDrawMs = 0;
  let lastStep = -1;
  let drawn = false;
  const describe = (received: number, total: number | undefined): string => {
    if (total === undefined || total === 0) return size(received);
    const pct = Math.min(100, (received / total) * 100);
    const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, ' ');
    return `[${bar}] ${pct.toFixed(0).padStart(3)}% ${size(received)} of ${size(total)}`;
  };
  const onProgress: OnProgress = (received, total) => {
    if (live) {
      const now = performance.now();
      if (now - lastDrawMs < 100 && received !== total) return;
      lastDrawMs = now;
      drawn = true;
      stream.write(`\r\x1b[2Kdownloading ${describe(received, total)}`);
      return;
    }
    const step = total === undefined || total === 0 ? Math.floor(received / (10 * MB)) : Math.floor((received / total) * 10);
    if (step === lastStep) return;
    lastStep = step;
    stream.write(`downloading ${describe(received, total)}\n`);
  };
  return { onProgress, finish: () => void (live && drawn ? stream.write('\n') : undefined) };
}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FLAGS, allowPositionals: true });
  } catch (error) {
    throw new HarnessError('USAGE', `${(error as Error).message}\n\n${HELP}`, { cause: error });
  }
}

async function fetchCommand(dataset: string | undefined, values: ReturnType<typeof parse>['values']): Promise<number> {
  if (dataset !== 'cifar10') throw new HarnessError('USAGE', `Expected a dataset name \`cifar10\`, got \`${dataset ?? ''}\`\n\n${HELP}`);
  const url = values.url ?? CIFAR10_URL;
  if (!/^https?:\/\//.test(url) || !URL.canParse(url)) throw new HarnessError('USAGE', `Expected \`--url\` to be an http(s) URL, got \`${url}\``);
  const md5 = values.md5 ?? CIFAR10_MD5;
  if (!/^[0-9a-fA-F]{32}$/.test(md5)) throw new HarnessError('USAGE', `Expected \`--md5\` to be 32 hex digits, got \`${md5}\``);
  const dir = values.dir ?? cacheDir();
  process.stderr.write(`fetching ${url}\n`);
  const progress = createDownloadProgress();
  try {
    const result = await fetchCifar10({ url, dir, md5, onProgress: progress.onProgress });
    progress.finish();
    process.stderr.write(`md5 ok (${size(result.archiveBytes)}), unpacked ${result.files.length} files\n`);
    process.stdout.write(`${result.dir}\n`);
    return 0;
  } catch (error) {
    progress.finish();
    throw error;
  }
}

export async function datasetsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [action, ...rest] = positionals;
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  if (action === 'fetch' && rest.length <= 1) return fetchCommand(rest[0], values);
  if (action === 'locate' && rest.length === 0) {
    const found = locateCifar10({ data: values.data });
    if (found === undefined) {
      process.stderr.write('no CIFAR-10 data found: runs use synthetic images (accuracy not applicable)\n');
      return 1;
    }
    process.stdout.write(`${found.dir}\t${found.source}\n`);
    return 0;
  }
  throw new HarnessError('USAGE', `Expected \`datasets fetch cifar10\` or \`datasets locate\`, got \`datasets ${positionals.join(' ')}\`\n\n${HELP}`);
}

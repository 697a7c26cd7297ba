/**
 * Where the CIFAR-10 binary files are: `--data DIR`, else `$CIFAR10_DIR`, else the cache that
 * `sidecar-bench datasets fetch cifar10` fills, else `../shared/datasets/cifar10` beside the checkout.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HarnessError } from '../transports/errors.js';
import { sharedDir } from './paths.js';
import { TEST_FILE } from './cifar10.js';

export type DataSource = 'flag' | 'env' | 'cache' | 'shared';

export interface LocatedData {
  readonly dir: string;
  /** Which rule found it, so a report can say where its images came from. */
  readonly source: DataSource;
}

export interface LocateOptions {
  /** The `--data DIR` flag. */
  readonly data?: string | undefined;
  /** Defaults to `process.env`; tests pass their own. */
  readonly env?: NodeJS.ProcessEnv;
  /** Defaults to `../shared/datasets/cifar10` beside the repository root, when it exists. */
  readonly sharedDir?: string | undefined;
}

/** The fetch command's default target: `$XDG_CACHE_HOME/sidecar-bench/cifar10` or `~/.cache/...`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec says a relative value is invalid and must be ignored.
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(env['HOME'] ?? os.homedir(), '.cache');
  return path.join(base, 'sidecar-bench', 'cifar10');
}

const hasTestBatch = (dir: string): boolean => existsSync(path.join(dir, TEST_FILE));

/**
 * The first directory that holds `test_batch.bin`, or undefined (callers then use synthetic images).
 * A directory named explicitly (flag or variable) that holds no data is an error, not a silent fallback.
 */
export function locateCifar10(options: LocateOptions = {}): LocatedData | undefined {
  const env = options.env ?? process.env;
  const explicit: [DataSource, string, string | undefined][] = [
    ['flag', '`--data`', options.data],
    ['env', '`$CIFAR10_DIR`', env['CIFAR10_DIR'] === '' ? undefined : env['CIFAR10_DIR']],
  ];
  for (const [source, name, dir] of explicit) {
    if (dir === undefined) continue;
    const resolved = path.resolve(dir);
    if (!hasTestBatch(resolved)) {
      throw new HarnessError('SETUP_FAILED', `Expected ${name} \`${dir}\` to be a CIFAR-10 binary directory holding ${TEST_FILE}; fetch one with \`sidecar-bench datasets fetch cifar10 --dir ${dir}\``);
    }
    return Object.freeze({ dir: resolved, source });
  }
  const cache = cacheDir(env);
  if (hasTestBatch(cache)) return Object.freeze({ dir: cache, source: 'cache' });
  const shared = 'sharedDir' in options ? options.sharedDir : sharedDir('datasets', 'cifar10');
  if (shared !== undefined && hasTestBatch(shared)) return Object.freeze({ dir: shared, source: 'shared' });
  return undefined;
}

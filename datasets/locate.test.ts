import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../transports/errors.js';
import { TEST_FILE } from './cifar10.js';
import { cacheDir, locateCifar10 } from './locate.js';

let root = '';
const dirs = { flag: '', env: '', cacheHome: '', shared: '', empty: '' };

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'locate-test-'));
  for (const key of ['flag', 'env', 'shared', 'empty'] as const) {
    dirs[key] = path.join(root, key);
    await mkdir(dirs[key]);
    if (key !== 'empty') await writeFile(path.join(dirs[key], TEST_FILE), '');
  }
  dirs.cacheHome = path.join(root, 'xdg');
  await mkdir(path.join(dirs.cacheHome, 'sidecar-bench', 'cifar10'), { recursive: true });
  await writeFile(path.join(dirs.cacheHome, 'sidecar-bench', 'cifar10', TEST_FILE), '');
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('locateCifar10', () => {
  it('prefers --data, then $CIFAR10_DIR, then the cache, then ../shared', () => {
    const env = { CIFAR10_DIR: dirs.env, XDG_CACHE_HOME: dirs.cacheHome };
    expect(locateCifar10({ data: dirs.flag, env, sharedDir: dirs.shared })).toEqual({ dir: dirs.flag, source: 'flag' });
    expect(locateCifar10({ env, sharedDir: dirs.shared })).toEqual({ dir: dirs.env, source: 'env' });
    expect(locateCifar10({ env: { XDG_CACHE_HOME: dirs.cacheHome }, sharedDir: dirs.shared })?.source).toBe('cache');
    expect(locateCifar10({ env: { HOME: dirs.empty }, sharedDir: dirs.shared })).toEqual({ dir: dirs.shared, source: 'shared' });
  });

  it('returns undefined when nothing is found (callers use synthetic images)', () => {
    expect(locateCifar10({ env: { HOME: dirs.empty }, sharedDir: undefined })).toBeUndefined();
    expect(locateCifar10({ env: { HOME: dirs.empty }, sharedDir: dirs.empty })).toBeUndefined();
  });

  it('refuses a named directory without data instead of silently falling back', () => {
    const error = (() => {
      try {
        return locateCifar10({ data: dirs.empty, env: {}, sharedDir: dirs.shared });
      } catch (e) {
        return e;
      }
    })();
    expect((error as HarnessError).code).toBe('SETUP_FAILED');
  });

  it('puts the cache under $XDG_CACHE_HOME, else ~/.cache (a relative XDG value is ignored)', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/sidecar-bench/cifar10');
    expect(cacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/sidecar-bench/cifar10');
  });
});

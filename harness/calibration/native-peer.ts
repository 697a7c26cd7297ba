/**
 * The calibration peer: a C echo server (echo-peer.c) built on first use into .cache/, started
 * like a sidecar. Measured with the framed client, it is the IPC floor each transport is read against.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Family } from '../../transports/address.js';
import { HarnessError } from '../errors.js';
import { REPO_ROOT } from '../paths.js';
import { startSidecar, type Sidecar } from '../sidecar.js';

const SOURCE = path.join(REPO_ROOT, 'harness', 'calibration', 'echo-peer.c');
const BINARY = path.join(REPO_ROOT, '.cache', 'echo-peer');

/** Build the peer if it is missing or older than its source; throws SETUP_FAILED without a C compiler. */
export async function buildNativePeer(): Promise<string> {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return BINARY;
  await mkdir(path.dirname(BINARY), { recursive: true });
  const compiler = process.env['CC'] ?? 'cc';
  const result = await execa(compiler, ['-O2', '-o', BINARY, SOURCE, '-lpthread'], { reject: false });
  if (result.exitCode !== 0) {
    throw new HarnessError('SETUP_FAILED', `Could not build the native echo peer with \`${compiler}\` (install a C compiler, e.g. \`apt-get install gcc\`): ${String(result.stderr || result.message)}`);
  }
  return BINARY;
}

export async function startNativePeer(family: Family): Promise<Sidecar> {
  const program = await buildNativePeer();
  return startSidecar({ model: 'echo', transport: 'native-peer', family, program, readyTimeoutMs: 10_000 });
}

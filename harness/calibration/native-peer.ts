/**
 * The native calibration programs, built on first use into .cache/ with the system C compiler:
 * the echo peer (echo-peer.c, a C server) and the echo client (echo-client.c). With the Node
 * clients and the Python sidecar they make the 2x2 floor: {Node, C} client x {C, Python} server.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Family } from '../../transports/address.js';
import { HarnessError } from '../../transports/errors.js';
import { REPO_ROOT } from '../paths.js';
import { startSidecar, type Sidecar } from '../sidecar.js';

export type NativeProgram = 'echo-peer' | 'echo-client';

/** Build `program` if it is missing or older than its source; throws SETUP_FAILED without a C compiler. */
export async function buildNative(program: NativeProgram): Promise<string> {
  const source = path.join(REPO_ROOT, 'harness', 'calibration', `${program}.c`);
  const binary = path.join(REPO_ROOT, '.cache', program);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  await mkdir(path.dirname(binary), { recursive: true });
  const compiler = process.env['CC'] ?? 'cc';
  // Built under a temporary name and renamed, so two runs building at once never see half a binary.
  const tmp = `${binary}.tmp-${process.pid}`;
  const result = await execa(compiler, ['-O2', '-Wall', '-o', tmp, source, '-lpthread'], { reject: false });
  if (result.exitCode !== 0) {
    throw new HarnessError('SETUP_FAILED', `Could not build the native ${program} with \`${compiler}\` (install a C compiler, e.g. \`apt-get install gcc\`): ${String(result.stderr || result.message)}`);
  }
  await rename(tmp, binary);
  return binary;
}

export async function startNativePeer(family: Family): Promise<Sidecar> {
  const program = await buildNative('echo-peer');
  return startSidecar({ model: 'echo', transport: 'native-peer', family, program, readyTimeoutMs: 10_000 });
}

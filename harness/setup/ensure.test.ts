import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';

/** Setup's plan for the sidecar's Python (`ensure.js --plan`: decided, nothing installed) on a PATH we build. */
async function plan(binDirs: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const { SIDECAR_PYTHON: _named, ...rest } = process.env;
  const out = await execa('node', [path.join(REPO_ROOT, 'harness', 'setup', 'ensure.js'), '--plan'], {
    env: { ...rest, PATH: [...binDirs, '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter), ...env },
    extendEnv: false,
  });
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

describe('setup finds CUDA', () => {
  let dir: string;
  const bin = (name: string): string => path.join(dir, name);
  const script = async (file: string, body: string): Promise<void> => {
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-setup-'));
    for (const sub of ['gpu', 'broken-driver', 'cuda-python']) await mkdir(bin(sub));
    await script(bin('gpu/nvidia-smi'), 'echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-fake)"');
    await script(bin('broken-driver/nvidia-smi'), "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9");
    // An interpreter whose torch has CUDA: it answers setup's probe with success.
    await script(bin('cuda-python/python3'), 'exit 0');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('without a GPU, keeps the CPU path (Debian packages as root on Debian, pip elsewhere)', async () => {
    const p = await plan([]);
    expect(['ready', 'debian-cpu', 'plain']).toContain(p['kind']);
    expect(p['gpu']).toBeUndefined();
  });

  it('a driver that does not answer is no GPU', async () => {
    const p = await plan([bin('broken-driver')]);
    expect(p['gpu']).toBeUndefined();
    expect(String(p['kind'])).not.toMatch(/^cuda/);
  });

  it('with a GPU, uses an interpreter whose torch has CUDA, never the CPU build', async () => {
    const p = await plan([bin('gpu'), bin('cuda-python')]);
    expect(p).toMatchObject({ kind: 'cuda-system', python: bin('cuda-python/python3'), gpu: 'GPU 0: NVIDIA H200 (UUID: GPU-00000000-fake)' });
  }, 60_000);

  it("with a GPU and no CUDA torch anywhere, installs pip's CUDA wheel in a rebuilt venv", async () => {
    // This machine's Pythons (the venv's, Debian's) have a CPU-only torch.
    const p = await plan([bin('gpu')]);
    expect(p['kind']).toBe('cuda-pip');
    expect(p['rebuild']).toBe(true);
  }, 60_000);

  it('$SIDECAR_PYTHON wins', async () => {
    const p = await plan([bin('gpu'), bin('cuda-python')], { SIDECAR_PYTHON: '/opt/my/python' });
    expect(p).toMatchObject({ kind: 'named', python: '/opt/my/python' });
  });
});

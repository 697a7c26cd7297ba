/** What every result carries about where it was measured (mitata records this with every run). */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT, sidecarPython } from './paths.js';

export interface Environment {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly os: string;
  readonly arch: string;
  readonly node: string;
  readonly python: string | null;
  readonly torch: string | null;
  readonly cudaAvailable: boolean;
  readonly gpu: string | null;
  readonly gitCommit: string | null;
  readonly gitDirty: boolean | null;
  readonly harnessVersion: string;
  readonly hostname: string;
  /** How the echo groups were pinned to cores, `off`, or why pinning was unavailable. */
  cpuPinning?: string;
}

const PY_PROBE = `
import json, platform
info = {"python": platform.python_version(), "torch": None, "cuda": False, "gpu": None}
try:
    import torch
    info["torch"] = torch.__version__
    info["cuda"] = bool(torch.cuda.is_available())
    if info["cuda"]:
        info["gpu"] = torch.cuda.get_device_name(0)
except Exception:
    pass
print(json.dumps(info))
`;

export function harnessVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export async function captureEnvironment(python = sidecarPython()): Promise<Environment> {
  const [py, commit, dirty] = await Promise.all([
    execa(python, ['-c', PY_PROBE], { reject: false, timeout: 60_000 }),
    execa('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, reject: false }),
    execa('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, reject: false }),
  ]);
  let probe: { python?: string; torch?: string | null; cuda?: boolean; gpu?: string | null } = {};
  try {
    probe = JSON.parse(String(py.stdout)) as typeof probe;
  } catch {
    // No usable interpreter: the fields stay null and the sidecar start will say why.
  }
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    node: process.version,
    python: probe.python ?? null,
    torch: probe.torch ?? null,
    cudaAvailable: probe.cuda ?? false,
    gpu: probe.gpu ?? null,
    gitCommit: commit.exitCode === 0 ? String(commit.stdout).trim() : null,
    gitDirty: dirty.exitCode === 0 ? String(dirty.stdout).trim().length > 0 : null,
    harnessVersion: harnessVersion(),
    hostname: os.hostname(),
  };
}

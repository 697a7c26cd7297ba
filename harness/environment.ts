/** What every result carries about where it was measured (mitata records this with every run). */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { HarnessError } from '../transports/errors.js';
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
  /** The name of the first CUDA device torch sees (or, when torch sees none, the first `nvidia-smi` lists). */
  readonly gpu: string | null;
  /** CUDA devices torch sees. */
  readonly gpuCount?: number;
  /** The NVIDIA driver's version (`nvidia-smi`), or null without one. */
  readonly gpuDriver?: string | null;
  /** The CUDA version torch was built with (`torch.version.cuda`), or null for a CPU-only torch. */
  readonly torchCuda?: string | null;
  readonly gitCommit: string | null;
  readonly gitDirty: boolean | null;
  readonly harnessVersion: string;
  readonly hostname: string;
  /** How the echo groups were pinned to cores, `off`, or why pinning was unavailable. */
  cpuPinning?: string;
}

const PY_PROBE = `
import json, platform
info = {"python": platform.python_version(), "torch": None, "cuda": False, "gpu": None, "gpu_count": 0, "torch_cuda": None}
try:
    import torch
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    info["cuda"] = bool(torch.cuda.is_available())
    if info["cuda"]:
        info["gpu_count"] = torch.cuda.device_count()
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
  const [py, smi, commit, dirty] = await Promise.all([
    execa(python, ['-c', PY_PROBE], { reject: false, timeout: 60_000 }),
    execa('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { reject: false, timeout: 15_000 }),
    execa('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, reject: false }),
    execa('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, reject: false }),
  ]);
  let probe: { python?: string; torch?: string | null; cuda?: boolean; gpu?: string | null; gpu_count?: number; torch_cuda?: string | null } = {};
  try {
    probe = JSON.parse(String(py.stdout)) as typeof probe;
  } catch {
    // No usable interpreter: the fields stay null and the sidecar start will say why.
  }
  // `name, driver` per GPU; a machine without the driver has no nvidia-smi (or it fails).
  const [smiName, smiDriver] = smi.exitCode === 0 ? (String(smi.stdout).split('\n')[0] ?? '').split(',').map((x) => x.trim()) : [];
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
    gpu: probe.gpu ?? (smiName === undefined || smiName === '' ? null : smiName),
    gpuCount: probe.gpu_count ?? 0,
    gpuDriver: smiDriver === undefined || smiDriver === '' ? null : smiDriver,
    torchCuda: probe.torch_cuda ?? null,
    gitCommit: commit.exitCode === 0 ? String(commit.stdout).trim() : null,
    gitDirty: dirty.exitCode === 0 ? String(dirty.stdout).trim().length > 0 : null,
    harnessVersion: harnessVersion(),
    hostname: os.hostname(),
  };
}

/**
 * Asking for CUDA where the sidecar's torch cannot use it is a usage error, found before any cell
 * (rather than every model cell failing at start): the message says which part is missing.
 */
export function checkDevice(device: string, env: Environment, python = sidecarPython()): void {
  const cuda = /^cuda(?::(\d+))?$/.exec(device);
  if (cuda === null) return;
  const asked = `\`--device ${device}\``;
  const fix = 'run `npm run setup` on this machine (it installs a torch with CUDA where nvidia-smi finds a GPU), or set SIDECAR_PYTHON to a Python whose torch has CUDA';
  if (env.torch === null) throw new HarnessError('USAGE', `${asked}: the sidecar's Python (${python}) has no torch; ${fix}`);
  if (!env.cudaAvailable) {
    const gpu = env.gpu === null ? 'and nvidia-smi finds no GPU on this machine' : `though this machine has ${env.gpu}${env.gpuDriver ? ` (driver ${env.gpuDriver})` : ''}`;
    const why = env.torchCuda === null || env.torchCuda === undefined ? `torch ${env.torch} in ${python} is a CPU-only build` : `torch ${env.torch} (CUDA ${env.torchCuda}) in ${python} sees no CUDA device`;
    throw new HarnessError('USAGE', `${asked} asks for CUDA, but ${why}, ${gpu}; use \`--device cpu\` or \`auto\`, or ${fix}`);
  }
  const index = cuda[1] === undefined ? 0 : Number(cuda[1]);
  const count = env.gpuCount ?? 1;
  if (index >= count) throw new HarnessError('USAGE', `${asked}: torch sees ${count} CUDA device${count === 1 ? '' : 's'} (cuda:0${count > 1 ? `..cuda:${count - 1}` : ''})`);
}

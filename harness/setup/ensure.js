#!/usr/bin/env node
// Makes sure everything `npm test` and `npm run bench` need exists, so they work as the first
// command after `git clone`: node modules, the sidecar's Python environment, and (for tests)
// Chromium. Idempotent; when everything is there it only compares a few stamps (well under 2 s).
// Plain JavaScript on purpose: it runs before node_modules (and so tsx) may exist.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianPackages, isDebianRoot, run, fail, log } from './steps.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENV = path.join(ROOT, '.venv');
const VENV_PYTHON = path.join(VENV, 'bin', 'python');
const STAMP = path.join(VENV, '.sidecar-bench-stamp');
const REQUIREMENTS = path.join(ROOT, 'sidecars', 'requirements.txt');
const CONSTRAINTS = path.join(ROOT, 'sidecars', 'constraints-debian.txt');
// Independent Open Inference Protocol clients (tritonclient) for the tests, in a venv of their own:
// their grpcio and protobuf are far newer than the sidecar's (Debian's grpcio 1.51) and would break it.
// And the sidecar's http-json under the gunicorn pip installs today (27), whose gthread worker
// differs from Debian's 20.1 (frontends/http_workers.py): its own venv, without torch.
const TEST_VENVS = [
  { dir: '.venv-clients', requirements: 'requirements-clients.txt', what: 'tritonclient', skipped: 'the tests that drive the sidecar with tritonclient' },
  { dir: '.venv-gunicorn', requirements: 'requirements-gunicorn-latest.txt', what: 'the latest gunicorn', skipped: 'the http-json tests on the latest gunicorn' },
];
const forTests = process.argv.includes('--tests') || process.env.npm_lifecycle_event === 'pretest';

function ensureNodeModules() {
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log('installing node modules (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT }, 'npm ci failed; run `npm ci` yourself to see why');
}

function requirementsStamp() {
  const hash = createHash('sha256');
  for (const file of [REQUIREMENTS, CONSTRAINTS]) hash.update(readFileSync(file));
  return hash.digest('hex');
}

/** The NVIDIA GPUs `nvidia-smi -L` lists, or undefined where there is none (or no driver). */
function nvidiaGpus() {
  const out = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 15_000 });
  const lines = out.status === 0 ? out.stdout.split('\n').filter((l) => /^GPU \d+:/.test(l)) : [];
  return lines.length > 0 ? lines.join('; ') : undefined;
}

/** Whether `python` imports a torch built with CUDA that sees a device. */
function hasCudaTorch(python) {
  const probe = 'import sys, torch; sys.exit(0 if torch.version.cuda and torch.cuda.is_available() else 1)';
  return spawnSync(python, ['-c', probe], { stdio: 'ignore', timeout: 120_000 }).status === 0;
}

/** The interpreters on PATH (and Debian's), in order, each once. */
function pythonsOnPath() {
  const found = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['python3', 'python']) {
      const candidate = path.join(dir, name);
      if (dir !== '' && existsSync(candidate) && !found.includes(candidate)) found.push(candidate);
    }
  }
  return found;
}

/**
 * How the sidecar's Python is provided here, decided before anything is installed:
 * - `named`: $SIDECAR_PYTHON, used as it is;
 * - `ready`: the project's .venv exists and was built for these requirements on this kind of machine;
 * - with an NVIDIA GPU: `cuda-system` (a venv over an interpreter whose torch already has CUDA) or
 *   `cuda-pip` (a plain venv; pip installs PyPI's torch, the CUDA build on Linux), never Debian's
 *   CPU-only python3-torch;
 * - without one: `debian-cpu` (as root on Debian: torch and friends from apt) or `plain` (pip).
 */
function planPython() {
  const named = process.env.SIDECAR_PYTHON;
  const gpu = nvidiaGpus();
  if (named !== undefined && named !== '') return { kind: 'named', python: named, gpu };
  const stamp = `${requirementsStamp()}:${gpu === undefined ? 'cpu' : 'gpu'}`;
  const built = existsSync(VENV_PYTHON) && existsSync(STAMP) ? readFileSync(STAMP, 'utf8') : undefined;
  // A venv built for this GPU whose torch could not use it (`:gpu-no-cuda`) is not rebuilt on every run.
  if (built === stamp || (gpu !== undefined && built === `${stamp}-no-cuda`)) return { kind: 'ready', python: VENV_PYTHON, gpu, stamp: built, cuda: built === stamp || gpu === undefined };
  // A venv whose torch cannot use the GPU now present is rebuilt; otherwise pip updates it in place.
  const rebuild = gpu !== undefined && existsSync(VENV_PYTHON) && !hasCudaTorch(VENV_PYTHON);
  if (gpu !== undefined) {
    const cuda = pythonsOnPath().find(hasCudaTorch);
    return cuda !== undefined ? { kind: 'cuda-system', python: cuda, gpu, stamp, rebuild } : { kind: 'cuda-pip', gpu, stamp, rebuild };
  }
  return { kind: isDebianRoot() ? 'debian-cpu' : 'plain', gpu, stamp, rebuild };
}

function ensurePython() {
  const plan = planPython();
  if (plan.kind === 'named') {
    const probe = run(plan.python, ['-c', 'import torch, msgpack, grpc, flask, gunicorn, sentencepiece, pytest'], { allowFailure: true });
    if (probe.status !== 0) {
      fail(`$SIDECAR_PYTHON (${plan.python}) lacks the sidecar's dependencies`, `${plan.python} -m pip install -r sidecars/requirements.txt`);
    }
    if (plan.gpu !== undefined && !hasCudaTorch(plan.python)) log(`warning: this machine has ${plan.gpu}, but the torch of $SIDECAR_PYTHON (${plan.python}) cannot use it; \`--device cuda\` will be refused`);
    return;
  }
  if (plan.kind === 'ready') {
    if (!plan.cuda) log(`warning: this machine has ${plan.gpu}, but the torch in .venv cannot use it (see the warning setup gave when it built .venv; remove .venv to try again)`);
    return;
  }
  if (plan.rebuild) {
    log(`rebuilding .venv: its torch cannot use ${plan.gpu}`);
    rmSync(VENV, { recursive: true, force: true });
  }
  if (plan.kind === 'debian-cpu') buildDebianVenv();
  else if (plan.kind === 'cuda-system') buildVenvOver(plan.python);
  else buildPlainVenv();
  let stamp = plan.stamp;
  if (plan.gpu !== undefined) {
    if (hasCudaTorch(VENV_PYTHON)) log(`torch with CUDA ready for ${plan.gpu}`);
    else {
      log(`warning: this machine has ${plan.gpu}, but the torch pip installed cannot use it (driver older than its CUDA?); sidecars will run on the CPU and \`--device cuda\` will be refused`);
      stamp = `${stamp}-no-cuda`;
    }
  }
  writeFileSync(STAMP, stamp);
}

// On Debian as root without a GPU: torch and friends from apt (CPU torch, ~30 s, no CUDA download), a
// venv that sees them (--system-site-packages), and pip for the few things Debian lacks.
function buildDebianVenv() {
  debianPackages(['python3-venv', 'python3-torch', 'python3-numpy', 'python3-msgpack', 'python3-grpcio', 'python3-protobuf', 'python3-flask', 'python3-gunicorn', 'python3-sentencepiece', 'python3-pytest']);
  if (!existsSync(VENV_PYTHON)) {
    log('creating .venv from /usr/bin/python3 with --system-site-packages');
    run('/usr/bin/python3', ['-m', 'venv', '--system-site-packages', VENV], {}, 'could not create the venv');
  }
  pipInstall(['-c', CONSTRAINTS]);
}

// With a GPU and an interpreter whose torch already has CUDA (a CUDA image, conda): a venv that sees
// its packages, so pip finds torch satisfied and downloads no second copy.
function buildVenvOver(python) {
  if (isDebianRoot()) debianPackages(['python3-venv']);
  log(`creating .venv from ${python} (its torch has CUDA) with --system-site-packages`);
  run(python, ['-m', 'venv', '--system-site-packages', VENV], {}, 'could not create the venv', `${python} -m venv --system-site-packages .venv`);
  pipInstall([]);
}

// Anywhere else: the path every user with a package index takes (on Linux with a GPU, PyPI's torch
// is the CUDA build).
function buildPlainVenv() {
  if (!existsSync(VENV_PYTHON)) {
    if (isDebianRoot()) debianPackages(['python3-venv']);
    const python = ['python3', 'python'].find((p) => run(p, ['--version'], { allowFailure: true }).status === 0);
    if (python === undefined) fail('no python3 found on PATH', 'install Python 3.10+ (e.g. `apt-get install python3 python3-venv`), or set SIDECAR_PYTHON');
    log(`creating .venv with ${python}`);
    run(python, ['-m', 'venv', VENV], {}, 'could not create the venv', `${python} -m venv .venv (on Debian/Ubuntu: apt-get install python3-venv)`);
  }
  pipInstall([]);
}

function pipInstall(extra) {
  log('installing sidecars/requirements.txt with pip');
  run(VENV_PYTHON, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', REQUIREMENTS, ...extra], {}, 'pip could not install the sidecar requirements', `${VENV_PYTHON} -m pip install -r sidecars/requirements.txt`);
}

/**
 * A venv of its own for some tests (TEST_VENVS), rebuilt only when its requirements change (a stamp
 * of their hash, as .venv). Where it cannot be built (no package index) the tests that need it are
 * skipped with a reason; under CI (CI=true) that is a failure here, so a run never passes without them.
 */
function ensureTestVenv({ dir, requirements, what, skipped }) {
  const venv = path.join(ROOT, dir);
  const python = path.join(venv, 'bin', 'python');
  const stampFile = path.join(venv, '.sidecar-bench-stamp');
  const requirementsFile = path.join(ROOT, 'sidecars', requirements);
  const stamp = createHash('sha256').update(readFileSync(requirementsFile)).digest('hex');
  if (existsSync(python) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  const fix = `python3 -m venv ${dir} && ${dir}/bin/python -m pip install -r sidecars/${requirements}`;
  const trouble = (why) => {
    if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') fail(why, fix);
    log(`warning: ${why}; ${skipped} will be skipped (to fix it, run: ${fix})`);
  };
  if (isDebianRoot()) debianPackages(['python3-venv']);
  const system = ['python3', 'python'].find((p) => run(p, ['--version'], { allowFailure: true }).status === 0);
  if (system === undefined) return trouble(`no python3 on PATH for ${dir}`);
  log(`installing sidecars/${requirements} (${what}) into ${dir}`);
  rmSync(venv, { recursive: true, force: true });
  if (run(system, ['-m', 'venv', venv], { allowFailure: true }).status !== 0) return trouble(`could not create ${dir}`);
  const pip = run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirementsFile], { allowFailure: true, stdio: 'inherit' });
  if (pip.status !== 0) return trouble(`pip could not install sidecars/${requirements} (exit ${pip.status})`);
  writeFileSync(stampFile, stamp);
}

function ensureChromium() {
  if (existsSync('/usr/bin/chromium') || process.env.SIDECAR_BENCH_NO_BROWSER !== undefined) return;
  if (isDebianRoot()) debianPackages(['chromium']);
  else log('note: /usr/bin/chromium not found; the report browser test will be skipped (apt-get install chromium)');
}

if (process.argv.includes('--plan')) {
  // What setup would do for Python here, as JSON, without doing it (tests and the curious).
  const { stamp: _stamp, ...plan } = planPython();
  process.stdout.write(`${JSON.stringify(plan)}\n`);
} else {
  ensureNodeModules();
  ensurePython();
  if (forTests) {
    ensureChromium();
    for (const venv of TEST_VENVS) ensureTestVenv(venv);
  }
}

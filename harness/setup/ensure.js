#!/usr/bin/env node
// Makes sure everything `npm test` and `npm run bench` need exists, so they work as the first
// command after `git clone`: node modules, the sidecar's Python environment, and (for tests)
// Chromium. Idempotent; when everything is there it only compares a few stamps (well under 2 s).
// Plain JavaScript on purpose: it runs before node_modules (and so tsx) may exist.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { debianPackages, isDebianRoot, run, fail, log } from './steps.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENV = path.join(ROOT, '.venv');
const VENV_PYTHON = path.join(VENV, 'bin', 'python');
const STAMP = path.join(VENV, '.sidecar-bench-stamp');
const REQUIREMENTS = path.join(ROOT, 'sidecars', 'requirements.txt');
const CONSTRAINTS = path.join(ROOT, 'sidecars', 'constraints-debian.txt');
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

function ensurePython() {
  const named = process.env.SIDECAR_PYTHON;
  if (named !== undefined && named !== '') {
    const probe = run(named, ['-c', 'import torch, msgpack, grpc, flask, gunicorn, sentencepiece, pytest'], { allowFailure: true });
    if (probe.status !== 0) {
      fail(`$SIDECAR_PYTHON (${named}) lacks the sidecar's dependencies`, `${named} -m pip install -r sidecars/requirements.txt`);
    }
    return;
  }
  const stamp = requirementsStamp();
  if (existsSync(VENV_PYTHON) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === stamp) return;
  if (isDebianRoot()) buildDebianVenv();
  else buildPlainVenv();
  writeFileSync(STAMP, stamp);
}

// On Debian as root: torch and friends from apt (CPU torch, ~30 s, no CUDA download), a venv that
// sees them (--system-site-packages), and pip for the few things Debian lacks.
function buildDebianVenv() {
  debianPackages(['python3-venv', 'python3-torch', 'python3-numpy', 'python3-msgpack', 'python3-grpcio', 'python3-protobuf', 'python3-flask', 'python3-gunicorn', 'python3-sentencepiece', 'python3-pytest']);
  if (!existsSync(VENV_PYTHON)) {
    log('creating .venv from /usr/bin/python3 with --system-site-packages');
    run('/usr/bin/python3', ['-m', 'venv', '--system-site-packages', VENV], {}, 'could not create the venv');
  }
  pipInstall(['-c', CONSTRAINTS]);
}

// Anywhere else: the path every user with a package index takes.
function buildPlainVenv() {
  if (!existsSync(VENV_PYTHON)) {
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

function ensureChromium() {
  if (existsSync('/usr/bin/chromium') || process.env.SIDECAR_BENCH_NO_BROWSER !== undefined) return;
  if (isDebianRoot()) debianPackages(['chromium']);
  else log('note: /usr/bin/chromium not found; the report browser test will be skipped (apt-get install chromium)');
}

ensureNodeModules();
ensurePython();
if (forTests) ensureChromium();

#!/usr/bin/env node
// Runs the Python tests with the sidecar's interpreter (the project venv or $SIDECAR_PYTHON).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const python = process.env.SIDECAR_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');
const result = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'sidecars/tests', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
process.exit(result.status ?? 1);

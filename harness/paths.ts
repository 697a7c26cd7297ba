import path from 'node:path';

import { REPO_ROOT } from '../datasets/paths.js';

export { REPO_ROOT, sharedDir } from '../datasets/paths.js';

/** The sidecar's interpreter: `$SIDECAR_PYTHON`, else the project's venv made by `npm run setup`. */
export function sidecarPython(): string {
  return process.env['SIDECAR_PYTHON'] ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
}

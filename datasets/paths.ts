import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json is), wherever the CLI is started from. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `../shared` beside the checkout, where our machines keep test data; undefined when absent. */
export function sharedDir(...parts: string[]): string | undefined {
  const dir = path.join(REPO_ROOT, '..', 'shared', ...parts);
  return existsSync(dir) ? dir : undefined;
}

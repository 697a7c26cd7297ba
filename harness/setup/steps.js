// Small helpers for ensure.js: running commands with clear failures, and apt on Debian.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function log(message) {
  process.stderr.write(`setup: ${message}\n`);
}

/** Stop with what is missing and the command that would fix it. */
export function fail(what, fix) {
  process.stderr.write(`setup: ${what}\n${fix === undefined ? '' : `setup: to fix it, run: ${fix}\n`}`);
  process.exit(1);
}

export function run(command, args, options = {}, failure = undefined, fix = undefined) {
  const result = spawnSync(command, args, { stdio: options.stdio ?? (options.allowFailure ? 'ignore' : 'inherit'), cwd: options.cwd, env: { ...process.env, ...options.env } });
  if (!options.allowFailure && result.status !== 0) fail(`${failure ?? `${command} failed`} (exit ${result.status ?? result.error?.message})`, fix);
  return result;
}

export function isDebianRoot() {
  return existsSync('/etc/debian_version') && typeof process.getuid === 'function' && process.getuid() === 0 && existsSync('/usr/bin/apt-get');
}

function installed(pkg) {
  const out = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return out.status === 0 && out.stdout.includes('install ok installed');
}

export function debianPackages(packages) {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  log(`apt-get install ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '-q', '--no-install-recommends', ...missing];
  if (run('apt-get', args, { env, allowFailure: true }).status === 0) return;
  run('apt-get', ['update', '-q'], { env }, 'apt-get update failed');
  run('apt-get', args, { env }, `apt-get could not install ${missing.join(' ')}`, `apt-get update && apt-get install ${missing.join(' ')}`);
}

/** Helpers shared by the test files (a plain module: test files cannot import one another). */
import { HarnessError } from '../transports/errors.js';

/**
 * The HarnessError code `promise` rejects with. Anything else comes back as a string no code
 * equals ('no error' when it resolves), so an assertion on the code fails and says why.
 */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof HarnessError ? error.code : `not a HarnessError: ${String(error)}`;
  }
  return 'no error';
}

/** The HarnessError code `fn` throws, as codeOf says it for a promise. */
export function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return error instanceof HarnessError ? error.code : `not a HarnessError: ${String(error)}`;
  }
  return 'no error';
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function alive(pid: unknown): boolean {
  if (typeof pid !== 'number') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

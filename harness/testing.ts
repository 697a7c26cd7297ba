/** Helpers shared by the test files (a plain module: test files cannot import one another). */
import { HarnessError } from './errors.js';

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

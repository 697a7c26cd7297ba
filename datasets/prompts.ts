/** The gemma suite's prompts: datasets/prompts/prompts.jsonl, written for this project (varied lengths). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HarnessError } from '../transports/errors.js';
import { REPO_ROOT } from './paths.js';

export interface Prompt {
  readonly id: string;
  readonly prompt: string;
}

export const PROMPTS_FILE = path.join(REPO_ROOT, 'datasets', 'prompts', 'prompts.jsonl');

export async function loadPrompts(file: string = PROMPTS_FILE, limit?: number): Promise<Prompt[]> {
  const text = await readFile(file, 'utf8');
  const prompts = text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new HarnessError('BAD_INPUT', `Expected JSON on line ${i + 1} of ${file}`, { cause: error });
      }
      const record = value as Partial<Prompt>;
      if (typeof record.id !== 'string' || typeof record.prompt !== 'string' || record.prompt.length === 0) {
        throw new HarnessError('BAD_INPUT', `Expected {"id": str, "prompt": non-empty str} on line ${i + 1} of ${file}`);
      }
      return { id: record.id, prompt: record.prompt };
    });
  return limit === undefined ? prompts : prompts.slice(0, limit);
}

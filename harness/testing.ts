/** Helpers shared by the test files (a plain module: test files cannot import one another). */
import { expect, it } from 'vitest';
import { HarnessError } from '../transports/errors.js';
import type { Transport } from '../transports/types.js';

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

/**
 * A Python program serving, through the real front-end `module` (sidecars.frontends.<module>), a
 * core that classifies (class = first byte % 10, compute 1234 ns) and generates the prompt's words
 * back (20 ms a word; the word `boom` raises mid-stream): for what the echo model cannot do. Run it
 * with `python -c SCRIPT <option value> <address>`; the option is passed to the front-end as `option`.
 */
export function fakeSidecarScript(module: 'grpc_server' | 'http_json', transport: string, option: string): string {
  return `
import json, os, sys, time
from sidecars.address import parse_address
from sidecars.cores.base import ClassifyResult, Core, GenerateEvent
from sidecars.frontends.${module} import serve

class Fake(Core):
    name = "fake"
    def class_names(self):
        return [f"class{i}" for i in range(10)]
    def classify(self, images):
        return ClassifyResult(bytes(images[i] % 10 for i in range(0, len(images), 3072)), 1234)
    def generate(self, request):
        words = request.prompt.split()
        for word in words:
            if word == "boom":
                raise RuntimeError("exploded mid-stream")
            time.sleep(0.02)
            yield GenerateEvent(word + " ")
        yield GenerateEvent("", done=True, stats={"output_tokens": len(words), "ttft_ns": 5, "finish_reason": "length"})

def ready(bound):
    print(json.dumps({"event": "ready", "model": "fake", "transport": "${transport}", "address": str(bound), "pid": os.getpid()}), flush=True)

serve(Fake(), parse_address(sys.argv[-1]), {"${option}": sys.argv[1], "max_frame_bytes": 1 << 20}, ready)
`;
}

/** The generation cases every transport passes against fakeSidecarScript's core (one `it` each). */
export function fakeSidecarGenerationCases(client: () => Transport): void {
  it('generates whole, and streamed with each piece arriving before the end', async () => {
    const expected = { response: 'a b c d e ', stats: { outputTokens: 5, ttftNs: 5, finishReason: 'length' } };
    expect(await client().generate({ prompt: 'a b c d e', samplingSteps: 5, temperature: 0 })).toEqual(expected);
    const arrivals: [string, number][] = [];
    const reply = await client().generateStream({ prompt: 'a b c d e' }, (text) => arrivals.push([text, performance.now()]));
    const doneAt = performance.now();
    expect(reply).toEqual(expected);
    expect(arrivals.map(([text]) => text)).toEqual(['a ', 'b ', 'c ', 'd ', 'e ']);
    expect(doneAt - (arrivals[0]?.[1] ?? doneAt)).toBeGreaterThan(50); // 4 more tokens at 20 ms each: not buffered
  });

  it('reports a failure mid-stream as MODEL_ERROR, after the text before it', async () => {
    const pieces: string[] = [];
    expect(await codeOf(client().generateStream({ prompt: 'a boom c' }, (text) => pieces.push(text)))).toBe('MODEL_ERROR');
    expect(pieces).toEqual(['a ']);
    expect(await codeOf(client().generate({ prompt: 'a boom' }))).toBe('MODEL_ERROR');
    expect((await client().generate({ prompt: 'ok' })).response).toBe('ok ');
  });
}

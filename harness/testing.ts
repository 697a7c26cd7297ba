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

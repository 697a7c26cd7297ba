/**
 * `sidecar-bench <command>`. Exit codes: 0 ok, 1 the run failed (or a regression was found),
 * 2 usage error. Commands load lazily so `--help` and `compare` never import the transports.
 */
import { toHarnessError } from '../../transports/errors.js';

export const HELP = `sidecar-bench: measure what IPC costs a model that lives in a Python sidecar

Usage:
  sidecar-bench run [--suite echo,cifar,gemma] [--transports framed,msgpack,http-json,grpc]
                    [--families unix,tcp] [--quick] [--out DIR] [options]
  sidecar-bench report RESULTS.json [--out DIR]
  sidecar-bench ab --base REF --head REF [--threshold 5%] [run options]   (the regression gate)
  sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput] [--relative]
  sidecar-bench classify IMAGE.png... [--transport framed] [--family unix]
  sidecar-bench datasets fetch cifar10 [--url URL] [--md5 HEX] [--dir DIR]
  sidecar-bench datasets locate [--data DIR]

Run options (the same keys are accepted by --config FILE.json, camelCase):
  --suite LIST            suites to run (default echo)
  --transports LIST       framed, msgpack, http-json, grpc (default all)
  --families LIST         unix, tcp (default both)
  --http-setups LIST      gunicorn worker set-ups for http-json: sync, gthread (default both)
  --scenarios LIST        single-stream, concurrency, server, offline
  --payloads LIST         echo payload sizes, e.g. 0,64,3072,64KiB,1MiB
  --concurrency LIST      in-flight requests for the concurrency scenario (default 1,4,16)
  --rates LIST            offered rates (req/s) for the server scenario
  --batch-sizes LIST      batch sizes for the cifar offline scenario
  --sampling-steps LIST   generation lengths for the gemma suite
  --warmup N, --warmup-ms MS       warm-up per cell before its first round (both must be met)
  --block-ms MS           how long each cell runs in one round (default 10; --quick 5)
  --min-rounds N, --max-rounds N   rounds per group (default 10-400; --quick 8-100)
  --max-group-ms MS       no new round after this long in a group (default 30000; --quick 8000)
  --stability-pct P       a group ends once every cell's ratio to its floor (or its own
                          figure) is pinned within +-P% with 95% confidence (default 10)
  --seed N                shuffles the order of cells in each round (default 1)
  --cpu-pinning shared|split|off
                          how echo groups are pinned (Linux): shared (default) puts the harness and
                          every server on one core, so no cross-core wake-up is measured; split
                          puts the harness on one core and the servers on the others
  --trials N              repeat every cell N times
  --timeout-ms MS         per-request timeout (default 30000)
  --limit N               images from the CIFAR-10 test set (default all; --quick 300)
  --data DIR              CIFAR-10 binary directory (else $CIFAR10_DIR, cache, ../shared)
  --connect ADDRESS       measure a running server (unix:/path or tcp:host:port) instead of spawning:
                          ours or any written to the idea's wires (docs/protocol.md), spoken as the idea does
  --health-path PATH      with --connect: an http-json route to GET before measuring (ours: /healthz)
  --device cpu|cuda|cuda:N|auto
                          where the model runs (default auto: CUDA when torch sees it); asking for
                          CUDA where torch sees none stops before any cell (exit 2)
  --dtype auto|float32|bfloat16|float16
                          the models' weights and compute (default auto: Gemma bfloat16 on CUDA,
                          float32 on the CPU; CIFAR float32); the in-process baseline gets the same
  --sidecar-arg ARG       extra flag for every sidecar (repeatable)
  --no-calibration        skip the native echo peer rows
  --out DIR               where results go (default reports/runs/<time>, linked as reports/latest)
  --quick                 the default matrix sized for CI (about 4 minutes on 2 cores)

Cells that are compared are measured in interleaved rounds: each round runs a short block of every
cell of a group (a transport and its floors; the model over every wire and in-process) in a
shuffled order, and ratios are taken round by round (docs/reading-the-report.md).
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).runCommand,
  report: async () => (await import('./report.js')).reportCommand,
  compare: async () => (await import('./compare.js')).compareCommand,
  ab: async () => (await import('./ab.js')).abCommand,
  // Internal: one side of \`ab\`, started by it (harness/ab/worker.ts).
  'ab-worker': async () => (await import('../ab/worker.js')).abWorkerCommand,
  classify: async () => (await import('./classify.js')).classifyCommand,
  datasets: async () => (await import('./datasets.js')).datasetsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`sidecar-bench: unknown command \`${name}\`\n\n${HELP}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    const e = toHarnessError(error);
    process.stderr.write(`sidecar-bench: ${e.code}: ${e.message}\n`);
    return e.code === 'USAGE' ? 2 : 1;
  }
}


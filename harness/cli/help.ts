/**
 * The help texts of `sidecar-bench` and `sidecar-bench run`. Every default they quote is read from
 * harness/config.ts (FULL, QUICK), so the help cannot drift from the program. A module of its own
 * so that main.ts (which prints the overview) and run.ts (which prints run's) import it, not each other.
 */
import { FULL, QUICK, SUITES } from '../config.js';
import { GRPC_CLIENTS, GRPC_SERVERS, HTTP_CLIENTS, HTTP_STACKS, TRANSPORT_NAMES } from '../../transports/types.js';

const list = (values: readonly (string | number)[] | undefined): string => (values ?? []).join(',');
const bytes = (n: number): string => (n >= 1_048_576 && n % 1_048_576 === 0 ? `${n / 1_048_576}MiB` : n >= 1024 && n % 1024 === 0 ? `${n / 1024}KiB` : String(n));

export const HELP = `sidecar-bench: measure what IPC costs a model that lives in a Python sidecar

Usage:
  sidecar-bench run [--suite ${SUITES.join(',')}] [--transports ${TRANSPORT_NAMES.join(',')}]
                    [--families unix,tcp] [--quick] [--out DIR] [options]
  sidecar-bench report RESULTS.json [--out DIR]
  sidecar-bench ab --base REF --head REF [--threshold 5%] [run options]   (the regression gate)
  sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput] [--relative]
  sidecar-bench classify IMAGE.png... [--transport framed] [--family unix]
  sidecar-bench datasets fetch cifar10 [--url URL] [--md5 HEX] [--dir DIR]
  sidecar-bench datasets locate [--data DIR]
  sidecar-bench --version

\`sidecar-bench COMMAND --help\` shows a command's options (\`run --help\` for the benchmark's).
Exit codes: 0 ok, 1 the run failed (or a regression was found), 2 usage (nothing was measured).
`;

/** What `--quick` changes, item by item, as QUICK in harness/config.ts says. */
function quickText(): string {
  const q = QUICK;
  return [
    `  --quick                 the default matrix made small for CI; it sets (a flag given as well wins):`,
    `                            suites ${list(q.suites)} (with --connect: unchanged, default ${list(FULL.suites)},`,
    `                              since one server serves one model; name it with --suite)`,
    `                            scenarios ${list(q.scenarios)}; payloads ${list(q.payloadBytes?.map(bytes))};`,
    `                            concurrency ${list(q.concurrency)}; rates ${list(q.ratesRps)}; batch sizes ${list(q.batchSizes)};`,
    `                            sampling steps ${list(q.samplingSteps)}; ${q.limit} CIFAR images; the tiny random-init Gemma;`,
    `                            warm-up ${q.warmupRequests} requests / ${q.warmupMs} ms; blocks ${q.blockMs} ms; rounds ${q.minRounds}-${q.maxRounds};`,
    `                            at most ${q.maxGroupMs} ms per group`,
  ].join('\n');
}

export function runHelp(): string {
  const f = FULL;
  const q = QUICK;
  return `sidecar-bench run: measure every transport against its floors and the model in-process

Usage:
  sidecar-bench run [options]
  sidecar-bench run --config FILE.json [options]   (the same keys, camelCase; a flag given as well wins)

Options (defaults in brackets; [quick: ...] where --quick changes them):
  --suite LIST            ${SUITES.join(', ')} [${list(f.suites)}]
  --transports LIST       ${TRANSPORT_NAMES.join(', ')} [all]
  --families LIST         unix, tcp [both]
  --http-stacks LIST      http-json server stacks, a sidecar each (echo and cifar measure all; the other
                          suites gunicorn-gthread when listed, else the first): ${HTTP_STACKS.join(', ')}
                          [${list(f.httpStacks)}; quick: ${list(q.httpStacks ?? [])}]
                          (--http-setups sync,gthread: the old spelling of the gunicorn ones)
  --http-clients LIST     http-json client libraries, an arm each on the same sidecar: ${HTTP_CLIENTS.join(', ')}
                          [${list(f.httpClients)}; quick: ${list(q.httpClients ?? [])}]
  --grpc-servers LIST     grpc servers, a sidecar each: ${GRPC_SERVERS.join(', ')} [${list(f.grpcServers)}; quick: ${list(q.grpcServers ?? [])}]
  --grpc-clients LIST     grpc clients, an arm each: ${GRPC_CLIENTS.join(', ')} [${list(f.grpcClients)}; quick: ${list(q.grpcClients ?? [])}]
  --scenarios LIST        single-stream, concurrency, server, offline [${list(f.scenarios)}]
  --payloads LIST         echo payload sizes, e.g. 0,64,3072,64KiB,1MiB [${list(f.payloadBytes.map(bytes))}]
  --concurrency LIST      in-flight requests for the concurrency scenario [${list(f.concurrency)}]
  --rates LIST            offered rates (req/s) for the echo server scenario [${list(f.ratesRps)}]
  --batch-sizes LIST      batch sizes for the cifar offline scenario [${list(f.batchSizes)}]
  --sampling-steps LIST   generation lengths for the gemma suite [${list(f.samplingSteps)}]
  --warmup N, --warmup-ms MS
                          warm-up per cell before its first round, both must be met
                          [${f.warmupRequests}, ${f.warmupMs}; quick: ${q.warmupRequests}, ${q.warmupMs}]
  --block-ms MS           how long each cell runs in one round [${f.blockMs}; quick: ${q.blockMs}]
  --min-rounds N, --max-rounds N
                          rounds per group [${f.minRounds}-${f.maxRounds}; quick: ${q.minRounds}-${q.maxRounds}]
  --max-group-ms MS       no new round after this long in a group [${f.maxGroupMs}; quick: ${q.maxGroupMs}]
  --stability-pct P       a group ends once every cell's ratio to its floor (or its own figure) is
                          pinned within +-P% with 95% confidence [${f.stabilityPct}]
  --seed N                shuffles the order of cells in each round [${f.seed}]
  --cpu-pinning shared|split|off
                          how echo groups are pinned (Linux) [${f.cpuPinning}]: shared puts the harness and
                          every server on one core; split puts the harness on one core, the servers on others
  --trials N              repeat every cell N times [${f.trials}]
  --timeout-ms MS         per-request timeout [${f.timeoutMs}]
  --ready-timeout-ms MS   how long a sidecar may take to say it is ready [${f.readyTimeoutMs}]
  --limit N               images from the CIFAR-10 test set [all; quick: ${q.limit}]
  --data DIR              CIFAR-10 binary directory (else $CIFAR10_DIR, the cache, ../shared)
  --connect ADDRESS       measure a running server (unix:/path or tcp:host:port) instead of spawning
                          one; before any cell, each chosen transport's wire is tried on it once, and
                          a server that speaks another wire is named (exit 2)
  --health-path PATH      with --connect: an http-json route to GET before measuring (ours: /healthz)
  --device cpu|cuda|cuda:N|auto
                          where the model runs [${f.device}: CUDA when torch sees it]; CUDA where torch
                          sees none stops before any cell (exit 2)
  --dtype auto|float32|bfloat16|float16
                          the models' weights and compute [${f.dtype}: Gemma bfloat16 on CUDA, else float32]
  --model SPEC            the model suite's model: path/to/file.py:Class or package.module:Class
  --model-inputs FILE     the model suite's requests from a JSON file [synthesised from its metadata]
  --float-tolerance X     the model suite's agreement: floats may differ by this [${f.floatTolerance}]
  --tensor-bytes LIST     the model suite's request sizes, e.g. 1KiB,64KiB,1MiB,4MiB: the model's -1
                          dimensions filled to about that many input bytes, a group each [its own]
  --model-name NAME       the model on a --connect'ed Open Inference Protocol server (Triton, MLServer,
                          KServe) [http: the server's repository index; grpc needs it]
  --sidecar-arg ARG       extra flag for every sidecar (repeatable)
  --no-calibration        skip the native echo peer rows
  --out DIR               where results go [reports/runs/<time>; reports/latest then points there,
                          once the run has measured at least one cell]
${quickText()}
  --version, --help

Everything is checked before the first cell: a bad flag, config key, device or address stops the run
with exit 2 and writes nothing. Cells that are compared are measured in interleaved rounds: each round
runs a short block of every cell of a group in a shuffled order (docs/reading-the-report.md).
`;
}

#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (docs/gpu-run.md). From the repository root, with
# gpu-bundle/ carried beside the working tree (bash scripts/gpu/pack.sh builds it):
#
#   bash scripts/gpu/run.sh --out "$OUT"              the GPU run, about 8 minutes at most
#   bash scripts/gpu/run.sh --out DIR --rehearse      the same steps on a CPU (scripts/gpu/rehearse.sh)
#
# Steps: unpack, preflight (fails fast), facts, the cifar suite, the decode benchmark, the gemma suite.
# Each step has its own timeout inside one deadline, so a hang costs only its step; a failed step
# leaves the others' results and a line in summary.md. At most 8 files land in --out: summary.md,
# run.log, and {cifar,gemma}-{results.json,results.csv,report.html}. Exit 0 when every step passed.
# shellcheck disable=SC2317 # the steps are functions run through `bash -c` (see step)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2

usage() { echo "usage: bash scripts/gpu/run.sh --out DIR [--rehearse] [--budget-s S] [--limit N] [--keep-work] [--allow-stale]" >&2; exit 2; }
OUT='' REHEARSE=0 BUDGET_S=470 LIMIT='' KEEP_WORK=0 ALLOW_STALE=0
while (($#)); do
  case $1 in
    --out) OUT=${2:-}; shift 2 ;;
    --rehearse) REHEARSE=1; shift ;;
    --budget-s) BUDGET_S=${2:-}; shift 2 ;;
    --limit) LIMIT=${2:-}; shift 2 ;;
    --keep-work) KEEP_WORK=1; shift ;;
    --allow-stale) ALLOW_STALE=1; shift ;;
    *) usage ;;
  esac
done
[[ -n $OUT ]] || usage
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/run.log") 2>&1
TEE_PID=$!

# The only differences a CPU rehearsal makes: the device, the Gemma shape and how many images.
if ((REHEARSE)); then
  MODE=rehearse DEVICE=cpu GEMMA_CONFIG=tiny LIMIT=${LIMIT:-200}
else
  MODE=gpu DEVICE=cuda GEMMA_CONFIG=gemma-2b
fi
TRANSPORTS=framed,msgpack,http-json,grpc
GEMMA_DTYPE=bfloat16
GEMMA_PROMPTS=4
GEMMA_STEPS=32
HBM_BYTES_PER_S=4.8e12  # H200

BUNDLE=$ROOT/gpu-bundle
HARNESS=$BUNDLE/sidecar-bench.mjs  # one folder below the root: paths.ts finds the root from there
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-bench-gpu.XXXXXX")
STEPS=$WORK/steps.tsv
NODE=$WORK/bin/node
PY=$(command -v "${SIDECAR_PYTHON:-python3}") || { echo "run: FAILED: no python3 on PATH"; exit 2; }
export SIDECAR_PYTHON=$PY
export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
export SIDECAR_MODELS_DIR=$WORK/models
export PYTHONUNBUFFERED=1
export PATH=$WORK/bin:$PATH
DEADLINE=$((SECONDS + BUDGET_S))
: >"$STEPS"

say() { printf 'run: %s\n' "$*"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$STEPS"; }

# step NAME CAP_S KEEP_S COMMAND...: runs COMMAND for at most CAP_S seconds, and never into the
# KEEP_S seconds kept for the steps after it. SIGTERM first (the harness then writes what it has),
# SIGKILL 20 s later.
step() {
  local name=$1 cap=$2 keep=$3 rc start limit
  shift 3
  limit=$((DEADLINE - SECONDS - keep))
  ((limit < cap)) || limit=$cap
  if ((limit < 15)); then
    say "== $name: skipped, ${limit}s left"
    record "$name" skipped 0 "no time left in the ${BUDGET_S}s budget"
    return 1
  fi
  say "== $name (timeout ${limit}s, at ${SECONDS}s)"
  start=$SECONDS
  # The steps are functions of this script: a child bash runs them (they and the variables are exported).
  timeout -k 20 -s TERM "$limit" bash -c '"$@"' "$name" "$@" 2>&1 | tee "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  local note=ok
  ((rc == 0)) || note="exit $rc"
  ((rc == 124 || rc == 137)) && note="timed out after ${limit}s"
  say "== $name: $note in $((SECONDS - start))s"
  record "$name" "$rc" "$((SECONDS - start))" "$note"
  return "$rc"
}

unxz_to() { # unxz_to SRC DST: xz where the image has it, else Python's lzma
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  else "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

unpack() {
  mkdir -p "$WORK/bin" "$WORK/cifar10" "$WORK/models" "$WORK/site"
  unxz_to "$BUNDLE/node.xz" "$NODE" && chmod +x "$NODE" || return 1
  unxz_to "$BUNDLE/sidecar-bench.mjs.xz" "$HARNESS" || return 1
  unxz_to "$BUNDLE/cifar10/test_batch.bin.xz" "$WORK/cifar10/test_batch.bin" || return 1
  cp "$BUNDLE/cifar10/batches.meta.txt" "$BUNDLE/cifar10/README.md" "$WORK/cifar10/" || return 1
  for f in "$BUNDLE"/models/*.xz; do unxz_to "$f" "$WORK/models/$(basename "$f" .xz)" || return 1; done
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --target "$WORK/site" "$BUNDLE"/wheels/*.whl || return 1
  ls -l "$NODE" "$WORK/cifar10" "$WORK/models"
}

node_checks() {
  "$NODE" --version || return 1
  local help
  help=$("$NODE" "$HARNESS" run --help)
  if [[ $help != *--suite* ]]; then echo "the bundled harness does not start"; return 1; fi
  if sha256sum --quiet --check "$BUNDLE/harness.sources" >/dev/null 2>&1; then
    echo "bundled harness: built from the TypeScript in this tree"
  else
    sha256sum --quiet --check "$BUNDLE/harness.sources" 2>&1 | head -5
    # One GPU call must not measure other code than the tree it came with.
    if ((ALLOW_STALE)); then echo "WARNING: the bundled harness was built from other TypeScript than this tree's (--allow-stale)"
    else echo "the bundled harness was built from other TypeScript than this tree's: re-run pack.sh (or pass --allow-stale)"; return 1; fi
  fi
}

facts() {
  cat "$BUNDLE/SOURCE"
  echo "mode: $MODE, device $DEVICE, gemma $GEMMA_CONFIG, images ${LIMIT:-all}, budget ${BUDGET_S}s"
  echo "host: $(uname -a)"
  echo "cpus: $(nproc), memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 2^20}' /proc/meminfo)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv
  else
    echo "nvidia-smi: not on PATH"
  fi
}

# --dtype reaches every sidecar and the in-process baseline; older harnesses only take it as a sidecar flag.
dtype_flags() {
  local help
  help=$("$NODE" "$HARNESS" run --help)
  if [[ $help == *--dtype* ]]; then echo "--dtype $1"
  else echo "--sidecar-arg=--dtype --sidecar-arg=$1"; fi
}

harness_run() { # harness_run NAME [run flags...]: results go to $WORK/NAME
  local name=$1
  shift
  "$NODE" "$HARNESS" run --transports "$TRANSPORTS" --families unix --device "$DEVICE" --out "$WORK/$name" "$@"
}

cifar() {
  harness_run cifar --suite cifar --scenarios single-stream,offline --batch-sizes 1,64,256 \
    --data "$WORK/cifar10" ${LIMIT:+--limit "$LIMIT"}
}

decode() {
  "$PY" -m sidecars.llm.bench_decode --config "$GEMMA_CONFIG" --dtype "$GEMMA_DTYPE" --device "$DEVICE" \
    --steps 16,256 --repeat 32 2>&1 | tee "$WORK/decode.out"
  local rc=${PIPESTATUS[0]}
  # Exit 1 with TOO SLOW: step 256 cost over 1.5x step 16. A finding for the summary, not a failed step.
  if ((rc == 1)) && grep -q 'TOO SLOW' "$WORK/decode.out"; then return 0; fi
  return "$rc"
}

gemma() {
  # shellcheck disable=SC2046 # dtype_flags is a list of flags
  harness_run gemma --suite gemma --scenarios single-stream --sampling-steps "$GEMMA_STEPS" --limit "$GEMMA_PROMPTS" \
    $(dtype_flags "$GEMMA_DTYPE") --sidecar-arg=--config "--sidecar-arg=$GEMMA_CONFIG" --sidecar-arg=--random-init
}

# A run stopped by its timeout wrote results.json after its last cell, but no report: build it.
finish_reports() {
  local name
  for name in cifar gemma; do
    [[ -f $WORK/$name/results.json && ! -f $WORK/$name/report.html ]] || continue
    timeout -k 5 30 "$NODE" "$HARNESS" report "$WORK/$name/results.json" || say "no report for $name"
  done
}

# At most 8 files, each under 16 MiB (larger ones travel xz-compressed).
collect() {
  local name file dest
  for name in cifar gemma; do
    for file in results.json results.csv report.html; do
      [[ -f $WORK/$name/$file ]] || continue
      dest=$OUT/$name-$file
      cp "$WORK/$name/$file" "$dest"
      if (($(stat -c %s "$dest") > 16 * 1024 * 1024)); then xz -9 -f "$dest"; fi
    done
  done
}

export -f say record unxz_to unpack node_checks facts dtype_flags harness_run cifar decode gemma
export ALLOW_STALE OUT MODE DEVICE GEMMA_CONFIG LIMIT TRANSPORTS GEMMA_DTYPE GEMMA_PROMPTS GEMMA_STEPS BUNDLE HARNESS WORK NODE PY BUDGET_S

# Ends the script once tee has written the last line to run.log. The work folder (node, data, the
# runs' own copies of what --out holds) goes unless --keep-work.
end() {
  ((KEEP_WORK)) || rm -rf "$WORK" "$HARNESS"
  exec >&- 2>&-
  wait "$TEE_PID" 2>/dev/null
  exit "$1"
}

# The reports, summary.md and the files in --out, whatever subset of the steps ran; then exit.
finish() {
  finish_reports
  "$PY" scripts/gpu/summarize.py --work "$WORK" --out "$OUT/summary.md" --mode "$MODE" \
    --hbm-bytes-per-s "$HBM_BYTES_PER_S" || say "summary.md could not be written"
  collect
  cat "$OUT/summary.md" 2>/dev/null
  say "$1 after ${SECONDS}s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
  end "$2"
}

say "sidecar-bench GPU run, mode $MODE, work folder $WORK, results to $OUT"
step unpack 120 0 unpack || finish "FAILED: could not unpack gpu-bundle/ (was it carried?)" 2
step node 30 0 node_checks || finish "FAILED: the bundled node or harness does not run" 2
step preflight 120 0 "$PY" scripts/gpu/preflight.py --device "$DEVICE" --site "$WORK/site" ||
  finish "FAILED: preflight (the PREFLIGHT FAIL lines above)" 2
step facts 30 0 facts
step cifar 210 120 cifar
step decode 60 100 decode
step gemma 150 25 gemma
if awk -F'\t' '$2 != "0" { bad = 1 } END { exit bad }' "$STEPS"; then finish "done: every step passed" 0; fi
finish "done: some steps failed (summary.md)" 1

#!/usr/bin/env bash
# Builds gpu-bundle/ (git-ignored): everything a one-shot run on the lent GPU machine needs that the
# working tree does not carry and that machine lacks (no Node.js, no network, no flask, gunicorn or
# grpcio-tools). docs/gpu-run.md says what is in it and how scripts/gpu/run.sh uses it.
#
#   bash scripts/gpu/pack.sh           build or refresh the bundle (reuses parts whose inputs match)
#   bash scripts/gpu/pack.sh --check   only say whether the bundle matches this tree's sources
#
# Fails when the working tree plus the bundle would be over the 64 MiB that may travel.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUNDLE=gpu-bundle
LIMIT_BYTES=$((64 * 1024 * 1024))
NODE_BIN=${PACK_NODE:-/usr/bin/node}
CIFAR_DIR=${PACK_CIFAR_DIR:-$ROOT/../shared/datasets/cifar10}
MODELS_DIR=${PACK_MODELS_DIR:-$ROOT/../shared/models}
TOKENIZERS=(gemma-tokenizer.model gemma3-tokenizer.model)  # gemma-2b's (vocab 256000); tiny's, for --rehearse
PIP_PYTHON=${PACK_PYTHON:-python3}

say() { printf 'pack: %s\n' "$*"; }
die() { printf 'pack: FAILED: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# The files the bundled harness was built from (written by esbuild's metafile), with their hashes:
# run.sh compares them with the tree it runs in, so a stale bundle is reported, not trusted.
sources_match() {
  [[ -f $BUNDLE/harness.sources ]] && sha256sum --quiet --check "$BUNDLE/harness.sources" >/dev/null 2>&1
}

if [[ ${1:-} == --check ]]; then
  if sources_match; then say "bundle matches this tree's harness sources"; exit 0; fi
  say "bundle is missing or older than this tree's harness sources: run bash scripts/gpu/pack.sh"; exit 1
fi

mkdir -p "$BUNDLE"/cifar10 "$BUNDLE"/models "$BUNDLE"/wheels

# Reuse a compressed file when the input it was made from is unchanged (xz -9e of node takes ~80 s).
fresh() { # fresh OUTPUT INPUT_HASH
  [[ -f $1 && -f $1.from && $(cat "$1.from") == "$2" ]]
}
compress() { # compress INPUT OUTPUT [xz filter options...]
  local input=$1 output=$2 hash
  shift 2
  hash=$(sha "$input")
  if fresh "$output" "$hash"; then say "kept   $output"; return; fi
  say "xz     $input -> $output"
  xz -c -T1 "${@:---lzma2=preset=9e}" "$input" >"$output.tmp"
  mv "$output.tmp" "$output"
  printf '%s\n' "$hash" >"$output.from"
}

# 1. The harness as one ES module. It must sit one folder below the repository root: paths.ts takes
#    the root to be the parent of the folder its code is in (import.meta.url).
say "esbuild harness -> $BUNDLE/sidecar-bench.mjs.xz"
[[ -x node_modules/.bin/esbuild ]] || die "node_modules/.bin/esbuild missing: run npm ci"
node_modules/.bin/esbuild scripts/gpu/entry.mjs --bundle --platform=node --format=esm --target=node20 \
  --outfile="$BUNDLE/sidecar-bench.mjs" --metafile="$BUNDLE/harness.meta.json" --log-level=warning \
  --legal-comments=none \
  --banner:js="import { createRequire as __sbCreateRequire } from 'node:module'; const require = __sbCreateRequire(import.meta.url);"
node -e '
  const meta = require(process.argv[1]);
  console.log(Object.keys(meta.inputs).filter((f) => !f.includes("node_modules/")).sort().join("\n"));
' "$ROOT/$BUNDLE/harness.meta.json" | { cat; echo package-lock.json; } | xargs sha256sum >"$BUNDLE/harness.sources"
rm "$BUNDLE/harness.meta.json"
help=$(node "$BUNDLE/sidecar-bench.mjs" run --help)
[[ $help == *--suite* ]] || die "the bundled harness does not run"
# Compressed it is 0.8 MB instead of 5; run.sh unpacks it back to this very path.
xz -9e -f "$BUNDLE/sidecar-bench.mjs"

# 2. Node itself: a nodesource build that links only glibc, libstdc++ and libgcc_s.
say "node   $NODE_BIN ($("$NODE_BIN" --version))"
unexpected=$(ldd "$NODE_BIN" | awk '{print $1}' | grep -v -E '^(linux-vdso|/lib64/ld-linux-x86-64|lib(c|m|dl|pthread|rt|stdc\+\+|gcc_s)\.so)' || true)
[[ -z $unexpected ]] || die "$NODE_BIN links more than glibc and the C++ runtime: $unexpected"
glibc=$(objdump -T "$NODE_BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
glibcxx=$(objdump -T "$NODE_BIN" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)
say "node   needs $glibc and $glibcxx at most"
compress "$NODE_BIN" "$BUNDLE/node.xz"
"$NODE_BIN" --version >"$BUNDLE/node.version"

# 3. The CIFAR-10 test set. Delta over 32 bytes (the pixel above) before LZMA: ~20.4 MB, not ~23.7.
[[ -f $CIFAR_DIR/test_batch.bin ]] || die "no $CIFAR_DIR/test_batch.bin (set PACK_CIFAR_DIR)"
compress "$CIFAR_DIR/test_batch.bin" "$BUNDLE/cifar10/test_batch.bin.xz" --delta=dist=32 --lzma2=preset=9e
# README.md tells the harness that records past 1016 were decoded from JPEG (exact-pixel accuracy).
install -m 0644 "$CIFAR_DIR/batches.meta.txt" "$CIFAR_DIR/README.md" "$BUNDLE/cifar10/"

# 4. Tokenizers for --random-init Gemma configs, found through SIDECAR_MODELS_DIR at run time.
for name in "${TOKENIZERS[@]}"; do
  [[ -f $MODELS_DIR/$name ]] || die "no $MODELS_DIR/$name (set PACK_MODELS_DIR)"
  compress "$MODELS_DIR/$name" "$BUNDLE/models/$name.xz"
done

# 5. Wheels, by hash. Already-downloaded ones are checked, not fetched again.
wheels_ok() {
  local want have
  want=$(grep -o 'sha256:[0-9a-f]*' scripts/gpu/wheels.txt | cut -d: -f2 | sort)
  have=$(cd "$BUNDLE/wheels" && ls ./*.whl >/dev/null 2>&1 && sha256sum ./*.whl | cut -d' ' -f1 | sort)
  [[ $want == "$have" ]]
}
if wheels_ok; then
  say "kept   $BUNDLE/wheels ($(find "$BUNDLE/wheels" -name '*.whl' | wc -l) wheels)"
else
  say "pip    download $(grep -c '^[a-z]' scripts/gpu/wheels.txt) wheels for cp312 manylinux x86_64"
  rm -f "$BUNDLE"/wheels/*.whl
  "$PIP_PYTHON" -m pip download -q --no-deps --only-binary=:all: --require-hashes \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$BUNDLE/wheels" -r scripts/gpu/wheels.txt
  wheels_ok || die "downloaded wheels do not match scripts/gpu/wheels.txt"
fi

# 6. Provenance, for the summary of a run.
{
  echo "packed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "dirty_files=$(git status --porcelain 2>/dev/null | wc -l)"
  echo "node=$(cat "$BUNDLE/node.version")"
} >"$BUNDLE/SOURCE"

# 7. Sizes: the bundle, and everything that travels (tracked and untracked-not-ignored files too).
say "sizes (bytes):"
size_of() { du -cb "$@" | tail -1 | cut -f1; }
for part in sidecar-bench.mjs.xz node.xz cifar10 models wheels; do
  printf 'pack:   %-22s %10d\n' "$part" "$(size_of "$BUNDLE/$part")"
done
bundle_bytes=$(size_of "$BUNDLE")
tree_bytes=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((bundle_bytes + tree_bytes))
printf 'pack:   %-22s %10d\n' "gpu-bundle (all)" "$bundle_bytes" "working tree" "$tree_bytes" "total that travels" "$total" \
  "limit (64 MiB)" "$LIMIT_BYTES"
((total <= LIMIT_BYTES)) || die "$total bytes would travel, over the 64 MiB limit"
say "ok: $((LIMIT_BYTES - total)) bytes to spare"

#!/usr/bin/env bash
# Rehearses the GPU run on this CPU machine, as the GPU machine will see it: a copy of what travels
# (tracked and untracked-not-ignored files, plus gpu-bundle/) in a scratch folder, no network, no
# Node.js on the system (its binary is masked in a private mount namespace), and a Python that is
# not the project's venv. Then `run.sh --rehearse`, timed. Needs root (unshare).
#
#   bash scripts/gpu/rehearse.sh [--python /work/torch2env/bin/python] [--dir /tmp/gpu-rehearsal] [run.sh flags]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=/work/torch2env/bin/python
[[ -x $PYTHON ]] || PYTHON=/usr/bin/python3
DIR=/tmp/gpu-rehearsal
while (($#)); do
  case $1 in
    --python) PYTHON=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    *) break ;;
  esac
done
OUT=$DIR-out

cd "$ROOT"
bash scripts/gpu/pack.sh | tail -3  # rebuilds the harness from this tree; reuses the rest
rm -rf "$DIR" "$OUT"
mkdir -p "$DIR"
# What the device tool copies: tracked files (less any deleted here) and untracked-not-ignored ones.
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$DIR"
cp -r gpu-bundle "$DIR/"
echo "rehearse: $(du -sb "$DIR" | cut -f1) bytes in $DIR, python $PYTHON"

# Masks every node on the system, drops the network, and runs with a PATH that has no node either.
inner=$(cat <<'EOF'
set -e
for n in /usr/bin/node /usr/local/bin/node /usr/bin/nodejs; do [ -e "$n" ] && mount --bind /dev/null "$n"; done
if command -v ip >/dev/null; then ip link set lo up; fi
if node --version >/dev/null 2>&1; then echo "rehearse: node is still reachable"; exit 1; fi
cd "$DIR"
start=$(date +%s)
set +e
bash scripts/gpu/run.sh --out "$OUT" --rehearse "$@"
rc=$?
echo "rehearse: run.sh exit $rc after $(( $(date +%s) - start ))s"
exit $rc
EOF
)
PATH=$(dirname "$PYTHON"):/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin SIDECAR_PYTHON=$PYTHON DIR=$DIR OUT=$OUT \
  unshare --mount --net bash -c "$inner" rehearse "$@"

#!/usr/bin/env bash
# Start-up cost of the privilege drop + exec hand-over, side by side in one run:
# usher (no-database static build) dropping to nobody and exec'ing `true`, against gosu and
# setpriv doing the same, and plain `true`. Prints a table of means and ratios to plain `true`.
#
# Needs: root, hyperfine, gosu, setpriv (util-linux), python3, the musl target + musl-tools.
# Target (issue "The usher binary"): usher <= 1.3x plain true.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in hyperfine gosu setpriv python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench/exec.sh: missing: ${missing[*]} (apt-get install -y hyperfine gosu util-linux python3)" >&2
  exit 1
fi
[[ $(id -u) == 0 ]] || { echo "bench/exec.sh: run as root (the drop needs it)" >&2; exit 1; }

TARGET=x86_64-unknown-linux-musl
cargo build --quiet --locked --release --target "$TARGET" --no-default-features
USHER="${CARGO_TARGET_DIR:-target}/$TARGET/release/usher"
TRUE=$(command -v true)
RUNS=${RUNS:-2000}
json=$(mktemp)
trap 'rm -f "$json"' EXIT

# -N: no intermediate shell, so the numbers are the programs' own.
hyperfine -N --warmup 100 --runs "$RUNS" --export-json "$json" \
  --command-name "true" "$TRUE" \
  --command-name "usher --user nobody -- true" "$USHER --user nobody -- $TRUE" \
  --command-name "gosu nobody true" "gosu nobody $TRUE" \
  --command-name "setpriv (nobody) true" "setpriv --reuid=nobody --regid=nogroup --clear-groups $TRUE" \
  >/dev/null

python3 - "$json" "$USHER" <<'PY'
import json, os, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["mean"]
print(f"\nprivilege drop + exec of `true` ({len(results[0]['times'])} runs each, hyperfine -N)")
print(f"usher binary: {os.path.getsize(sys.argv[2]):,} bytes (static musl, no database drivers)")
print("| command | mean | stddev | ratio to true |")
print("|---|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['mean']*1e6:.0f} µs | {r['stddev']*1e6:.0f} µs | {r['mean']/base:.2f}x |")
print("target: usher <= 1.30x plain true")
PY

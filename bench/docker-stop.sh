#!/usr/bin/env bash
# `docker stop` of an app with no SIGTERM handler (busybox sleep), three ways, in one run:
#   - the app as PID 1 (no init): the kernel does not deliver TERM to a handler-less PID 1, so
#     Docker waits its 10 s grace period and SIGKILLs (exit 137);
#   - `docker run --init` (Docker's docker-init, i.e. tini) as PID 1;
#   - usher as the entrypoint (`usher -- app`), PID 1 in init mode.
# Prints the time `docker stop` took (median of RUNS, the no-init case once) and the exit code.
#
# Needs a running Docker engine (`docker info`); without one it prints that nothing was
# measured and exits 0. The image is FROM scratch (usher + Debian's static busybox), so nothing
# is pulled; it and the containers are removed at the end.
# Environment: USHER (binary, default: the x86_64 musl release build), RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
USHER=${USHER:-target/x86_64-unknown-linux-musl/release/usher}
RUNS=${RUNS:-5}

if ! timeout 20 docker info >/dev/null 2>&1; then
  echo "docker stop: not measured (no Docker engine answers \`docker info\` on this machine)"
  exit 0
fi
[[ -x $USHER ]] || { echo "bench/docker-stop.sh: no usher binary at $USHER" >&2; exit 1; }

WORK=$(mktemp -d /tmp/usher-bench-docker.XXXXXX)
TAG=usher-bench-stop:$$
cleanup() {
  docker ps -aq --filter "ancestor=$TAG" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker rmi -f "$TAG" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Debian's static busybox (amd64), unpacked here: the machine's packages are untouched.
(cd "$WORK" && apt-get download -q busybox-static >/dev/null 2>&1) \
  || { echo "bench/docker-stop.sh: apt-get download busybox-static failed" >&2; exit 1; }
dpkg-deb -x "$WORK"/busybox-static_*.deb "$WORK/pkg"
mkdir "$WORK/ctx"
cp "$WORK/pkg/bin/busybox" "$WORK/ctx/busybox"
cp "$USHER" "$WORK/ctx/usher"
printf 'FROM scratch\nCOPY usher busybox /\n' > "$WORK/ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q --network none -t "$TAG" "$WORK/ctx" >/dev/null 2>"$WORK/build.log" \
  || { cat "$WORK/build.log" >&2; exit 1; }

# stop_once RUN-ARGS... -> "milliseconds exit-code"
stop_once() {
  local id t0 t1 code
  id=$(docker run -d --network none "$@")
  # Wait until the app runs (sleep is a process of the container).
  for _ in $(seq 100); do
    docker top "$id" 2>/dev/null | grep -q 'sleep 1000' && break
    sleep 0.1
  done
  t0=$(date +%s%N)
  docker stop "$id" >/dev/null
  t1=$(date +%s%N)
  code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
  docker rm "$id" >/dev/null
  echo "$(( (t1 - t0) / 1000000 )) $code"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A MS CODE
measure() { # name runs run-args...
  local name=$1 runs=$2 samples=() codes=()
  shift 2
  for _ in $(seq "$runs"); do
    read -r ms code < <(stop_once "$@")
    samples+=("$ms"); codes+=("$code")
  done
  MS[$name]=$(printf '%s\n' "${samples[@]}" | median)
  MS[$name.range]="$(printf '%s\n' "${samples[@]}" | sort -n | head -n1)–$(printf '%s\n' "${samples[@]}" | sort -n | tail -n1)"
  CODE[$name]=$(printf '%s\n' "${codes[@]}" | sort -u | paste -sd/)
}
measure usher "$RUNS" "$TAG" /usher --migrate never --log-level warn -- /busybox sleep 1000
measure init "$RUNS" --init "$TAG" /busybox sleep 1000
measure none 1 "$TAG" /busybox sleep 1000

echo "\`docker stop\` of a handler-less app (busybox sleep), Docker $(docker version -f '{{.Server.Version}}'), median of $RUNS runs (no init: 1 run)"
echo
echo "| PID 1 | docker stop | range | exit code | ratio to usher |"
echo "|---|---:|---:|---:|---:|"
for n in usher init none; do
  label=$n
  [[ $n == usher ]] && label="usher -- app"
  [[ $n == init ]] && label="docker run --init (docker-init)"
  [[ $n == none ]] && label="the app itself (no init)"
  echo "| $label | ${MS[$n]} ms | ${MS[$n.range]} ms | ${CODE[$n]} | $(awk -v a="${MS[$n]}" -v b="${MS[usher]}" 'BEGIN { printf "%.1fx", a / b }') |"
done

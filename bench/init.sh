#!/usr/bin/env bash
# Init mode benchmark: usher side by side with tini, dumb-init and catatonit (Debian packages).
#
#   cargo build --release --target x86_64-unknown-linux-musl
#   sudo bench/init.sh            # root: PID namespaces (unshare) and the fallback row
#
# Measures, for each init supervising a trivial child:
#   - spawn-to-exit overhead: `INIT /bin/true` minus `/bin/true` alone (hyperfine, not PID 1);
#   - VmRSS (and its private part, RssAnon) while supervising `sleep`, as PID 1 of a PID
#     namespace, as in a container;
#   - voluntary context switches over 10 s idle (wake-ups), from /proc/PID/status;
#   - SIGTERM -> exit latency: TERM sent from outside to PID 1 (as `docker stop` does) until the
#     namespace is gone (the child died, the init reaped it and exited), median of N runs.
# For usher it also measures the in-process fallback (supervising from the start-up process
# when the re-exec of its own binary is impossible), to compare the two designs.
#
# Installs nothing: it says what is missing and leaves that column out.
# Environment: USHER (binary), RUNS (latency runs, default 20), IDLE (seconds, default 10).
set -euo pipefail

cd "$(dirname "$0")/.."
USHER=${USHER:-target/x86_64-unknown-linux-musl/release/usher}
RUNS=${RUNS:-20}
IDLE=${IDLE:-10}

die() { echo "bench/init.sh: $*" >&2; exit 1; }
[ -x "$USHER" ] || die "$USHER not found: cargo build --release --target x86_64-unknown-linux-musl"
[ "$(id -u)" = 0 ] || die "run as root (PID namespaces need it)"
for tool in unshare hyperfine; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install -y $( [ "$tool" = unshare ] && echo util-linux || echo "$tool")"
done

# name|binary|arguments before the child (not PID 1 they register as subreaper where they can)
declare -a INITS=("usher|$USHER|--init always --migrate never --log-level warn --")
declare -A PACKAGE=([tini-static]=tini [dumb-init]=dumb-init [catatonit]=catatonit)
for candidate in "tini-static|tini-static|-s --" "dumb-init|dumb-init|--" "catatonit|catatonit|--"; do
    IFS='|' read -r name bin _ <<<"$candidate"
    if command -v "$bin" >/dev/null; then
        INITS+=("$candidate")
    else
        echo "missing: $bin (apt-get install -y ${PACKAGE[$name]}); its column is left out" >&2
    fi
done

# The fallback: a copy only root may execute, run with --user nobody, cannot re-exec itself
# after the drop (EACCES) and supervises from the start-up process.
FALLBACK=$(mktemp /tmp/usher-fallback.XXXXXX)
cp "$USHER" "$FALLBACK"
chmod 0700 "$FALLBACK"
trap 'rm -f "$FALLBACK"' EXIT

field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

# Starts `unshare ... INIT... sleep 1000` in the background; sets NS_PID (unshare) and
# INIT_PID (the init, host PID) once the init runs sleep.
start_in_namespace() {
    unshare --pid --fork --mount-proc --kill-child "$@" sleep 1000 2>/dev/null &
    NS_PID=$!
    INIT_PID=
    for _ in $(seq 1000); do
        INIT_PID=$(children "$NS_PID" | awk '{print $1}')
        if [ -n "$INIT_PID" ]; then
            for c in $(children "$INIT_PID"); do
                [ "$(cat "/proc/$c/comm" 2>/dev/null)" = sleep ] && return 0
            done
        fi
        sleep 0.01
    done
    die "$* did not start sleep"
}

# Kills the namespace's init (which takes the namespace with it), then unshare. unshare's
# --kill-child is not enough: it uses PR_SET_PDEATHSIG, which a privilege drop clears.
stop_namespace() {
    kill -KILL "$INIT_PID" "$NS_PID" 2>/dev/null || true
    wait "$NS_PID" 2>/dev/null || true
}

command_of() { IFS='|' read -r _ bin args <<<"$1"; echo "$bin $args"; }
name_of() { IFS='|' read -r name _ <<<"$1"; echo "$name"; }

declare -A OVERHEAD RSS ANON SWITCHES LATENCY SIZE

# 1. Spawn-to-exit overhead (hyperfine, no shell): the fastest of 300 runs, which other load
# on the machine disturbs least; /bin/true alone is timed first and last, the lower is the base.
echo "spawn-to-exit: hyperfine, 300 runs each..." >&2
CSV=$(mktemp)
cmds=("/bin/true")
for i in "${INITS[@]}"; do cmds+=("$(command_of "$i") /bin/true"); done
cmds+=("/bin/true")
hyperfine -N --warmup 20 --runs 300 --export-csv "$CSV" "${cmds[@]}" >/dev/null 2>&1
BASE=$(awk -F, 'NR > 1 && $1 == "/bin/true" && (b == "" || $7 < b) { b = $7 } END { print b }' "$CSV")
n=3
for i in "${INITS[@]}"; do
    OVERHEAD[$(name_of "$i")]=$(awk -F, -v n=$n -v b="$BASE" 'NR == n { printf "%.2f", ($7 - b) * 1000 }' "$CSV")
    n=$((n + 1))
done
rm -f "$CSV"

# 2 and 3. Memory and idle wake-ups, all inits at once as PID 1 of their own namespace.
echo "memory and ${IDLE} s idle wake-ups..." >&2
declare -A PIDS NSS
for i in "${INITS[@]}"; do
    # shellcheck disable=SC2046
    start_in_namespace $(command_of "$i")
    PIDS[$(name_of "$i")]=$INIT_PID
    NSS[$(name_of "$i")]=$NS_PID
done
# shellcheck disable=SC2086
start_in_namespace "$FALLBACK" --user nobody --init always --migrate never --log-level error --
PIDS[usher-fallback]=$INIT_PID
NSS[usher-fallback]=$NS_PID
# After a migration run (the example migrations on a fresh SQLite file): the start-up process
# has loaded the database driver and the async runtime; the supervisor should not carry them.
MIGRATED=$(mktemp -d /tmp/usher-bench-db.XXXXXX)
chmod 0777 "$MIGRATED"
trap 'rm -f "$FALLBACK"; rm -rf "$MIGRATED"' EXIT
if "$USHER" --version >/dev/null && [ -d migrations ]; then
    start_in_namespace env DATABASE_URL="sqlite://$MIGRATED/reexec.db" USHER_MIGRATIONS="$PWD/migrations" \
        "$USHER" --user nobody --init always --log-level error --
    PIDS[usher-migrated]=$INIT_PID
    NSS[usher-migrated]=$NS_PID
    start_in_namespace env DATABASE_URL="sqlite://$MIGRATED/fallback.db" USHER_MIGRATIONS="$PWD/migrations" \
        "$FALLBACK" --user nobody --init always --log-level error --
    PIDS[usher-fallback-migrated]=$INIT_PID
    NSS[usher-fallback-migrated]=$NS_PID
fi
sleep 0.5
declare -A BEFORE
for name in "${!PIDS[@]}"; do
    RSS[$name]=$(field "${PIDS[$name]}" VmRSS)
    ANON[$name]=$(field "${PIDS[$name]}" RssAnon)
    BEFORE[$name]=$(field "${PIDS[$name]}" voluntary_ctxt_switches)
done
sleep "$IDLE"
for name in "${!PIDS[@]}"; do
    SWITCHES[$name]=$(( $(field "${PIDS[$name]}" voluntary_ctxt_switches) - BEFORE[$name] ))
    NS_PID=${NSS[$name]} INIT_PID=${PIDS[$name]} stop_namespace
done

# 4. SIGTERM -> exit latency, as PID 1.
echo "SIGTERM latency: $RUNS runs each..." >&2
for i in "${INITS[@]}"; do
    samples=()
    for _ in $(seq "$RUNS"); do
        # shellcheck disable=SC2046
        start_in_namespace $(command_of "$i")
        t0=$EPOCHREALTIME
        kill -TERM "$INIT_PID"
        wait "$NS_PID" 2>/dev/null || true
        t1=$EPOCHREALTIME
        samples+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
    done
    LATENCY[$(name_of "$i")]=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
done

for i in "${INITS[@]}"; do
    IFS='|' read -r name bin _ <<<"$i"
    SIZE[$name]=$(stat -c %s "$(command -v "$bin")")
done

# The table (Markdown), then ratios against usher.
names=()
for i in "${INITS[@]}"; do names+=("$(name_of "$i")"); done
row() {
    local label=$1; shift
    printf '| %s |' "$label"
    for v in "$@"; do printf ' %s |' "$v"; done
    printf '\n'
}
vals() { local -n m=$1; for n in "${names[@]}"; do printf '%s\n' "${m[$n]:--}"; done; }
echo
echo "$(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; usher: $USHER"
echo
row "" "${names[@]}"
printf '|---|'; for _ in "${names[@]}"; do printf -- '---:|'; done; printf '\n'
mapfile -t v < <(vals OVERHEAD); row "spawn-to-exit overhead (ms, fastest run minus /bin/true)" "${v[@]}"
mapfile -t v < <(vals RSS); row "VmRSS supervising, as PID 1 (kB)" "${v[@]}"
mapfile -t v < <(vals ANON); row "of which private (RssAnon, kB)" "${v[@]}"
mapfile -t v < <(vals SWITCHES); row "voluntary context switches in ${IDLE} s idle" "${v[@]}"
mapfile -t v < <(vals LATENCY); row "SIGTERM -> exit, median of $RUNS (ms)" "${v[@]}"
mapfile -t v < <(vals SIZE); row "binary size (bytes)" "${v[@]}"
echo
printf 'usher in-process fallback (no re-exec): VmRSS %s kB, RssAnon %s kB, %s wake-ups in %s s\n' \
    "${RSS[usher-fallback]}" "${ANON[usher-fallback]}" "${SWITCHES[usher-fallback]}" "$IDLE"
if [ -n "${RSS[usher-migrated]:-}" ]; then
    printf 'after migrating a SQLite database first: re-executed supervisor VmRSS %s kB (RssAnon %s kB); in-process fallback VmRSS %s kB (RssAnon %s kB)\n' \
        "${RSS[usher-migrated]}" "${ANON[usher-migrated]}" "${RSS[usher-fallback-migrated]}" "${ANON[usher-fallback-migrated]}"
fi
echo
echo "Ratios (other / usher):"
for n in "${names[@]:1}"; do
    awk -v n="$n" -v r="${RSS[$n]}" -v u="${RSS[usher]}" -v o="${OVERHEAD[$n]}" -v uo="${OVERHEAD[usher]}" \
        'BEGIN { printf "  %-12s VmRSS %.1fx", n, r / u; if (uo > 0) printf ", spawn overhead %.2fx", o / uo; printf "\n" }'
done

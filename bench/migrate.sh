#!/usr/bin/env bash
# bench/migrate.sh: usher's migration engine side by side with `sqlx migrate run` (sqlx-cli)
# and `refinery migrate` (refinery_cli), against one local PostgreSQL that this script starts
# in a temporary directory (and stops at the end).
#
#   (a) no-op start: every migration applied, start -> exec of /bin/true (hyperfine)
#   (b) 200 tiny migrations on an empty database, server with synchronous_commit=off:
#       total time and per-migration cost, minus psql running the same statements (one
#       transaction each) = each tool's own overhead per migration
#   (c) 50 replicas started at once on an empty database: how many exit 0
#   and the sizes of the static musl release builds (default features; PostgreSQL only).
#
# Needs: hyperfine, psql, PostgreSQL server binaries (initdb, postgres), python3, the sqlx and
# refinery CLIs (cargo install sqlx-cli@0.9.0 / refinery_cli@0.10.0), and the usher musl release
# build (cargo build --release --target x86_64-unknown-linux-musl). Run as root (the server
# then runs as the postgres user) or as a user that may run PostgreSQL.
#
# Environment: USHER, SQLX, REFINERY (binaries), RUNS (hyperfine runs for (a), default 40),
# USHER_PG_ONLY (the PostgreSQL-only usher build, for its size), AUTH (scram-sha-256, the
# default, or trust: without the ~2-4 ms of PBKDF2 that SCRAM costs every client per connection).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MUSL=$ROOT/target/x86_64-unknown-linux-musl/release/usher
USHER=${USHER:-$MUSL}
SQLX=${SQLX:-$(command -v sqlx || echo "$HOME/.cargo/bin/sqlx")}
REFINERY=${REFINERY:-$(command -v refinery || echo "$HOME/.cargo/bin/refinery")}
RUNS=${RUNS:-40}
AUTH=${AUTH:-scram-sha-256}
PASSWORD=bench-pw

die() { echo "bench/migrate.sh: $*" >&2; exit 1; }
for tool in hyperfine psql python3; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -x "$USHER" ] || die "no usher binary at $USHER; build it: cargo build --release --target x86_64-unknown-linux-musl"
[ -x "$SQLX" ] || die "no sqlx CLI; cargo install sqlx-cli --version 0.9.0 --no-default-features --features rustls,postgres,mysql,sqlite"
[ -x "$REFINERY" ] || die "no refinery CLI; cargo install refinery_cli --version 0.10.0"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v initdb)")
[ -x "$PGBIN/initdb" ] || die "PostgreSQL server binaries not found"

WORK=$(mktemp -d /tmp/usher-bench.XXXXXX)
cleanup() {
    # Fast shutdown of the postmaster itself (runuser would not pass the signal on).
    if [ -f "$WORK/data/postmaster.pid" ]; then
        pid=$(head -1 "$WORK/data/postmaster.pid")
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "$PASSWORD" > "$WORK/pw"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK/pw"
as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres -E UTF8 --no-sync --locale=C \
    --auth-local=trust --auth-host="$AUTH" --pwfile="$WORK/pw" >/dev/null
as_pg "$PGBIN/postgres" -D "$WORK/data" -p "$PORT" -k "$WORK" \
    -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c max_connections=300 \
    >"$WORK/server.log" 2>&1 &

sql() { psql -X -q -A -t -h "$WORK" -p "$PORT" -U postgres "$@"; }
for _ in $(seq 100); do sql -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
url() { echo "postgres://postgres:$PASSWORD@127.0.0.1:$PORT/$1?sslmode=disable"; }
fresh() { sql -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null; }

# make_migrations DIR sqlx|refinery N
make_migrations() {
    mkdir -p "$1"
    for i in $(seq "$3"); do
        if [ "$2" = sqlx ]; then f="$1/${i}_create_t$i.sql"; else f="$1/V${i}__create_t$i.sql"; fi
        echo "CREATE TABLE t$i (id int);" > "$f"
    done
}

# The commands, each given DATABASE_URL through env(1) so that all three pay the same exec.
usher_cmd() { echo "env DATABASE_URL=$(url "$1") $USHER --log-level warn --migrations $2 -- /bin/true"; }
sqlx_cmd() { echo "env DATABASE_URL=$(url "$1") $SQLX migrate run --source $2"; }
refinery_cmd() { echo "env DATABASE_URL=$(url "$1") $REFINERY migrate -e DATABASE_URL -p $2"; }

mean_ms() { # hyperfine JSON -> "mean ± stddev" in ms, per command, in order
    python3 - "$1" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["mean"] * 1000:.1f} ± {r["stddev"] * 1000:.1f} ms')
EOF
}
mean_only() {
    python3 - "$1" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f'{r["mean"] * 1000:.3f}')
EOF
}

# --- (a) no-op start ----------------------------------------------------------------------
make_migrations "$WORK/sqlx10" sqlx 10
make_migrations "$WORK/ref10" refinery 10
for db in a_usher_sqlx a_sqlx a_usher_ref a_ref; do fresh $db; done
eval "$(usher_cmd a_usher_sqlx "$WORK/sqlx10")"
eval "$(sqlx_cmd a_sqlx "$WORK/sqlx10")" >/dev/null
eval "$(usher_cmd a_usher_ref "$WORK/ref10")"
eval "$(refinery_cmd a_ref "$WORK/ref10")" >/dev/null
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/a.json" --style none \
    "$(usher_cmd a_usher_sqlx "$WORK/sqlx10")" \
    "$(sqlx_cmd a_sqlx "$WORK/sqlx10")" \
    "$(usher_cmd a_usher_ref "$WORK/ref10")" \
    "$(refinery_cmd a_ref "$WORK/ref10")" >/dev/null
mapfile -t A < <(mean_ms "$WORK/a.json")

# --- (b) 200 tiny migrations ---------------------------------------------------------------
make_migrations "$WORK/sqlx200" sqlx 200
make_migrations "$WORK/ref200" refinery 200
for i in $(seq 200); do echo "BEGIN; CREATE TABLE t$i (id int); COMMIT;"; done > "$WORK/psql200.sql"
hyperfine -N --runs 5 --export-json "$WORK/b.json" --style none \
    --prepare "psql -X -q -h $WORK -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS b_usher_sqlx WITH (FORCE)' -c 'CREATE DATABASE b_usher_sqlx'" \
    "$(usher_cmd b_usher_sqlx "$WORK/sqlx200")" \
    --prepare "psql -X -q -h $WORK -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS b_sqlx WITH (FORCE)' -c 'CREATE DATABASE b_sqlx'" \
    "$(sqlx_cmd b_sqlx "$WORK/sqlx200")" \
    --prepare "psql -X -q -h $WORK -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS b_usher_ref WITH (FORCE)' -c 'CREATE DATABASE b_usher_ref'" \
    "$(usher_cmd b_usher_ref "$WORK/ref200")" \
    --prepare "psql -X -q -h $WORK -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS b_ref WITH (FORCE)' -c 'CREATE DATABASE b_ref'" \
    "$(refinery_cmd b_ref "$WORK/ref200")" \
    --prepare "psql -X -q -h $WORK -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS b_psql WITH (FORCE)' -c 'CREATE DATABASE b_psql'" \
    "env PGPASSWORD=$PASSWORD psql -X -q -h 127.0.0.1 -p $PORT -U postgres -d b_psql -f $WORK/psql200.sql" >/dev/null
# The same tools with all 200 applied: what does not depend on applying.
hyperfine -N --warmup 2 --runs 10 --export-json "$WORK/b0.json" --style none \
    "$(usher_cmd b_usher_sqlx "$WORK/sqlx200")" \
    "$(sqlx_cmd b_sqlx "$WORK/sqlx200")" \
    "$(usher_cmd b_usher_ref "$WORK/ref200")" \
    "$(refinery_cmd b_ref "$WORK/ref200")" >/dev/null
mapfile -t B < <(mean_only "$WORK/b.json")
mapfile -t B0 < <(mean_only "$WORK/b0.json")
PSQL_PER=$(python3 -c "print(${B[4]} / 200)")
per() { python3 -c "print(f'{($1 - $2) / 200:.3f} ms')"; }
over() { python3 -c "print(f'{($1 - $2) / 200 - $PSQL_PER:+.3f} ms')"; }

# --- (c) 50 replicas at once -----------------------------------------------------------------
make_migrations "$WORK/sqlx20" sqlx 20
make_migrations "$WORK/ref20" refinery 20
replicas() { # name command... -> "ok/50"
    local db=$1 dir=$2 kind=$3 ok=0 pids=()
    fresh "$db"
    for _ in $(seq 50); do
        eval "$("${kind}_cmd" "$db" "$dir")" >/dev/null 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)) || true; done
    echo "$ok/50"
}
C1=$(replicas c_usher_sqlx "$WORK/sqlx20" usher)
C2=$(replicas c_sqlx "$WORK/sqlx20" sqlx)
C3=$(replicas c_usher_ref "$WORK/ref20" usher)
C4=$(replicas c_ref "$WORK/ref20" refinery)

size() { [ -f "$1" ] && stat -c %s "$1" | sed ':a;s/\B[0-9]\{3\}\b/,&/;ta' || echo "(not built)"; }

cat <<EOF
PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), local TCP, $AUTH, synchronous_commit=off; $(nproc) cores.

| | usher (sqlx format) | sqlx-cli $("$SQLX" --version | awk '{print $2}') | usher (refinery format) | refinery_cli $("$REFINERY" --version | awk '{print $2}') |
|---|---|---|---|---|
| (a) no-op start, 10 applied, to exec | ${A[0]} | ${A[1]} | ${A[2]} | ${A[3]} |
| (b) 200 migrations, empty database, total | $(printf '%.1f' "${B[0]}") ms | $(printf '%.1f' "${B[1]}") ms | $(printf '%.1f' "${B[2]}") ms | $(printf '%.1f' "${B[3]}") ms |
| (b) per migration | $(per "${B[0]}" "${B0[0]}") | $(per "${B[1]}" "${B0[1]}") | $(per "${B[2]}" "${B0[2]}") | $(per "${B[3]}" "${B0[3]}") |
| (b) overhead per migration over psql ($(printf '%.3f' "$PSQL_PER") ms each) | $(over "${B[0]}" "${B0[0]}") | $(over "${B[1]}" "${B0[1]}") | $(over "${B[2]}" "${B0[2]}") | $(over "${B[3]}" "${B0[3]}") |
| (c) 50 replicas at once, 20 migrations: exit 0 | $C1 | $C2 | $C3 | $C4 |

| static musl release build | bytes |
|---|---|
| usher, default features (PostgreSQL, MySQL/MariaDB, SQLite) | $(size "$USHER") |
| usher, --no-default-features --features postgres | $(size "${USHER_PG_ONLY:-}") |
EOF

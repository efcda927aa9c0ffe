#!/usr/bin/env bash
# bench/latency.sh: start-up one network hop away. Each tool talks to a local PostgreSQL and
# MariaDB through bench/rtproxy.py, a TCP proxy that delays every chunk by DELAY ms each way and
# counts round trips (the server speaking after the client did). One table, at 0 and 1 ms
# one-way delay, for:
#   (a) a start with nothing to apply (50 migrations applied);
#   (b) 50 tiny migrations on an empty database;
# PostgreSQL with trust, with SCRAM, and with SCRAM over TLS (sslmode=require); MariaDB with
# mysql_native_password. Tools: usher, sqlx-cli 0.9, refinery_cli 0.10, dbmate, and Prisma
# 6.19.3 `migrate deploy` on PostgreSQL with its WASM schema engine and @prisma/adapter-pg (the
# native schema engine is downloaded at run time, which this machine cannot do; the WASM engine
# has no MySQL connector). Times are medians; round trips are summed over the run's connections.
#
# Needs: python3, openssl, PostgreSQL and MariaDB server binaries, the sqlx and refinery CLIs,
# and (optional) dbmate and Prisma in PRISMA_DIR (scripts/install-node-tools installs them).
# Environment: USHER, SQLX, REFINERY, DBMATE, PRISMA_DIR (default target/node-tools), RUNS
# (no-op starts per cell, default 9), RUNS_MIGRATE (default 3), DELAYS (default "0 1"), TOOLS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USHER=${USHER:-$ROOT/target/x86_64-unknown-linux-musl/release/usher}
SQLX=${SQLX:-$(command -v sqlx || echo "$HOME/.cargo/bin/sqlx")}
REFINERY=${REFINERY:-$(command -v refinery || echo "$HOME/.cargo/bin/refinery")}
PRISMA_DIR=${PRISMA_DIR:-$ROOT/target/node-tools}
export USHER SQLX REFINERY PRISMA_DIR ROOT
export RUNS=${RUNS:-9} RUNS_MIGRATE=${RUNS_MIGRATE:-3} DELAYS=${DELAYS:-"0 1"}
export TOOLS=${TOOLS:-"usher sqlx refinery dbmate prisma"}
PASSWORD=bench-pw

die() { echo "bench/latency.sh: $*" >&2; exit 1; }
for tool in python3 openssl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
[ -x "$USHER" ] || die "no usher binary at $USHER"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || die "PostgreSQL server binaries not found"
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
[ -x "$MARIADBD" ] || die "mariadbd not found"

WORK=$(mktemp -d /tmp/usher-latency.XXXXXX)
export WORK
cleanup() {
    if [ -f "$WORK/pg/postmaster.pid" ]; then
        kill -INT "$(head -1 "$WORK/pg/postmaster.pid")" 2>/dev/null || true
    fi
    [ -f "$WORK/maria.pid" ] && kill "$(cat "$WORK/maria.pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# PostgreSQL: user postgres (SCRAM), user trusted (trust), TLS with a self-signed certificate.
mkdir -p "$WORK/pg" && chmod 700 "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$WORK" "$WORK/pg"
echo "$PASSWORD" > "$WORK/pw"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres -E UTF8 --no-sync --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$WORK/pw" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$WORK/pg/server.key" -out "$WORK/pg/server.crt" 2>/dev/null
[ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg/server.key" "$WORK/pg/server.crt"
chmod 600 "$WORK/pg/server.key"
sed -i '1i host all trusted 127.0.0.1/32 trust' "$WORK/pg/pg_hba.conf"
export PG_PORT=$(free_port)
as_pg "$PGBIN/postgres" -D "$WORK/pg" -p "$PG_PORT" -k "$WORK" -c listen_addresses=127.0.0.1 \
    -c ssl=on -c synchronous_commit=off -c fsync=off -c max_connections=200 >"$WORK/pg.log" 2>&1 &
psql_() { psql -X -q -A -t -h "$WORK" -p "$PG_PORT" -U postgres -d postgres "$@"; }
for _ in $(seq 100); do psql_ -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
psql_ -c "CREATE ROLE trusted SUPERUSER LOGIN" >/dev/null

# MariaDB: user bench with mysql_native_password.
mkdir -p "$WORK/maria"
mariadb-install-db --no-defaults --datadir="$WORK/maria" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null 2>&1
export MY_PORT=$(free_port)
"$MARIADBD" --no-defaults --datadir="$WORK/maria" --socket="$WORK/maria.sock" \
    --pid-file="$WORK/maria.pid" --port="$MY_PORT" --bind-address=127.0.0.1 --user=root \
    --skip-log-bin --innodb-flush-log-at-trx-commit=0 >"$WORK/maria.log" 2>&1 &
for _ in $(seq 100); do mariadb --socket="$WORK/maria.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
mariadb --socket="$WORK/maria.sock" -uroot -e "CREATE USER bench@'%' IDENTIFIED BY '$PASSWORD'; GRANT ALL ON *.* TO bench@'%'"
export PASSWORD

python3 "$ROOT/bench/latency.py"

#!/usr/bin/env bash
# bench/large-script.sh: one large migration (default 100 MB of INSERTs, ~1.2 million
# statements) applied by usher on SQLite, PostgreSQL and MariaDB, side by side with each
# database's own command-line client running the same script in one transaction (`sqlite3`,
# `psql -1`, `mariadb` between BEGIN and COMMIT). usher runs it as one migration: one
# transaction, its history row, the script sent in runs of statements.
#
# Starts its own PostgreSQL and MariaDB in a temporary directory (stopped at the end), like
# bench/migrate.sh. Prints a Markdown table.
#
# Needs: sqlite3, psql, PostgreSQL server binaries (initdb, postgres), mariadb-install-db,
# mariadbd and the mariadb client, python3, and an usher release build (USHER, default the
# musl build, else target/release/usher). Run as root (the servers then run as postgres /
# root) or as a user that may run them.
#
# Environment: USHER, SIZE_MB (default 100), ONLY (sqlite|postgres|mariadb: one database).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
USHER=${USHER:-$ROOT/target/x86_64-unknown-linux-musl/release/usher}
[ -x "$USHER" ] || USHER=$ROOT/target/release/usher
SIZE_MB=${SIZE_MB:-100}
ONLY=${ONLY:-}
PASSWORD=bench-pw

die() { echo "bench/large-script.sh: $*" >&2; exit 1; }
[ -x "$USHER" ] || die "no usher release build; cargo build --release"
command -v python3 >/dev/null || die "python3 is missing"
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

WORK=$(mktemp -d /tmp/usher-large.XXXXXX)
chmod 755 "$WORK"
PG_PID=
MY_PID=
cleanup() {
    [ -n "$PG_PID" ] && kill -INT "$PG_PID" 2>/dev/null || true
    [ -n "$MY_PID" ] && kill -TERM "$MY_PID" 2>/dev/null || true
    for pid in $PG_PID $MY_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# The script: a table, then INSERTs of ~80 bytes each, some strings holding ';' and quotes.
SCRIPT=$WORK/1_large.sql
python3 - "$SCRIPT" "$SIZE_MB" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2]) << 20
with open(path, "w") as f:
    f.write("CREATE TABLE big (id INTEGER PRIMARY KEY, name VARCHAR(100), n INTEGER);\n")
    written, i = 0, 0
    while written < size:
        line = "INSERT INTO big (id, name, n) VALUES (%d, 'row %d; it''s here', %d);\n" % (i, i, i * 7)
        f.write(line)
        written += len(line)
        i += 1
print(f"{size >> 20} MB, {i + 1} statements", file=sys.stderr)
EOF
mkdir "$WORK/m"
cp "$SCRIPT" "$WORK/m/"
ROWS=$(($(wc -l < "$SCRIPT") - 1))

# time_usher URL: seconds for usher to apply the migration (checks the row count after).
time_usher() {
    local t0 t1
    t0=$(now)
    DATABASE_URL=$1 "$USHER" --migrations "$WORK/m" --log-level warn migrate >/dev/null
    t1=$(now)
    secs "$t0" "$t1"
}

ROWS_OUT=()
row() { ROWS_OUT+=("| $1 | $2 s | $3 s | $(python3 -c "print(f'{$2 / $3:.2f}')")x |"); }
check() { [ "$1" = "$ROWS" ] || die "$2: expected $ROWS rows, found $1"; }

if want sqlite; then
    command -v sqlite3 >/dev/null || die "sqlite3 is missing"
    u=$(time_usher "sqlite://$WORK/usher.db")
    check "$(sqlite3 "$WORK/usher.db" 'SELECT count(*) FROM big')" "usher on SQLite"
    t0=$(now)
    { echo "BEGIN;"; cat "$SCRIPT"; echo "COMMIT;"; } | sqlite3 -bail "$WORK/shell.db"
    t1=$(now)
    check "$(sqlite3 "$WORK/shell.db" 'SELECT count(*) FROM big')" "sqlite3 shell"
    row "SQLite (file; \`sqlite3\` $(sqlite3 --version | cut -d' ' -f1) shell)" "$u" "$(secs "$t0" "$t1")"
fi

if want postgres; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v initdb)")
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    mkdir "$WORK/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg"
    echo "$PASSWORD" > "$WORK/pg/pw"
    [ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg/pw"
    PGPORT=$(free_port)
    as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -E UTF8 --no-sync --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 --pwfile="$WORK/pg/pw" >/dev/null
    as_pg "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg" \
        -c listen_addresses=127.0.0.1 -c synchronous_commit=off >"$WORK/pg/log" 2>&1 &
    PG_PID=$!
    sql() { psql -X -q -A -t -h "$WORK/pg" -p "$PGPORT" -U postgres "$@"; }
    for _ in $(seq 100); do sql -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
    sql -d postgres -c 'CREATE DATABASE by_usher' -c 'CREATE DATABASE by_psql'
    u=$(time_usher "postgres://postgres:$PASSWORD@127.0.0.1:$PGPORT/by_usher?sslmode=disable")
    check "$(sql -d by_usher -c 'SELECT count(*) FROM big')" "usher on PostgreSQL"
    t0=$(now)
    PGPASSWORD=$PASSWORD psql -X -q -1 -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres \
        -d by_psql -f "$SCRIPT" >/dev/null
    t1=$(now)
    check "$(sql -d by_psql -c 'SELECT count(*) FROM big')" "psql"
    row "PostgreSQL $(sql -d postgres -c 'SHOW server_version' | cut -d' ' -f1) (local TCP, \`psql -1\`)" "$u" "$(secs "$t0" "$t1")"
fi

if want mariadb; then
    MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    mariadb-install-db --no-defaults --datadir="$WORK/my/data" --user="$(id -un)" \
        --auth-root-authentication-method=normal --skip-test-db >/dev/null 2>&1
    MYPORT=$(free_port)
    "$MARIADBD" --no-defaults --datadir="$WORK/my/data" --socket="$WORK/my/sock" \
        --pid-file="$WORK/my/pid" --port="$MYPORT" --bind-address=127.0.0.1 --user="$(id -un)" \
        --skip-log-bin --innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=256M \
        >"$WORK/my/log" 2>&1 &
    MY_PID=$!
    my() { mariadb --no-defaults --socket="$WORK/my/sock" -uroot -N -B "$@"; }
    for _ in $(seq 200); do my -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
    my -e "CREATE USER bench@'%' IDENTIFIED BY '$PASSWORD'; GRANT ALL ON *.* TO bench@'%';
           CREATE DATABASE by_usher; CREATE DATABASE by_client;"
    u=$(time_usher "mysql://bench:$PASSWORD@127.0.0.1:$MYPORT/by_usher")
    check "$(my by_usher -e 'SELECT count(*) FROM big')" "usher on MariaDB"
    t0=$(now)
    { echo "BEGIN;"; cat "$SCRIPT"; echo "COMMIT;"; } |
        mariadb --no-defaults -h 127.0.0.1 -P "$MYPORT" -ubench -p"$PASSWORD" by_client
    t1=$(now)
    check "$(my by_client -e 'SELECT count(*) FROM big')" "mariadb client"
    row "MariaDB $(my -e 'SELECT VERSION()' | cut -d- -f1) (local TCP, \`mariadb\` client)" "$u" "$(secs "$t0" "$t1")"
fi

echo
echo "$SIZE_MB MB script, $((ROWS + 1)) statements, one transaction; $(nproc) cores"
echo
echo "| database (client) | usher | client | usher / client |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS_OUT[@]}"

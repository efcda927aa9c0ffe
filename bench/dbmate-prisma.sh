#!/usr/bin/env bash
# bench/dbmate-prisma.sh: usher against dbmate and Prisma's `migrate deploy`, on SQLite (no
# server), each with the same SQL in its own file layout:
#   (a) 20 tiny migrations on a fresh database file, total time;
#   (b) no-op start: all 20 applied, start -> exec of /bin/true (dbmate: `up`; Prisma:
#       `migrate deploy`), the cost every container start pays.
# dbmate runs as its native binary (@dbmate/linux-x64), Prisma 6.19.3 as its CLI on Node with the
# WASM schema engine and the libSQL adapter (7.x cannot run without downloading an engine).
#
# Needs: hyperfine, node, and the npm packages scripts/install-node-tools installs (dbmate@2.36.0,
# prisma@6.19.3, @prisma/adapter-libsql@6.19.3, @libsql/client@0.18.0) in PRISMA_DIR/node_modules.
# Environment: USHER (binary), PRISMA_DIR (default target/node-tools), RUNS (default 20;
# Prisma: RUNS_PRISMA, default 3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USHER=${USHER:-$ROOT/target/x86_64-unknown-linux-musl/release/usher}
PRISMA_DIR=${PRISMA_DIR:-$ROOT/target/node-tools}
RUNS=${RUNS:-20}
RUNS_PRISMA=${RUNS_PRISMA:-3}
N=20

die() { echo "bench/dbmate-prisma.sh: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
command -v node >/dev/null || die "node is missing (apt-get install nodejs)"
[ -x "$USHER" ] || die "no usher binary at $USHER"
DBMATE=$(ls "$PRISMA_DIR"/node_modules/@dbmate/linux-*/bin/dbmate 2>/dev/null | head -n1)
PRISMA=$PRISMA_DIR/node_modules/.bin/prisma
[ -x "$DBMATE" ] && [ -x "$PRISMA" ] || die "dbmate or prisma missing in $PRISMA_DIR; scripts/install-node-tools installs them"

WORK=$(mktemp -d /tmp/usher-bench-node.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The same N statements in each tool's layout.
mkdir -p "$WORK/usher" "$WORK/dbmate" "$WORK/prisma/prisma/migrations"
for i in $(seq $N); do
  v=$(printf '202501010000%02d' "$i")
  echo "CREATE TABLE t$i (id int);" > "$WORK/usher/${v}_create_t$i.sql"
  printf -- '-- migrate:up\nCREATE TABLE t%s (id int);\n\n-- migrate:down\n' "$i" > "$WORK/dbmate/${v}_create_t$i.sql"
  mkdir "$WORK/prisma/prisma/migrations/${v}_create_t$i"
  echo "CREATE TABLE t$i (id int);" > "$WORK/prisma/prisma/migrations/${v}_create_t$i/migration.sql"
done
echo 'provider = "sqlite"' > "$WORK/prisma/prisma/migrations/migration_lock.toml"
ln -s "$PRISMA_DIR/node_modules" "$WORK/prisma/node_modules"
cat > "$WORK/prisma/prisma.config.ts" <<'EOF'
import { defineConfig } from "prisma/config";
import { PrismaLibSQL } from "@prisma/adapter-libsql";
export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  adapter: async () => new PrismaLibSQL({ url: process.env.DATABASE_URL! }),
});
EOF
cat > "$WORK/prisma/prisma/schema.prisma" <<'EOF'
generator client {
  provider   = "prisma-client"
  output     = "../generated"
  engineType = "client"
}
datasource db {
  provider = "sqlite"
  url      = env("DATABASE_URL")
}
EOF

usher_cmd() { echo "env DATABASE_URL=sqlite://$WORK/$1 $USHER --log-level warn --migrations $WORK/usher -- /bin/true"; }
dbmate_cmd() { echo "$DBMATE --url sqlite:$WORK/$1 -d $WORK/dbmate --no-dump-schema up"; }
# Prisma reads prisma.config.ts from the working directory.
prisma_cmd() { echo "env DATABASE_URL=file:$WORK/$1 sh -c 'cd $WORK/prisma && exec $PRISMA migrate deploy'"; }

mean() { python3 -c 'import json,sys; [print("%.1f" % (r["mean"] * 1000)) for r in json.load(open(sys.argv[1]))["results"]]' "$1"; }

# (a) fresh database each run.
hyperfine -N --runs "$RUNS" --style none --export-json "$WORK/a1.json" \
  --prepare "rm -f $WORK/a_usher.db" "$(usher_cmd a_usher.db)" \
  --prepare "rm -f $WORK/a_dbmate.db" "$(dbmate_cmd a_dbmate.db)" >/dev/null
hyperfine --runs "$RUNS_PRISMA" --style none --export-json "$WORK/a2.json" \
  --prepare "rm -f $WORK/a_prisma.db" "$(prisma_cmd a_prisma.db)" >/dev/null 2>&1
# (b) everything applied (the last run of (a) left each database migrated).
hyperfine -N --warmup 2 --runs "$RUNS" --style none --export-json "$WORK/b1.json" \
  "$(usher_cmd a_usher.db)" "$(dbmate_cmd a_dbmate.db)" >/dev/null
hyperfine --runs "$RUNS_PRISMA" --style none --export-json "$WORK/b2.json" "$(prisma_cmd a_prisma.db)" >/dev/null 2>&1
[ "$(sqlite3 "$WORK/a_prisma.db" 'SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL')" = $N ] \
  || die "Prisma did not apply the $N migrations"
[ "$(sqlite3 "$WORK/a_dbmate.db" 'SELECT count(*) FROM schema_migrations')" = $N ] || die "dbmate did not apply the $N migrations"

mapfile -t A < <(mean "$WORK/a1.json"; mean "$WORK/a2.json")
mapfile -t B < <(mean "$WORK/b1.json"; mean "$WORK/b2.json")
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }

cat <<EOF
SQLite file on local disk; usher (its sqlx format), dbmate $("$DBMATE" --version | awk '{print $3}') (native binary), Prisma $(node -p "require('$PRISMA_DIR/node_modules/prisma/package.json').version") (\`migrate deploy\`, Node $(node --version), WASM engine, libSQL adapter); mean of $RUNS runs (Prisma: $RUNS_PRISMA).

| | usher | dbmate | prisma migrate deploy |
|---|---:|---:|---:|
| (a) $N migrations on a fresh database | ${A[0]} ms | ${A[1]} ms | ${A[2]} ms |
| (b) no-op start, $N applied | ${B[0]} ms | ${B[1]} ms | ${B[2]} ms |
| (b) ratio to usher | 1.0x | $(r "${B[1]}" "${B[0]}") | $(r "${B[2]}" "${B[0]}") |
EOF

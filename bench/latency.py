#!/usr/bin/env python3
"""The measuring half of bench/latency.sh (which starts the servers and sets the environment)."""

import os
import shutil
import statistics
import subprocess
import time

E = os.environ
ROOT, WORK, PW = E["ROOT"], E["WORK"], E["PASSWORD"]
PG_PORT, MY_PORT = int(E["PG_PORT"]), int(E["MY_PORT"])
RUNS, RUNS_MIGRATE = int(E["RUNS"]), int(E["RUNS_MIGRATE"])
RUNS_PRISMA = int(E.get("RUNS_PRISMA", "3"))
DELAYS = [float(d) for d in E["DELAYS"].split()]
TOOLS = E["TOOLS"].split()
N = 50
PRISMA_DIR = E["PRISMA_DIR"]
DBMATE = next(
    (
        os.path.join(PRISMA_DIR, "node_modules/@dbmate", d, "bin/dbmate")
        for d in sorted(os.listdir(os.path.join(PRISMA_DIR, "node_modules/@dbmate")))
        if d.startswith("linux-")
    ),
    None,
) if os.path.isdir(os.path.join(PRISMA_DIR, "node_modules/@dbmate")) else None
if E.get("DBMATE") and os.access(E["DBMATE"], os.X_OK):
    DBMATE = E["DBMATE"]
PRISMA = os.path.join(PRISMA_DIR, "node_modules/.bin/prisma")

# (name, kind, user:password, sslmode)
SETTINGS = [
    ("PostgreSQL, trust", "pg", "trusted", "disable"),
    ("PostgreSQL, SCRAM", "pg", f"postgres:{PW}", "disable"),
    ("PostgreSQL, SCRAM + TLS", "pg", f"postgres:{PW}", "require"),
    ("MariaDB, native password", "my", f"bench:{PW}", None),
]


def url(kind, auth, ssl, port, db, tool):
    if kind == "pg":
        return f"postgres://{auth}@127.0.0.1:{port}/{db}?sslmode={ssl}"
    return f"mysql://{auth}@127.0.0.1:{port}/{db}"


def fresh(kind, db):
    if kind == "pg":
        subprocess.run(
            ["psql", "-X", "-q", "-h", WORK, "-p", str(PG_PORT), "-U", "postgres", "-d",
             "postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", "-c",
             f"CREATE DATABASE {db}"], check=True, capture_output=True)
    else:
        subprocess.run(
            ["mariadb", f"--socket={WORK}/maria.sock", "-uroot", "-e",
             f"DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"], check=True)


def layouts(kind):
    """Each tool's migration directory with the same N statements."""
    base = os.path.join(WORK, f"files-{kind}")
    if os.path.isdir(base):
        return base
    for t in ("usher", "refinery", "dbmate", "prisma/prisma/migrations"):
        os.makedirs(os.path.join(base, t))
    for i in range(1, N + 1):
        v = f"2025010100{i:04d}"
        sql = f"CREATE TABLE t{i} (id int);\n"
        open(f"{base}/usher/{v}_create_t{i}.sql", "w").write(sql)
        open(f"{base}/refinery/V{i}__create_t{i}.sql", "w").write(sql)
        open(f"{base}/dbmate/{v}_create_t{i}.sql", "w").write(
            f"-- migrate:up\n{sql}\n-- migrate:down\n")
        os.makedirs(f"{base}/prisma/prisma/migrations/{v}_create_t{i}")
        open(f"{base}/prisma/prisma/migrations/{v}_create_t{i}/migration.sql", "w").write(sql)
    provider = "postgresql" if kind == "pg" else "mysql"
    open(f"{base}/prisma/prisma/migrations/migration_lock.toml", "w").write(
        f'provider = "{provider}"\n')
    if os.path.isdir(os.path.join(PRISMA_DIR, "node_modules")):
        os.symlink(os.path.join(PRISMA_DIR, "node_modules"), f"{base}/prisma/node_modules")
    adapter = (
        'import { PrismaPg } from "@prisma/adapter-pg";\n'
        "const adapter = async () => new PrismaPg({ connectionString: process.env.PRISMA_URL!,"
        " allowExitOnIdle: true, ssl: process.env.PRISMA_TLS ? { rejectUnauthorized: false } : false });\n"
        if kind == "pg" else
        "const adapter = undefined;\n"
    )
    open(f"{base}/prisma/prisma.config.ts", "w").write(
        'import { defineConfig } from "prisma/config";\n' + adapter +
        "export default defineConfig({ experimental: { adapter: true }, engine: \"js\",\n"
        '  schema: "prisma/schema.prisma", migrations: { path: "prisma/migrations" }, adapter });\n')
    # engineType = "client": no native query engine either (it would be downloaded).
    open(f"{base}/prisma/prisma/schema.prisma", "w").write(
        'generator client {\n  provider = "prisma-client"\n  output = "../generated"\n'
        '  engineType = "client"\n}\n'
        f'datasource db {{\n  provider = "{provider}"\n  url = env("PRISMA_URL")\n}}\n')
    return base


def command(tool, kind, u, files, tls):
    env = dict(os.environ)
    if tool == "usher":
        env["DATABASE_URL"] = u
        return [E["USHER"], "--log-level", "warn", "--migrations", f"{files}/usher", "--",
                "/bin/true"], env, None
    if tool == "sqlx":
        return [E["SQLX"], "migrate", "run", "--source", f"{files}/usher", "--database-url",
                u], env, None
    if tool == "refinery":
        env["DATABASE_URL"] = u
        return [E["REFINERY"], "migrate", "-e", "DATABASE_URL", "-p", f"{files}/refinery"], \
            env, None
    if tool == "dbmate":
        if DBMATE is None:
            return None
        return [DBMATE, "--url", u, "-d", f"{files}/dbmate", "--no-dump-schema", "up"], env, None
    if tool == "prisma":
        if kind != "pg":
            return "no MySQL connector in the WASM engine"
        if not os.access(PRISMA, os.X_OK):
            return None
        env["PRISMA_URL"] = u.replace("mysql://", "mariadb://").replace("?sslmode=require", "") \
            .replace("?sslmode=disable", "")
        if tls:
            env["PRISMA_TLS"] = "1"
        return [PRISMA, "migrate", "deploy"], env, f"{files}/prisma"
    raise ValueError(tool)


class Proxy:
    def __init__(self, port, delay):
        self.log = os.path.join(WORK, f"proxy-{port}-{delay}.log")
        self.p = subprocess.Popen(
            ["python3", f"{ROOT}/bench/rtproxy.py", "--target", f"127.0.0.1:{port}",
             "--delay-ms", str(delay), "--log", self.log], stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())

    def clear(self):
        open(self.log, "w").close()

    def trips(self):
        """Round trips summed over the connections of the last run."""
        for _ in range(100):
            lines = open(self.log).read().split("\n")
            closed = [l for l in lines if l.startswith("connection ")]
            if closed and len(closed) == sum(l.startswith("opened ") for l in lines):
                break
            time.sleep(0.02)
        return sum(int(l.split()[3]) for l in closed)

    def stop(self):
        self.p.kill()
        self.p.wait()


def run(cmd, env, cwd):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    took = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        said = [l.strip() for l in lines if "rror" in l] or lines[-1:] or [f"exit {r.returncode}"]
        open(os.path.join(WORK, "..", "latency-failures.log"), "a").write(r.stderr)
        raise RuntimeError(said[0])
    return took


def cell(times, trips):
    return f"{statistics.median(times):.1f} ms, {trips} rt"


rows = []
ratios = []
for name, kind, auth, ssl in SETTINGS:
    port = PG_PORT if kind == "pg" else MY_PORT
    files = layouts(kind)
    for delay in DELAYS:
        proxy = Proxy(port, delay)
        noop, many = {}, {}
        for tool in TOOLS:
            db = f"lat_{tool}"
            spec = command(tool, kind, url(kind, auth, ssl, proxy.port, db, tool), files,
                           ssl == "require")
            if spec is None or isinstance(spec, str):
                noop[tool] = many[tool] = spec or "not installed"
                continue
            cmd, env, cwd = spec
            runs = RUNS_PRISMA if tool == "prisma" else RUNS
            try:
                times, trips = [], 0
                for _ in range(RUNS_PRISMA if tool == "prisma" else RUNS_MIGRATE):
                    fresh(kind, db)
                    proxy.clear()
                    times.append(run(cmd, env, cwd))
                    trips = proxy.trips()
                many[tool] = (times, trips)
                times = []
                for _ in range(runs):
                    proxy.clear()
                    times.append(run(cmd, env, cwd))
                    trips = proxy.trips()
                noop[tool] = (times, trips)
            except Exception as e:  # noqa: BLE001 - a tool that fails is reported, not fatal
                msg = str(e).replace("|", "/")[:80]
                noop.setdefault(tool, f"fails: {msg}")
                many.setdefault(tool, f"fails: {msg}")
        proxy.stop()
        for work, res in (("no-op start", noop), (f"{N} migrations", many)):
            cells = [cell(*res[t]) if isinstance(res[t], tuple) else res[t] for t in TOOLS]
            rows.append(f"| {name} | {delay:g} ms | {work} | " + " | ".join(cells) + " |")
            if "usher" in res and "sqlx" in res and isinstance(res["usher"], tuple) \
                    and isinstance(res["sqlx"], tuple):
                r = statistics.median(res["usher"][0]) / statistics.median(res["sqlx"][0])
                ratios.append((name, delay, work, r))

print(f"Each tool through bench/rtproxy.py (a TCP proxy delaying every chunk by the one-way "
      f"delay, counting round trips: the server answering after the client spoke, summed over "
      f"the run's connections); median of {RUNS} no-op starts and {RUNS_MIGRATE} runs of {N} "
      f"migrations (Prisma: {RUNS_PRISMA}). Prisma is 6.19.3 `migrate deploy` with the WASM "
      f"schema engine and @prisma/adapter-pg; its native engine is downloaded at run time, which "
      f"this machine cannot do.\n")
print("| database, auth | one-way delay | work | " + " | ".join(TOOLS) + " |")
print("|---|---:|---|" + "---:|" * len(TOOLS))
for r in rows:
    print(r)
print()
print("usher's time as a fraction of sqlx-cli's (targets at 1 ms: no-op ≤ 0.5, "
      f"{N} migrations ≤ 0.25):\n")
print("| database, auth | one-way delay | work | usher / sqlx-cli |")
print("|---|---:|---|---:|")
for name, delay, work, r in ratios:
    print(f"| {name} | {delay:g} ms | {work} | {r:.2f} |")
print()
print("The 0 ms rows are what does not depend on the network (process start, authentication, the "
      "server's own work); reading the numbers: docs/migrations.md, \"One network hop away\".")

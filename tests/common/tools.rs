//! The real dbmate and Prisma, for the tests that check usher against them: located, run with a
//! clean environment, and (Prisma) given the project files they need on these machines.
//!
//! Both come from the npm registry through `scripts/install-node-tools` (run by `.ci/run`, which
//! exports `USHER_NODE_TOOLS`; without the variable, `target/node-tools` of this checkout):
//! dbmate 2.36.0 as its native binary (`@dbmate/linux-x64`), Prisma 6.19.3 as its CLI on Node
//! with the WASM schema engine and a driver adapter (PostgreSQL: `@prisma/adapter-pg` 7.x,
//! SQLite: `@prisma/adapter-libsql`). A test that needs a missing tool is skipped loudly, and
//! fails under `CI=true`.
//!
//! URLs are given as usher reads them (`postgres://…`, `mysql://…`, `sqlite:///abs/file.db`)
//! and translated here into each tool's own spelling.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::{Run, prerequisite, run};

/// How to install the tools, for the skip message.
pub const INSTALL: &str =
    "scripts/install-node-tools (npm; .ci/run runs it and exports USHER_NODE_TOOLS)";

/// The install directory: `USHER_NODE_TOOLS`, else `target/node-tools` of this checkout.
pub fn node_tools_dir() -> PathBuf {
    std::env::var_os("USHER_NODE_TOOLS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-tools"))
}

/// dbmate's native binary in the install, if there is one.
pub fn dbmate_bin() -> Option<PathBuf> {
    let scope = node_tools_dir().join("node_modules/@dbmate");
    let mut found: Vec<PathBuf> = std::fs::read_dir(scope)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin/dbmate")))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// The Prisma CLI's entry point (`node_modules/.bin/prisma`), if installed with both adapters.
pub fn prisma_bin() -> Option<PathBuf> {
    let modules = node_tools_dir().join("node_modules");
    let complete = ["@prisma/adapter-pg", "@prisma/adapter-libsql", "pg"]
        .iter()
        .all(|m| modules.join(m).join("package.json").is_file());
    let bin = modules.join(".bin/prisma");
    (complete && bin.is_file() && crate::common::which("node").is_some()).then_some(bin)
}

/// dbmate, or a loud skip (a failure under CI).
pub fn require_dbmate() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(dbmate_bin).clone();
    if !prerequisite(
        found.is_some(),
        &format!(
            "dbmate 2.36.0 in {}/node_modules/@dbmate; install it with {INSTALL}",
            node_tools_dir().display()
        ),
    ) {
        return None;
    }
    found
}

/// Prisma (and node), or a loud skip (a failure under CI).
#[must_use]
pub fn require_prisma() -> bool {
    prerequisite(
        prisma_bin().is_some(),
        &format!(
            "node and Prisma 6.19.3 with @prisma/adapter-pg and @prisma/adapter-libsql in {}; \
             install them with {INSTALL}",
            node_tools_dir().display()
        ),
    )
}

/// A command with only PATH and HOME kept (the developer's DATABASE_URL cannot leak in).
fn clean(program: &Path) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", "180"]).arg(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null());
    cmd
}

/// The database kinds the tools are run against here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

/// The kind of an usher-style URL.
pub fn kind(url: &str) -> Kind {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Kind::Postgres
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Kind::MySql
    } else if url.starts_with("sqlite:") {
        Kind::Sqlite
    } else {
        panic!("no tool helper for the URL scheme of {url:?}")
    }
}

/// The SQLite file an usher-style `sqlite://` URL names (query string dropped).
fn sqlite_file(url: &str) -> &str {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .expect("a sqlite URL");
    path.split('?').next().unwrap()
}

// ---------------------------------------------------------------------------------------------
// dbmate

/// `dbmate --url URL --migrations-dir DIR --no-dump-schema ARGS…` (e.g. `["up"]`,
/// `["status", "--exit-code"]`). `url` is usher's spelling; dbmate's SQLite form is
/// `sqlite:/abs/file.db`, and its MySQL driver is reached as `mysql://`.
pub fn dbmate(dir: &Path, url: &str, args: &[&str]) -> Run {
    let bin = dbmate_bin().expect("dbmate (call require_dbmate first)");
    let url = match kind(url) {
        Kind::Sqlite => format!("sqlite:{}", sqlite_file(url)),
        Kind::MySql => url.replacen("mariadb://", "mysql://", 1),
        Kind::Postgres => url.to_string(),
    };
    let mut cmd = clean(&bin);
    cmd.current_dir(dir)
        .args(["--url", &url, "--migrations-dir"])
        .arg(dir)
        .arg("--no-dump-schema")
        .args(args);
    run(&mut cmd)
}

// ---------------------------------------------------------------------------------------------
// Prisma

/// The `prisma.config.ts` the WASM engine needs: the driver adapter chosen by `kind`.
/// `allowExitOnIdle`: without it every command waits ~10 s for pg's idle pool.
fn prisma_config(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "import { defineConfig } from \"prisma/config\";\n\
             import { PrismaPg } from \"@prisma/adapter-pg\";\n\
             export default defineConfig({\n\
             \x20 experimental: { adapter: true },\n\
             \x20 engine: \"js\",\n\
             \x20 schema: \"prisma/schema.prisma\",\n\
             \x20 migrations: { path: \"prisma/migrations\" },\n\
             \x20 adapter: async () =>\n\
             \x20   new PrismaPg({ connectionString: process.env.DATABASE_URL!, allowExitOnIdle: true }),\n\
             });\n"
        }
        Kind::Sqlite => {
            "import { defineConfig } from \"prisma/config\";\n\
             import { PrismaLibSQL } from \"@prisma/adapter-libsql\";\n\
             export default defineConfig({\n\
             \x20 experimental: { adapter: true },\n\
             \x20 engine: \"js\",\n\
             \x20 schema: \"prisma/schema.prisma\",\n\
             \x20 migrations: { path: \"prisma/migrations\" },\n\
             \x20 adapter: async () => new PrismaLibSQL({ url: process.env.DATABASE_URL! }),\n\
             });\n"
        }
        Kind::MySql => panic!("Prisma's WASM schema engine has no MySQL connector"),
    }
}

/// The schema: no models (the migrations are the SQL under test); `engineType = "client"` so
/// the CLI does not try to download a query engine.
fn prisma_schema(kind: Kind) -> String {
    let provider = match kind {
        Kind::Postgres => "postgresql",
        Kind::Sqlite => "sqlite",
        Kind::MySql => "mysql",
    };
    format!(
        "generator client {{\n  provider   = \"prisma-client\"\n  output     = \"../generated\"\n  \
         engineType = \"client\"\n}}\n\ndatasource db {{\n  provider = \"{provider}\"\n  \
         url      = env(\"DATABASE_URL\")\n}}\n"
    )
}

/// The migrations directory of a Prisma project: `project_dir/prisma/migrations`.
pub fn prisma_migrations(project_dir: &Path) -> PathBuf {
    project_dir.join("prisma/migrations")
}

/// Makes `project_dir` a Prisma project for `url`'s database: `prisma.config.ts`,
/// `prisma/schema.prisma`, `node_modules` (a link to the install) and the migrations
/// directory. Leaves the migrations (and `migration_lock.toml`) alone.
pub fn prisma_project(project_dir: &Path, url: &str) {
    let kind = kind(url);
    std::fs::create_dir_all(prisma_migrations(project_dir)).unwrap();
    std::fs::write(project_dir.join("prisma.config.ts"), prisma_config(kind)).unwrap();
    std::fs::write(
        project_dir.join("prisma/schema.prisma"),
        prisma_schema(kind),
    )
    .unwrap();
    let link = project_dir.join("node_modules");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(node_tools_dir().join("node_modules"), &link).unwrap();
    }
}

/// Prisma's `DATABASE_URL` for an usher-style URL: `file:/abs/file.db` for SQLite.
fn prisma_url(url: &str) -> String {
    match kind(url) {
        Kind::Sqlite => format!("file:{}", sqlite_file(url)),
        _ => url.to_string(),
    }
}

fn prisma_command(project_dir: &Path, url: &str, args: &[&str]) -> Command {
    prisma_project(project_dir, url);
    let bin = prisma_bin().expect("Prisma (call require_prisma first)");
    let mut cmd = clean(&bin);
    // No update check or telemetry: nothing but the database is contacted.
    cmd.current_dir(project_dir)
        .env("DATABASE_URL", prisma_url(url))
        .env("CHECKPOINT_DISABLE", "1")
        .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
        .args(args);
    cmd
}

/// `prisma ARGS…` in `project_dir` (made a project first, see `prisma_project`), e.g.
/// `["migrate", "deploy"]`. On PostgreSQL a command takes ~12 s: the WASM engine leaves a 10 s
/// timer pending after it is done.
pub fn prisma(project_dir: &Path, url: &str, args: &[&str]) -> Run {
    run(&mut prisma_command(project_dir, url, args))
}

/// The schema engine's own verdict on the history, which `prisma migrate status` prints only
/// in part (it says "up to date" for an edited migration or a row with no directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// Applied migrations whose `migration.sql` no longer has the recorded checksum.
    pub edited: Vec<String>,
    /// Rows with `finished_at` and `rolled_back_at` NULL: what `migrate deploy` refuses (P3009).
    pub failed: Vec<String>,
    pub has_migrations_table: bool,
    /// Directories with no finished row (`databaseIsBehind`).
    pub unapplied: Vec<String>,
    /// Rows with no directory (`migrationsDirectoryIsBehind`).
    pub unpersisted: Vec<String>,
    /// `history.diagnostic` when the history is not in step (`databaseIsBehind`,
    /// `migrationsDirectoryIsBehind`, `historiesDiverge`), else `None`.
    pub diagnostic: Option<String>,
    /// `prisma migrate status`'s exit code (1 when something is pending or failed).
    pub status_code: Option<i32>,
    /// The whole run, for failure messages.
    pub output: String,
}

impl Diagnosis {
    /// Everything applied, nothing edited, failed, missing or extra, and the table exists.
    pub fn is_clean(&self) -> bool {
        self.has_migrations_table
            && self.edited.is_empty()
            && self.failed.is_empty()
            && self.unapplied.is_empty()
            && self.unpersisted.is_empty()
            && self.diagnostic.is_none()
            && self.status_code == Some(0)
    }

    /// Asserts `is_clean`, printing the whole verdict otherwise.
    #[track_caller]
    pub fn expect_clean(&self) {
        assert!(
            self.is_clean(),
            "Prisma's engine does not see a clean history: {self:#?}"
        );
    }
}

/// `DEBUG=prisma:migrate:status prisma migrate status`, and the engine's `diagnoseResult`
/// from its debug output. The debug line holds a JSON object whose `diagnoseResult` is itself
/// a JSON document in a string:
/// `{"editedMigrationNames": [...], "failedMigrationNames": [...], "hasMigrationsTable": true,
/// "history": null | {"diagnostic": "databaseIsBehind", "unappliedMigrationNames": [...]} |
/// {"diagnostic": "migrationsDirectoryIsBehind", "unpersistedMigrationNames": [...]}}`.
pub fn prisma_diagnose(project_dir: &Path, url: &str) -> Diagnosis {
    let mut cmd = prisma_command(project_dir, url, &["migrate", "status"]);
    cmd.env("DEBUG", "prisma:migrate:status");
    let ran = run(&mut cmd);
    let all = ran.all_output();
    let key = "\"diagnoseResult\":";
    let at = all.find(key).unwrap_or_else(|| {
        panic!(
            "no diagnoseResult in Prisma's debug output\n{}",
            ran.describe()
        )
    });
    let rest = all[at + key.len()..].trim_start();
    let inner: String = serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("diagnoseResult is not a JSON string\n{}", ran.describe()));
    let v: serde_json::Value = serde_json::from_str(&inner)
        .unwrap_or_else(|e| panic!("diagnoseResult is not JSON ({e}): {inner}"));
    let names = |v: &serde_json::Value, key: &str| -> Vec<String> {
        v.get(key)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let history = v.get("history").filter(|h| !h.is_null());
    Diagnosis {
        edited: names(&v, "editedMigrationNames"),
        failed: names(&v, "failedMigrationNames"),
        has_migrations_table: v
            .get("hasMigrationsTable")
            .and_then(|b| b.as_bool())
            .unwrap_or(false),
        unapplied: history
            .map(|h| names(h, "unappliedMigrationNames"))
            .unwrap_or_default(),
        unpersisted: history
            .map(|h| names(h, "unpersistedMigrationNames"))
            .unwrap_or_default(),
        diagnostic: history.and_then(|h| h.get("diagnostic")?.as_str().map(str::to_string)),
        status_code: ran.code(),
        output: ran.describe(),
    }
}

/// Writes Prisma migrations into `project_dir/prisma/migrations`: each `(directory name, SQL)`
/// becomes `<name>/migration.sql`; `provider` goes into `migration_lock.toml` as Prisma
/// writes it.
pub fn write_prisma_migrations(project_dir: &Path, provider: &str, migrations: &[(&str, &str)]) {
    let dir = prisma_migrations(project_dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("migration_lock.toml"),
        format!(
            "# Please do not edit this file manually\n# It should be added in your version-control \
             system (e.g., Git)\nprovider = \"{provider}\"\n"
        ),
    )
    .unwrap();
    for (name, sql) in migrations {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("migration.sql"), sql).unwrap();
    }
}

//! Rule: `MIGRATION_DATABASE_URL` (DDL credentials) exists for usher alone: it is used for
//! the migrations, then removed — with its `_FILE` — from the app's environment and from the
//! environment of the supervisor that stays beside the app in init mode (whose
//! `/proc/PID/environ` anyone with the same uid, or root, can read). `DATABASE_URL` stays.

mod common;

use common::live::{Live, require_pid_namespaces, usher_in_pid_namespace};
use common::{TempDir, run, usher};

/// Prints what the app sees and what its parent's (usher's, in init mode) environ holds.
const SHOW: &str = r#"env | grep -q '^MIGRATION_DATABASE_URL' && echo app-has-it || echo app-clean
env | grep -q '^DATABASE_URL=' && echo app-has-database-url
tr '\0' '\n' < /proc/$PPID/environ | grep -q '^MIGRATION_DATABASE_URL' && echo parent-has-it || echo parent-clean"#;

struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempDir::new("migration-url");
        std::fs::create_dir(dir.join("migrations")).unwrap();
        std::fs::write(
            dir.join("migrations/1_create.sql"),
            "CREATE TABLE t (id INT);\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("ddl-url"),
            format!("sqlite://{}\n", dir.join("app.db").display()),
        )
        .unwrap();
        Setup { dir }
    }

    /// Both ways of giving the migration URL: inline, and as a root-only file.
    fn variants(&self) -> [(&'static str, String); 2] {
        [
            (
                "MIGRATION_DATABASE_URL",
                format!("sqlite://{}", self.dir.join("app.db").display()),
            ),
            (
                "MIGRATION_DATABASE_URL_FILE",
                self.dir.join("ddl-url").display().to_string(),
            ),
        ]
    }

    fn configure(&self, cmd: &mut std::process::Command, var: &str, value: &str) {
        cmd.env(var, value)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", self.dir.join("app.db").display()),
            )
            .arg("--migrations")
            .arg(self.dir.join("migrations"));
    }
}

#[track_caller]
fn expect_clean(stdout: &str, describe: &str) {
    assert!(stdout.contains("app-clean"), "{describe}");
    assert!(stdout.contains("parent-clean"), "{describe}");
    assert!(stdout.contains("app-has-database-url"), "{describe}");
}

#[test]
fn exec_mode_hands_the_app_no_migration_url() {
    let setup = Setup::new();
    for (var, value) in setup.variants() {
        let mut cmd = usher();
        setup.configure(&mut cmd, var, &value);
        let out = run(cmd.args(["--init", "never", "--", "sh", "-c", SHOW]));
        out.expect_code(0);
        expect_clean(&out.stdout(), &out.describe());
    }
}

#[test]
fn init_mode_keeps_it_from_the_app_and_from_the_supervisor() {
    let setup = Setup::new();
    for (var, value) in setup.variants() {
        let mut cmd = usher();
        setup.configure(&mut cmd, var, &value);
        let out = run(cmd.args(["--init", "always", "--", "sh", "-c", SHOW]));
        out.expect_code(0);
        expect_clean(&out.stdout(), &out.describe());
    }
}

#[test]
fn as_pid_1_neither_the_app_nor_the_init_holds_it() {
    if !require_pid_namespaces() {
        return;
    }
    let setup = Setup::new();
    for (var, value) in setup.variants() {
        let mut cmd = usher_in_pid_namespace();
        setup.configure(&mut cmd, var, &value);
        // In the namespace, the app's parent is PID 1: the re-executed usher supervisor.
        let script = format!("test $PPID = 1 && echo parent-is-pid-1\n{SHOW}");
        let mut live = Live::start(cmd.args(["--", "sh", "-c", &script]));
        live.expect_code(0);
        assert!(
            live.stdout().contains("parent-is-pid-1"),
            "{}",
            live.describe()
        );
        expect_clean(&live.stdout(), &live.describe());
    }
}

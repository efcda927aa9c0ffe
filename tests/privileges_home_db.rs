//! Rule: after the privilege drop, usher itself acts as the target user — its own HOME is the
//! target's, not root's — so the database driver reads the target's `~/.pgpass` when
//! DATABASE_URL carries no password, as a `psql` run by that user would.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, require_tool, run, usher_path};
use std::os::unix::fs::{PermissionsExt, chown};

fn write_private(path: &std::path::Path, text: &str, uid: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(path, Some(uid), Some(uid)).unwrap();
}

#[test]
fn the_password_comes_from_the_target_user_s_pgpass() {
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    if !require_tool("unshare") {
        return;
    }
    let db = pg.create_database("pgpass");
    let dir = TempDir::new("pgpass");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The app user's home holds the right password, readable by that user only.
    let app_home = dir.join("home-app");
    std::fs::create_dir(&app_home).unwrap();
    chown(&app_home, Some(1000), Some(1000)).unwrap();
    let line = |password: &str| format!("127.0.0.1:{}:*:postgres:{password}\n", pg.port);
    write_private(&app_home.join(".pgpass"), &line(servers::PASSWORD), 1000);
    // Root's (the HOME usher starts with) holds a wrong one.
    let root_home = dir.join("home-root");
    std::fs::create_dir(&root_home).unwrap();
    write_private(&root_home.join(".pgpass"), &line("wrong-password"), 0);
    std::fs::write(
        dir.join("passwd"),
        format!(
            "root:x:0:0:root:{}:/bin/sh\napp:x:1000:1000:app:{}:/bin/sh\n",
            root_home.display(),
            app_home.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("group"), "root:x:0:\napp:x:1000:\n").unwrap();
    servers::write_migrations(
        &dir.join("migrations"),
        &[(
            "20250101000000_create_items.sql",
            "CREATE TABLE items (id INTEGER);\n",
        )],
    );

    let script = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"";
    let mut cmd = common::in_mount_namespace(script);
    cmd.arg(dir.join("passwd"))
        .arg(dir.join("group"))
        .arg(usher_path())
        .args(["--user", "app", "--", "sh", "-c", "echo app HOME=$HOME"])
        .env("HOME", &root_home)
        .env(
            "DATABASE_URL",
            format!(
                "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
                pg.port
            ),
        )
        .env("USHER_MIGRATIONS", dir.join("migrations"));
    let out = run(&mut cmd);
    out.expect_code(0)
        .expect_stdout_contains(&format!("app HOME={}", app_home.display()));
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM items").trim(), "0");
    assert!(
        !out.all_output().contains(servers::PASSWORD),
        "{}",
        out.describe()
    );
}

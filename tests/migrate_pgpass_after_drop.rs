//! Rule: after the privilege drop, the PostgreSQL password file is the dropped user's — the
//! app's `HOME/.pgpass` (or its `PGPASSFILE`) — not the one in usher's own, root's, HOME.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::os::unix::fs::{PermissionsExt, chown};

use common::TempDir;
use servers::{PASSWORD, Postgres};

const UID: u32 = 4242;

fn pgpass(path: &std::path::Path, port: u16, password: &str, owner: u32) {
    std::fs::write(path, format!("127.0.0.1:{port}:*:postgres:{password}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(path, Some(owner), Some(owner)).unwrap();
}

#[test]
fn the_dropped_users_pgpass_is_used() {
    if !common::require_root() || !common::require_tool("unshare") {
        return;
    }
    let Some(pg) = Postgres::shared() else { return };
    let db = pg.create_database("pgpass");
    let dir = TempDir::new("pgpass");
    let app_home = dir.join("app-home");
    let root_home = dir.join("root-home");
    std::fs::create_dir_all(&app_home).unwrap();
    std::fs::create_dir_all(&root_home).unwrap();
    chown(&app_home, Some(UID), Some(UID)).unwrap();
    // The right password for the app's user, a wrong one in usher's own HOME.
    pgpass(&app_home.join(".pgpass"), pg.port, PASSWORD, UID);
    pgpass(&root_home.join(".pgpass"), pg.port, "wrong-password", 0);
    let passwd = dir.join("passwd");
    let group = dir.join("group");
    let mut p = std::fs::read_to_string("/etc/passwd").unwrap();
    p.push_str(&format!(
        "app:x:{UID}:{UID}::{}:/bin/sh\n",
        app_home.display()
    ));
    std::fs::write(&passwd, p).unwrap();
    let mut g = std::fs::read_to_string("/etc/group").unwrap();
    g.push_str(&format!("app:x:{UID}:\n"));
    std::fs::write(&group, g).unwrap();
    let migrations = dir.join("migrations");
    servers::write_migrations(&migrations, &[("1_t.sql", "CREATE TABLE t (x INTEGER);\n")]);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
        pg.port
    );
    let script = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 \
                  && exec \"$@\"";
    let run = common::run(
        common::in_mount_namespace(script)
            .arg(&passwd)
            .arg(&group)
            .arg(common::usher_path())
            .args(["--user", "app", "--wait-timeout", "10s", "--", "true"])
            .env("HOME", &root_home)
            .env("DATABASE_URL", &url)
            .env("USHER_MIGRATIONS", &migrations),
    );
    run.expect_code(0);
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "1");

    // PGPASSFILE in the app's environment wins over its HOME.
    let db = pg.create_database("pgpassfile");
    let file = dir.join("app-pgpass");
    pgpass(&file, pg.port, PASSWORD, UID);
    std::fs::write(app_home.join(".pgpass"), "").unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
        pg.port
    );
    let run = common::run(
        common::in_mount_namespace(script)
            .arg(&passwd)
            .arg(&group)
            .arg(common::usher_path())
            .args(["--user", "app", "--wait-timeout", "10s", "--", "true"])
            .env("HOME", &root_home)
            .env("PGPASSFILE", &file)
            .env("DATABASE_URL", &url)
            .env("USHER_MIGRATIONS", &migrations),
    );
    run.expect_code(0);
}

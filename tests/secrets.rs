//! Rule: for each variable NAME in the file-env list (DATABASE_URL and MIGRATION_DATABASE_URL
//! always), `NAME_FILE` becomes `NAME` exactly as in the official docker-library images: both
//! set is an error naming both, an empty variable counts as unset, trailing newlines are
//! stripped, a missing file is an error naming the variable and path, `NAME_FILE` is removed,
//! and the file is read as root before the privilege drop. On any error the app never runs.

mod common;

use common::{TempDir, require_root, run, usher};
use std::os::unix::fs::PermissionsExt;

/// An app that prints NAME's value between brackets and every *_FILE variable it can see.
const SHOW: &str = "printf '[%s]\\n' \"$SECRET\"; env | grep '_FILE=' || echo no-file-vars";

#[test]
fn a_file_becomes_the_variable_and_the_file_variable_is_removed() {
    let dir = TempDir::new("secret-ok");
    let path = dir.join("secret");
    std::fs::write(&path, "s3cret\n\n").unwrap();
    let out = run(usher().env("SECRET_FILE", &path).args([
        "--file-env",
        "SECRET",
        "--",
        "sh",
        "-c",
        SHOW,
    ]));
    out.expect_code(0)
        .expect_stdout_contains("[s3cret]\nno-file-vars");
    out.expect_stderr_contains("SECRET set from its _FILE");
    assert!(
        !out.stderr().contains("s3cret"),
        "the value was logged\n{}",
        out.describe()
    );
}

#[test]
fn the_list_also_comes_from_usher_file_env() {
    let dir = TempDir::new("secret-env");
    let path = dir.join("secret");
    std::fs::write(&path, "from-file").unwrap();
    let out = run(usher()
        .env("SECRET_FILE", &path)
        .env("USHER_FILE_ENV", "OTHER,SECRET")
        .args(["--", "sh", "-c", SHOW]));
    out.expect_code(0).expect_stdout_contains("[from-file]");
}

#[test]
fn database_url_always_accepts_a_file() {
    let dir = TempDir::new("secret-db");
    let path = dir.join("url");
    std::fs::write(&path, "postgres://app:pw@db/app\n").unwrap();
    let out = run(usher()
        .env("DATABASE_URL_FILE", &path)
        .env("USHER_MIGRATE", "never")
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$DATABASE_URL\"; echo $(env | grep -c DATABASE_URL_FILE)",
        ]));
    out.expect_code(0)
        .expect_stdout_contains("postgres://app:pw@db/app\n0\n");
    assert!(!out.stderr().contains(":pw@"), "{}", out.describe());
}

#[test]
fn only_trailing_newlines_are_stripped() {
    let dir = TempDir::new("secret-nl");
    let path = dir.join("secret");
    std::fs::write(&path, " line1\nline2 \n\n\n").unwrap();
    let out = run(usher().env("SECRET_FILE", &path).args([
        "--file-env",
        "SECRET",
        "--",
        "sh",
        "-c",
        "printf '[%s]' \"$SECRET\"",
    ]));
    out.expect_code(0);
    assert_eq!(out.stdout(), "[ line1\nline2 ]", "\n{}", out.describe());
}

#[test]
fn both_set_is_an_error_naming_both_and_the_app_does_not_run() {
    let dir = TempDir::new("secret-both");
    let path = dir.join("secret");
    std::fs::write(&path, "x").unwrap();
    let marker = dir.join("ran");
    let out = run(usher()
        .env("SECRET", "inline")
        .env("SECRET_FILE", &path)
        .args(["--file-env", "SECRET", "--", "touch"])
        .arg(&marker));
    out.expect_code(78)
        .expect_stderr_contains("both SECRET and SECRET_FILE are set");
    assert!(!marker.exists(), "the app ran");
}

#[test]
fn empty_variables_count_as_unset() {
    let dir = TempDir::new("secret-empty");
    let path = dir.join("secret");
    std::fs::write(&path, "from-file").unwrap();
    // Empty NAME: the file is used.
    let out = run(usher().env("SECRET", "").env("SECRET_FILE", &path).args([
        "--file-env",
        "SECRET",
        "--",
        "sh",
        "-c",
        SHOW,
    ]));
    out.expect_code(0).expect_stdout_contains("[from-file]");
    // Empty NAME_FILE: NAME is kept, NAME_FILE removed.
    let out = run(usher()
        .env("SECRET", "inline")
        .env("SECRET_FILE", "")
        .args(["--file-env", "SECRET", "--", "sh", "-c", SHOW]));
    out.expect_code(0)
        .expect_stdout_contains("[inline]\nno-file-vars");
}

#[test]
fn a_missing_file_names_the_variable_and_the_path() {
    let dir = TempDir::new("secret-missing");
    let marker = dir.join("ran");
    let out = run(usher()
        .env("SECRET_FILE", "/run/secrets/nope")
        .args(["--file-env", "SECRET", "--", "touch"])
        .arg(&marker));
    out.expect_code(78)
        .expect_stderr_contains("SECRET_FILE=/run/secrets/nope")
        .expect_stderr_contains("mounted");
    assert!(!marker.exists(), "the app ran");
}

#[test]
fn a_root_only_secret_is_read_before_the_drop() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("secret-root");
    let path = dir.join("secret");
    std::fs::write(&path, "root-only").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let out = run(usher()
        .env("SECRET_FILE", &path)
        .args(["--file-env", "SECRET", "--user", "nobody", "--", "sh", "-c"])
        .arg(format!(
            "printf '[%s]' \"$SECRET\"; cat {} 2>/dev/null && echo readable-by-app || echo not-readable",
            path.display()
        )));
    out.expect_code(0)
        .expect_stdout_contains("[root-only]not-readable");
}

#[test]
fn names_outside_the_list_are_left_alone() {
    let out = run(usher().env("OTHER_FILE", "/nonexistent").args([
        "--",
        "sh",
        "-c",
        "echo \"$OTHER_FILE\"",
    ]));
    out.expect_code(0).expect_stdout_contains("/nonexistent");
}

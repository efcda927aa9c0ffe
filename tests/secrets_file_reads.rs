//! Rule: reading a `NAME_FILE` can neither hang start-up nor run away: a FIFO no one writes to
//! still lets TERM/INT/QUIT stop usher within a second (exit 128+N, the app never starts); a
//! file larger than 64 KiB (`/dev/urandom`, a log file named by mistake) is an error naming
//! the variable and the file (exit 78); and a database URL file saved with CRLF line endings
//! is read without its trailing `\r` (other variables keep docker-library's rule: only
//! trailing newlines are stripped).

mod common;

use std::time::{Duration, Instant};

use common::live::{Live, send};
use common::{TempDir, run, usher};
use nix::sys::signal::Signal;

fn fifo(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.join("fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    path
}

#[test]
fn a_fifo_without_a_writer_still_stops_on_term_int_and_quit() {
    for (signal, code) in [
        (Signal::SIGTERM, 143),
        (Signal::SIGINT, 130),
        (Signal::SIGQUIT, 131),
    ] {
        let dir = TempDir::new("fifo");
        let path = fifo(&dir);
        let mut live = Live::start(usher().env("API_KEY_FILE", &path).args([
            "--file-env",
            "API_KEY",
            "--",
            "echo",
            "app started",
        ]));
        // Let usher reach the read (it prints nothing before it), then stop it.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            live.exit_within(Duration::ZERO).is_none(),
            "usher did not wait for the FIFO\n{}",
            live.describe()
        );
        let sent = Instant::now();
        send(live.pid(), signal);
        let status = live.exit_within(Duration::from_secs(1));
        assert!(
            status.is_some(),
            "still running 1 s after {signal}\n{}",
            live.describe()
        );
        assert!(sent.elapsed() < Duration::from_secs(1));
        live.expect_code(code);
        assert!(
            !live.stdout().contains("app started"),
            "{}",
            live.describe()
        );
        assert!(
            live.stderr().contains("API_KEY_FILE"),
            "{}",
            live.describe()
        );
    }
}

#[test]
fn a_fifo_with_a_writer_is_read() {
    let dir = TempDir::new("fifo-writer");
    let path = fifo(&dir);
    let mut live = Live::start(usher().env("API_KEY_FILE", &path).args([
        "--file-env",
        "API_KEY",
        "--",
        "sh",
        "-c",
        "echo \"[$API_KEY]\"",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&path, "from-the-pipe\n").unwrap();
    live.expect_code(0);
    assert!(
        live.stdout().contains("[from-the-pipe]"),
        "{}",
        live.describe()
    );
}

#[test]
fn an_endless_or_huge_file_is_an_error_naming_the_variable_and_the_file() {
    let dir = TempDir::new("huge");
    let big = dir.join("big");
    std::fs::write(&big, vec![b'x'; 64 * 1024 + 1]).unwrap();
    for (var, path) in [
        ("DATABASE_URL_FILE", std::path::Path::new("/dev/urandom")),
        ("API_KEY_FILE", std::path::Path::new("/dev/zero")),
        ("API_KEY_FILE", big.as_path()),
    ] {
        let started = Instant::now();
        let out = run(usher().env(var, path).args([
            "--file-env",
            "API_KEY",
            "--",
            "echo",
            "app started",
        ]));
        out.expect_code(78)
            .expect_stderr_contains(&format!("{var}={}", path.display()))
            .expect_stderr_contains("more than 64 KiB");
        assert!(!out.stdout().contains("app started"), "{}", out.describe());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            out.describe()
        );
    }
    // Exactly 64 KiB is still a secret.
    std::fs::write(&big, vec![b'x'; 64 * 1024]).unwrap();
    run(usher()
        .env("API_KEY_FILE", &big)
        .args(["--file-env", "API_KEY", "--", "true"]))
    .expect_code(0);
}

#[test]
fn a_crlf_database_url_file_loses_its_trailing_whitespace() {
    let dir = TempDir::new("crlf");
    let migrations = dir.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_create.sql"),
        "CREATE TABLE crlf (id INT);\n",
    )
    .unwrap();
    let db = dir.join("app.db");
    let url_file = dir.join("url");
    std::fs::write(&url_file, format!("sqlite://{}\r\n", db.display())).unwrap();
    let key_file = dir.join("key");
    std::fs::write(&key_file, "key \r\n\n").unwrap();
    let out = run(usher()
        .env("DATABASE_URL_FILE", &url_file)
        .env("API_KEY_FILE", &key_file)
        .args(["--file-env", "API_KEY", "--migrations"])
        .arg(&migrations)
        .args([
            "--",
            "sh",
            "-c",
            "printf '[%s]' \"$DATABASE_URL\" | od -c | head -3; printf '<%s>' \"$API_KEY\" | od -c",
        ]));
    out.expect_code(0);
    assert!(db.is_file(), "{}", out.describe());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains('\r')),
        "{names:?}\n{}",
        out.describe()
    );
    // DATABASE_URL ends in "db]", API_KEY keeps its trailing " \r".
    assert!(out.stdout().contains("d   b   ]"), "{}", out.describe());
    assert!(
        out.stdout().contains("y      \\r   >"),
        "{}",
        out.describe()
    );
}

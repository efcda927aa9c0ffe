//! Scripts that need each server's own lexing apply as written, in a transaction and with
//! `-- no-transaction` (where usher sends one statement at a time, so every statement
//! boundary it finds must be the server's): PostgreSQL `E'…'` strings, `$` in identifiers,
//! `$1` in function bodies, nested comments, `BEGIN ATOMIC`; MySQL `"…\"…"` strings, `#` and
//! `-- ` comments anywhere, `/*! */`, stored programs with `CASE … END CASE`, `IF … END IF`,
//! loops; the script's own escape settings (PostgreSQL `standard_conforming_strings` off and
//! on again, MySQL `NO_BACKSLASH_ESCAPES` in and out of `sql_mode`); SQLite `[ident]`,
//! triggers with CASE. A MySQL `DELIMITER` line is refused before
//! anything runs (exit 66), leaving no mark.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{Run, TempDir, run, usher};
use servers::{Target, expect_failure};

const TABLE: &str = "_sqlx_migrations";

const POSTGRES: &str = r#"CREATE TABLE notes (id int PRIMARY KEY, body text, a$b int);
INSERT INTO notes VALUES (1, E'it\'s; here', 1);
INSERT INTO notes VALUES (2, 'back\', 2); -- a standard string: the backslash is a character
/* outer /* nested; */ still a comment; */
CREATE FUNCTION add1(int) RETURNS int AS 'SELECT $1 + 1; ' LANGUAGE sql;
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN x > 0 THEN x * 2 ELSE 0 END;
END;
DO $do$ BEGIN INSERT INTO notes VALUES (3, 'do; block', 3); END $do$;
INSERT INTO notes SELECT 4, body || ';', add1(twice(a$b)) FROM notes WHERE id = 1;
CREATE TABLE audit (id int);
CREATE RULE notes_audit AS ON INSERT TO notes WHERE NEW.id > 100
  DO ALSO (INSERT INTO audit VALUES (NEW.id); INSERT INTO audit VALUES (-NEW.id));
INSERT INTO notes VALUES (101, 'ruled', (SELECT count(*) FROM audit));
SET standard_conforming_strings = off;
INSERT INTO notes VALUES (5, 'a\';b', 5);
SET standard_conforming_strings TO 'on';
INSERT INTO notes VALUES (6, 'c\', 6);
"#;

const MYSQL: &str = r#"CREATE TABLE notes (
  id INT PRIMARY KEY, # the key; first
  body VARCHAR(100),
  a$b INT
);
INSERT INTO notes VALUES (1, "say \"hi\"; bye", 1); -- a comment; here
INSERT INTO notes VALUES (2, 'it\'s; fine', 5--1);
/*!40101 SET @unused = 1 */;
CREATE PROCEDURE fill(n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  lbl: LOOP
    SET i = i + 1;
    IF i > n THEN LEAVE lbl; END IF;
  END LOOP lbl;
  CASE n
    WHEN 1 THEN INSERT INTO notes VALUES (10, 'one', 1);
    ELSE INSERT INTO notes VALUES (10, 'other', n);
  END CASE;
  WHILE i < 20 DO SET i = i + 1; END WHILE;
  REPEAT SET i = i + 1; UNTIL i > 25 END REPEAT;
  INSERT INTO notes VALUES (11, CASE WHEN i > 25 THEN IF(i > 0, 'done', 'no') ELSE 'not' END, i);
END;
CALL fill(3);
CREATE TRIGGER notes_bi BEFORE INSERT ON notes FOR EACH ROW
  IF NEW.body IS NULL THEN SET NEW.body = 'default'; END IF;
INSERT INTO notes (id, a$b) VALUES (12, 0);
CREATE FUNCTION label(x INT) RETURNS VARCHAR(10) CHARSET utf8mb4 DETERMINISTIC
  IF x > 5 THEN RETURN 'big'; ELSE RETURN 'small'; END IF;
INSERT INTO notes VALUES (13, label(9), 13);
SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';
INSERT INTO notes VALUES (14, 'c\', 14);
SET sql_mode = DEFAULT;
INSERT INTO notes VALUES (15, 'e\';x', 15);
"#;

const SQLITE: &str = r#"CREATE TABLE [my;table] (id INTEGER PRIMARY KEY, "body;" TEXT, `n;` INTEGER);
INSERT INTO [my;table] VALUES (1, 'it''s; ok', 1); -- a comment;
/* a comment; */
CREATE TRIGGER trg AFTER INSERT ON [my;table]
BEGIN
  UPDATE [my;table] SET `n;` = CASE WHEN NEW.id > 1 THEN 2 ELSE 3 END WHERE id = NEW.id;
END;
INSERT INTO [my;table] (id, "body;") VALUES (2, 'x');
"#;

fn migrate(t: &Target, dir: &std::path::Path) -> Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .args(["--", "echo", "app-started"]))
}

/// The script and what the database holds after it.
fn case(t: &Target) -> (&'static str, &'static str, &'static str) {
    match t {
        Target::Postgres(..) => (
            POSTGRES,
            "SELECT id || ':' || body || ':' || a$b FROM notes ORDER BY id",
            "1:it's; here:1\n2:back\\:2\n3:do; block:3\n4:it's; here;:3\n5:a';b:5\n6:c\\:6\n101:ruled:0",
        ),
        Target::MariaDb(..) => (
            MYSQL,
            "SELECT CONCAT(id, ':', body, ':', a$b) FROM notes ORDER BY id",
            "1:say \"hi\"; bye:1\n2:it's; fine:6\n10:other:3\n11:done:26\n12:default:0\n13:big:13\n\
             14:c\\:14\n15:e';x:15",
        ),
        Target::Sqlite(..) => (
            SQLITE,
            "SELECT id || ':' || \"body;\" || ':' || `n;` FROM [my;table] ORDER BY id",
            "1:it's; ok:1\n2:x:2",
        ),
    }
}

#[test]
fn scripts_lexed_as_each_server_does_apply_in_both_modes() {
    for no_transaction in [false, true] {
        for t in Target::all("lex") {
            let (script, query, expected) = case(&t);
            let dir = TempDir::new("m");
            let marker = if no_transaction {
                "-- no-transaction\n"
            } else {
                ""
            };
            servers::write_migrations(
                dir.path(),
                &[("1_script.sql", &format!("{marker}{script}"))],
            );
            let r = migrate(&t, dir.path());
            r.expect_code(0).expect_stdout_contains("app-started");
            assert_eq!(
                t.sql(query).replace("\\\\", "\\"),
                expected,
                "{} no_transaction={no_transaction}\n{}",
                t.kind(),
                r.describe()
            );
            assert_eq!(t.versions(TABLE), [1], "{}", t.kind());
        }
    }
}

#[test]
fn delimiter_is_refused_before_anything_runs() {
    let Some(t) = Target::mariadb("delim") else {
        return;
    };
    for (name, marker) in [("2_proc.sql", ""), ("2_proc.sql", "-- no-transaction\n")] {
        let dir = TempDir::new("m");
        let script = format!(
            "{marker}CREATE TABLE before_delimiter (x INT);\nDELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\n"
        );
        servers::write_migrations(
            dir.path(),
            &[
                ("1_first.sql", "CREATE TABLE first (x INT);\n"),
                (name, &script),
            ],
        );
        let r = migrate(&t, dir.path());
        expect_failure(&r, 66);
        r.expect_stderr_contains("migration 2 (")
            .expect_stderr_contains(&format!("{name}:{}:1", 2 + marker.len().min(1)))
            .expect_stderr_contains("`DELIMITER` is a command of the mysql client");
        assert!(!r.stdout().contains("app-started"));
        assert!(!t.has_table("first"), "nothing ran\n{}", r.describe());
        assert!(!t.has_table("before_delimiter"));
        assert!(!t.has_table("usher_unfinished_migrations"));
        assert!(!t.has_table(TABLE), "nothing was created");
    }
}

//! The dbmate history format (`dbmate up`, dbmate 2.x).
//!
//! Files `{digits}_{name}.sql` holding a `-- migrate:up` section and a `-- migrate:down` one;
//! only the up part runs, outside a transaction when its mark says `transaction:false`. Table
//! `schema_migrations(version)`: one row per applied file holding its leading digits as text
//! (so `001` and `1` are different versions). No checksum, no failure flag. Every rule is from
//! dbmate's `pkg/dbmate/db.go` (`migrationFileRegexp`, `Migrate`), `pkg/dbmate/migration.go`
//! (the section parser) and `pkg/driver/{postgres,mysql,sqlite}` (table and statements).

use std::time::Duration;

use super::file_names::{self, dbmate_mark};
use super::{AppliedRow, HistoryFormat, NameMatch, Script};
use crate::db::backends::{Dialect, Stmt, Value};
use crate::db::source::{Migration, SqlFile};
use crate::db::sql::Lexing;

pub struct Dbmate;

const TABLE: &str = "schema_migrations";

impl HistoryFormat for Dbmate {
    fn name(&self) -> &'static str {
        "dbmate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn pattern(&self) -> &'static str {
        "{digits}_{name}.sql with -- migrate:up / -- migrate:down"
    }

    /// dbmate's `^(\d+).*\.sql$`: any name that starts with digits.
    fn parse_file_name(&self, file_name: &str) -> NameMatch {
        file_names::dbmate(file_name)
    }

    fn marked(&self, file: &SqlFile) -> bool {
        file.text().is_some_and(|text| {
            text.lines()
                .any(|l| dbmate_mark(l).is_some_and(|(up, _)| up))
        })
    }

    fn needs_marks(&self) -> bool {
        true
    }

    /// The up sections, with everything else blanked (newlines kept). dbmate refuses a file
    /// without `-- migrate:up` and statements before it; so does usher. `transaction:false`
    /// on an up mark runs the file outside a transaction.
    fn script(&self, sql: &str) -> Result<Script, String> {
        let mut text = String::with_capacity(sql.len());
        let mut in_up = false;
        let mut seen_up = false;
        let mut no_transaction = false;
        for line in sql.split_inclusive('\n') {
            let bare = line.trim_end_matches(['\n', '\r']);
            let bare = bare.strip_prefix('\u{feff}').unwrap_or(bare);
            if let Some((up, options)) = dbmate_mark(bare) {
                in_up = up;
                seen_up |= up;
                if up && options.split_whitespace().any(|o| o == "transaction:false") {
                    no_transaction = true;
                }
            } else if in_up {
                text.push_str(line);
                continue;
            } else if !seen_up {
                let t = bare.trim();
                if !t.is_empty() && !t.starts_with("--") {
                    return Err(
                        "it has statements before its `-- migrate:up` line, which dbmate \
                                refuses; move them into the up section"
                            .to_string(),
                    );
                }
            }
            if line.ends_with('\n') {
                text.push('\n');
            }
        }
        if !seen_up {
            return Err(
                "it has no `-- migrate:up` line, which dbmate requires; add one above \
                        the statements to apply"
                    .to_string(),
            );
        }
        Ok(Script {
            text: Some(text),
            no_transaction,
        })
    }

    fn checksum(&self, _version: i64, _name: &str, _sql: &str) -> Option<Vec<u8>> {
        None
    }

    /// `CreateMigrationsTable` of each dbmate driver.
    fn create_table(&self, d: &Dialect) -> Vec<String> {
        let version = match d.lexing {
            Lexing::Postgres => "varchar",
            _ => "varchar(128)",
        };
        vec![format!(
            "create table if not exists {TABLE} (version {version} primary key)"
        )]
    }

    fn select_rows(&self, _d: &Dialect) -> Stmt {
        Stmt::new(format!("select version from {TABLE}"), vec![])
    }

    /// Versions are text; a row whose text is not a number usher can order is refused.
    fn decode_rows(
        &self,
        rows: Vec<Vec<Value>>,
        _files: &[Migration],
    ) -> Result<Vec<AppliedRow>, String> {
        let mut out = rows
            .into_iter()
            .map(|row| {
                let text = row.first().and_then(Value::as_text).unwrap_or_default();
                let version = text.parse::<i64>().map_err(|_| {
                    format!("{TABLE} has a version usher cannot read as a number: {text:?}")
                })?;
                Ok(AppliedRow {
                    version,
                    name: text,
                    checksum: None,
                    applied_at: None,
                    failed: false,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        out.sort_by_key(|r| r.version);
        Ok(out)
    }

    /// `InsertMigration`: the file's leading digits, as written.
    fn record_applied(&self, d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        vec![Stmt::new(
            format!("insert into {TABLE} (version) values ({})", d.param(1)),
            vec![Value::Text(digits(m))],
        )]
    }

    /// `DeleteMigration`.
    fn forget(&self, d: &Dialect, row: &AppliedRow, _files: &[Migration]) -> Vec<Stmt> {
        vec![Stmt::new(
            format!("delete from {TABLE} where version = {}", d.param(1)),
            vec![Value::Text(row.name.clone())],
        )]
    }
}

/// The leading digits of the migration's file name: dbmate's version text.
fn digits(m: &Migration) -> String {
    let file = m.file.rsplit('/').next().unwrap_or(&m.file);
    file.chars().take_while(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sql: &str) -> Result<Script, String> {
        Dbmate.script(sql)
    }

    #[test]
    fn only_the_up_section_runs_and_lines_stay_in_place() {
        let sql = "-- a comment\n-- migrate:up\ncreate table a (x int);\n\n-- migrate:down\ndrop table a;\n";
        let s = run(sql).unwrap();
        assert_eq!(
            s.text.as_deref(),
            Some("\n\ncreate table a (x int);\n\n\n\n")
        );
        assert!(!s.no_transaction);
        assert_eq!(s.text.unwrap().lines().count(), sql.lines().count());
    }

    #[test]
    fn transaction_false_and_crlf() {
        let s = run("-- migrate:up transaction:false\r\ncreate index concurrently i on a (x);\r\n-- migrate:down\r\ndrop index i;\r\n").unwrap();
        assert!(s.no_transaction);
        assert_eq!(
            s.text.as_deref(),
            Some("\ncreate index concurrently i on a (x);\r\n\n\n")
        );
    }

    #[test]
    fn refusals_name_the_rule() {
        assert!(
            run("create table a (x int);\n")
                .unwrap_err()
                .contains("-- migrate:up")
        );
        assert!(
            run("create table a (x int);\n-- migrate:up\nselect 1;\n")
                .unwrap_err()
                .contains("before")
        );
        // `migrate:upgrade` is no mark.
        assert!(run("-- migrate:upgrade\nselect 1;\n").is_err());
    }

    #[test]
    fn versions_are_the_leading_digits_as_written() {
        let m = Migration::for_tests(1, "x", "", &Dbmate);
        assert_eq!(
            digits(&Migration {
                file: "db/migrations/001_init.sql".into(),
                ..m
            }),
            "001"
        );
        let rows = vec![
            vec![Value::Text("20240102".into())],
            vec![Value::Text("001".into())],
        ];
        let decoded = Dbmate.decode_rows(rows, &[]).unwrap();
        assert_eq!(decoded[0].version, 1);
        assert_eq!(decoded[0].name, "001");
        assert!(
            Dbmate
                .decode_rows(vec![vec![Value::Text("abc".into())]], &[])
                .is_err()
        );
    }
}

//! Where migrations come from: the `.sql` files of the migration directory, named, read as
//! UTF-8, checksummed and ordered by version, for one history format.

use std::path::{Path, PathBuf};

use super::format::{HistoryFormat, NameMatch};
use super::sql;
use crate::exit::{Error, Kind, Result};

/// A `.sql` file in the migration directory, before it is interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    pub path: PathBuf,
    /// The path for messages: the directory as configured, joined with the file.
    pub rel: String,
    pub file_name: String,
    /// Directly in the directory (not in a subdirectory).
    pub top_level: bool,
}

/// One migration file, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The name the format records (refinery's name, sqlx's description).
    pub name: String,
    /// The file, for messages.
    pub file: String,
    /// The file's text as read (checksums are over it); see `executable_sql`.
    pub sql: String,
    pub checksum: Option<Vec<u8>>,
    /// First line `-- no-transaction` (sqlx's marker, honoured for every format).
    pub no_transaction: bool,
    /// May run after newer migrations without counting as out of order.
    pub any_order: bool,
}

/// How a stored checksum relates to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMatch {
    Exact,
    /// Equal once line endings (CRLF/LF) or a byte-order mark are ignored.
    Equivalent,
    Different,
}

impl Migration {
    /// The text sent to the database: without a leading byte-order mark, which no server
    /// accepts as SQL (the checksum still covers it, as the tools compute it).
    pub fn executable_sql(&self) -> &str {
        self.sql.strip_prefix('\u{feff}').unwrap_or(&self.sql)
    }

    /// Compares a stored checksum with this file's, accepting files that differ only by
    /// CRLF/LF line endings or a BOM (editors and git's autocrlf change these; Prisma accepts
    /// the same).
    pub fn compare(&self, format: &dyn HistoryFormat, stored: Option<&[u8]>) -> ChecksumMatch {
        let (Some(stored), Some(ours)) = (stored, self.checksum.as_deref()) else {
            return ChecksumMatch::Exact;
        };
        if stored == ours {
            return ChecksumMatch::Exact;
        }
        let body = self.executable_sql();
        let lf = body.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        let equivalent = [
            lf.clone(),
            crlf.clone(),
            format!("\u{feff}{lf}"),
            format!("\u{feff}{crlf}"),
        ]
        .iter()
        .chain(std::iter::once(&body.to_string()))
        .any(|variant| {
            format
                .checksum(self.version, &self.name, variant)
                .is_some_and(|c| c == stored)
        });
        if equivalent {
            ChecksumMatch::Equivalent
        } else {
            ChecksumMatch::Different
        }
    }

    #[cfg(test)]
    pub fn for_tests(version: i64, name: &str, sql: &str, format: &dyn HistoryFormat) -> Migration {
        Migration {
            version,
            name: name.to_string(),
            file: format!("migrations/{version}_{name}.sql"),
            sql: sql.to_string(),
            checksum: format.checksum(version, name, sql),
            no_transaction: false,
            any_order: false,
        }
    }
}

/// The `.sql` files under `dir`, sorted by path. Hidden files are skipped.
pub fn list(dir: &Path) -> Result<Vec<SqlFile>> {
    let mut out = Vec::new();
    walk(dir, dir, true, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, top_level: bool, out: &mut Vec<SqlFile>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::new(
            Kind::MigrationsInvalid,
            format!("cannot read the migration directory {}: {e}", dir.display()),
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            Error::new(
                Kind::MigrationsInvalid,
                format!("cannot read the migration directory {}: {e}", dir.display()),
            )
        })?;
        let path = entry.path();
        let raw_name = entry.file_name();
        if raw_name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        // Follows symlinks: images often link a shared migration directory.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(root, &path, false, out)?;
            continue;
        }
        if !meta.is_file() || !raw_name.as_encoded_bytes().ends_with(b".sql") {
            continue;
        }
        let file_name = raw_name.to_str().ok_or_else(|| {
            Error::new(
                Kind::MigrationsInvalid,
                format!(
                    "the migration file name {} is not valid UTF-8; rename it",
                    path.display()
                ),
            )
        })?;
        out.push(SqlFile {
            rel: path.display().to_string(),
            file_name: file_name.to_string(),
            top_level,
            path: path.clone(),
        });
        let _ = root;
    }
    Ok(())
}

/// Reads the migrations of `format` from `files`, ordered by version.
///
/// Refuses, naming the file and the fix: a `.sql` name the format does not accept, a file that
/// is not UTF-8, two files with one version. Files in subdirectories are used only by formats
/// whose tool reads them (refinery).
pub fn load(files: &[SqlFile], format: &dyn HistoryFormat) -> Result<Vec<Migration>> {
    let mut migrations: Vec<Migration> = Vec::new();
    for file in files {
        if !file.top_level && !format.recursive() {
            tracing::debug!(step = "migrate", file = %file.rel, "in a subdirectory; {} does not read those", format.name());
            continue;
        }
        let (version, name, any_order) = match format.parse_file_name(&file.file_name) {
            NameMatch::Migration {
                version,
                name,
                any_order,
            } => (version, name, any_order),
            NameMatch::Ignored => continue,
            NameMatch::Malformed(why) => {
                return Err(invalid(format!(
                    "bad migration file name {}: {why}; rename it ({} format: {})",
                    file.rel,
                    format.name(),
                    format.pattern()
                )));
            }
            NameMatch::NotMine => {
                return Err(invalid(format!(
                    "bad migration file name {}: not a {} migration name ({}); rename it, or \
                     move it out of the migration directory",
                    file.rel,
                    format.name(),
                    format.pattern()
                )));
            }
        };
        let bytes = std::fs::read(&file.path)
            .map_err(|e| invalid(format!("cannot read the migration file {}: {e}", file.rel)))?;
        let sql = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = sql::line_col(&prefix, valid);
            invalid(format!(
                "the migration file {} is not valid UTF-8 (invalid byte at line {line}, column \
                 {column}); save it as UTF-8",
                file.rel
            ))
        })?;
        let no_transaction = sql
            .strip_prefix('\u{feff}')
            .unwrap_or(&sql)
            .starts_with("-- no-transaction");
        migrations.push(Migration {
            version,
            checksum: format.checksum(version, &name, &sql),
            name,
            file: file.rel.clone(),
            sql,
            no_transaction,
            any_order,
        });
    }
    migrations.sort_by_key(|m| m.version);
    if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(invalid(format!(
            "duplicate migration version {}: {} and {}; give one of them a new version",
            pair[0].version, pair[0].file, pair[1].file
        )));
    }
    Ok(migrations)
}

fn invalid(message: String) -> Error {
    Error::new(Kind::MigrationsInvalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::refinery::Refinery;
    use crate::db::sqlx_format::Sqlx;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("usher-src-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        fn put(&self, name: &str, content: &[u8]) -> &Self {
            let p = self.0.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
            self
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn loads_in_version_order_and_skips_other_files() {
        let d = Dir::new("order");
        d.put("10_ten.sql", b"SELECT 10;")
            .put("2_two.up.sql", b"-- no-transaction\nSELECT 2;")
            .put("2_two.down.sql", b"SELECT -2;")
            .put("README.md", b"docs")
            .put(".hidden.sql", b"x")
            .put("sub/3_three.sql", b"SELECT 3;");
        let files = list(&d.0).unwrap();
        let m = load(&files, &Sqlx).unwrap();
        let versions: Vec<i64> = m.iter().map(|m| m.version).collect();
        assert_eq!(versions, [2, 10]);
        assert!(m[0].no_transaction);
        assert_eq!(m[0].name, "two");
        assert!(!m[1].no_transaction);
    }

    #[test]
    fn refinery_reads_subdirectories() {
        let d = Dir::new("sub");
        d.put("V1__a.sql", b"SELECT 1;")
            .put("more/V2__b.sql", b"SELECT 2;");
        let m = load(&list(&d.0).unwrap(), &Refinery).unwrap();
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn refuses_duplicates_bad_names_and_non_utf8() {
        let d = Dir::new("dup");
        d.put("1_a.sql", b"").put("1_b.sql", b"");
        let e = load(&list(&d.0).unwrap(), &Sqlx).unwrap_err();
        assert_eq!(e.kind, Kind::MigrationsInvalid);
        assert!(e.message.contains("duplicate migration version 1"), "{e}");
        assert!(
            e.message.contains("1_a.sql") && e.message.contains("1_b.sql"),
            "{e}"
        );

        let d = Dir::new("bad");
        d.put("1_a.sql", b"").put("create_users.sql", b"");
        let e = load(&list(&d.0).unwrap(), &Sqlx).unwrap_err();
        assert!(e.message.contains("create_users.sql"), "{e}");
        assert!(e.message.contains("{version}_{description}.sql"), "{e}");

        let d = Dir::new("utf8");
        d.put("1_a.sql", b"SELECT 1;\nSELECT '\xff';");
        let e = load(&list(&d.0).unwrap(), &Sqlx).unwrap_err();
        assert!(
            e.message
                .contains("not valid UTF-8 (invalid byte at line 2, column 9)"),
            "{e}"
        );
    }

    #[test]
    fn line_ending_and_bom_changes_are_equivalent() {
        for format in [&Sqlx as &dyn HistoryFormat, &Refinery] {
            let lf = Migration::for_tests(1, "a", "SELECT 1;\nSELECT 2;\n", format);
            let crlf = Migration::for_tests(1, "a", "\u{feff}SELECT 1;\r\nSELECT 2;\r\n", format);
            let edited = Migration::for_tests(1, "a", "SELECT 1;\nSELECT 3;\n", format);
            let stored = format.checksum(1, "a", &lf.sql);
            let stored = stored.as_deref();
            assert_eq!(lf.compare(format, stored), ChecksumMatch::Exact);
            assert_eq!(crlf.compare(format, stored), ChecksumMatch::Equivalent);
            assert_eq!(edited.compare(format, stored), ChecksumMatch::Different);
            let back = format.checksum(1, "a", &crlf.sql);
            assert_eq!(
                lf.compare(format, back.as_deref()),
                ChecksumMatch::Equivalent
            );
            assert_eq!(crlf.executable_sql(), "SELECT 1;\r\nSELECT 2;\r\n");
        }
    }
}

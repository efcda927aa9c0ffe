//! Where migrations come from: the `.sql` files of the migration directory, named, read as
//! UTF-8, checksummed and ordered by version, for one history format.

use std::path::{Path, PathBuf};

use super::formats::{HistoryFormat, NameMatch};
use super::sql;
use crate::exit::{Error, Kind, Result};

/// A `.sql` file in the migration directory, before it is interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFile {
    pub path: PathBuf,
    /// The path for messages: the directory as configured, joined with the file.
    pub rel: String,
    pub file_name: String,
    /// How deep below the migration directory: 0 directly in it, 1 in a subdirectory of it
    /// (Prisma's `<name>/migration.sql`), and so on.
    pub depth: usize,
    /// Why this entry of a subdirectory cannot be used (the subdirectory cannot be read; a
    /// dangling or looping `.sql` symlink): an error for the formats that read
    /// subdirectories, nothing for the others. At the top level, `list` refuses at once.
    pub problem: Option<String>,
    /// The bytes `list` read (top-level files: every format may use them), so that detection
    /// and `load` do not read the file again.
    pub bytes: Option<Vec<u8>>,
}

impl SqlFile {
    /// The text `list` read, when it is UTF-8 (for formats that detect their files by marks).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes.as_deref()?).ok()
    }
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
    /// What runs, when not the whole file (`formats::Script::text`).
    pub run: Option<String>,
    pub checksum: Option<Vec<u8>>,
    /// Runs outside a transaction (`formats::Script::no_transaction`).
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
        let text = self.run.as_deref().unwrap_or(&self.sql);
        text.strip_prefix('\u{feff}').unwrap_or(text)
    }

    /// Compares a stored checksum with this file's, accepting files that differ only in line
    /// endings or a BOM (editors and git's autocrlf change these; Prisma accepts the same).
    ///
    /// Both formats' checksums are over the exact bytes, so the applied file's line endings
    /// must be guessed and each guess hashed: every line LF, every line CRLF, and — for a
    /// file applied with mixed endings and normalised since — the mixes an editor or a merge
    /// typically leaves (one line differing from the rest, the file switching style once, a
    /// block of lines in the other style), within a budget of hashing work. An arbitrary mix cannot be recognised (2^lines
    /// candidates); such a file counts as changed. Every accepted guess differs from the file
    /// only in line endings, so a real edit is never accepted.
    pub fn compare(&self, format: &dyn HistoryFormat, stored: Option<&[u8]>) -> ChecksumMatch {
        let (Some(stored), Some(ours)) = (stored, self.checksum.as_deref()) else {
            return ChecksumMatch::Exact;
        };
        if stored == ours {
            return ChecksumMatch::Exact;
        }
        let matches = |text: &str| {
            format
                .checksum(self.version, &self.name, text)
                .is_some_and(|c| c == stored)
        };
        let body = self.sql.strip_prefix('\u{feff}').unwrap_or(&self.sql);
        let bom = self.sql.starts_with('\u{feff}');
        let lf = body.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        let uniform = [body, &lf, &crlf]
            .into_iter()
            .any(|v| matches(v) || matches(&format!("\u{feff}{v}")));
        if uniform || mixed_endings_match(&lf, bom, MIXED_BUDGET, &matches) {
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
            run: None,
            no_transaction: false,
            any_order: false,
        }
    }
}

/// Bytes of text hashed at most while looking for the line endings a file was applied with
/// (`Migration::compare`): a few hundred variants of a typical migration.
const MIXED_BUDGET: usize = 32 << 20;

/// Whether some mix of LF and CRLF line endings of `lf` (every line ending LF) hashes to the
/// stored checksum: one line in the other style than the rest, then the file switching style
/// once, then a block of lines in the other style, until `budget` bytes were tried.
fn mixed_endings_match(lf: &str, bom: bool, budget: usize, matches: &dyn Fn(&str) -> bool) -> bool {
    let lines: Vec<&str> = lf.split_inclusive('\n').collect();
    let ended = lines.iter().filter(|l| l.ends_with('\n')).count();
    if ended < 2 {
        return false;
    }
    let variant = |crlf: &dyn Fn(usize) -> bool| {
        let mut v = String::with_capacity(lf.len() + ended + 3);
        if bom {
            v.push('\u{feff}');
        }
        for (i, line) in lines.iter().enumerate() {
            match line.strip_suffix('\n') {
                Some(text) if crlf(i) => {
                    v.push_str(text);
                    v.push_str("\r\n");
                }
                _ => v.push_str(line),
            }
        }
        v
    };
    let mut spent = 0;
    // (first line, number of lines) in the other style than the rest, likeliest first: one
    // line; a run to the end or from the start (one switch of style); a run inside (a pasted
    // block), shortest first.
    let singles = (0..ended).map(|i| (i, 1));
    let switches = (1..ended).flat_map(|k| [(k, ended - k), (0, k)]);
    let blocks = (2..ended.saturating_sub(1))
        .flat_map(move |len| (1..ended - len).map(move |start| (start, len)));
    let runs = singles.chain(switches).chain(blocks);
    for ((start, len), crlf_inside) in runs.flat_map(|r| [(r, true), (r, false)]) {
        if spent > budget {
            return false;
        }
        let text = variant(&|i| (start..start + len).contains(&i) == crlf_inside);
        spent += text.len();
        if matches(&text) {
            return true;
        }
    }
    false
}

/// The `.sql` files under `dir`, sorted by path. Hidden files are skipped; subdirectories
/// are walked (refinery reads them), following symlinks but never the same directory twice.
///
/// Top-level files are every format's: one that cannot be read (a dangling or looping
/// symlink, no permission) or that holds a NUL byte is refused here, before anything
/// connects. Problems inside subdirectories are recorded (`SqlFile::problem`) and refused by
/// `load` only for the formats that read subdirectories — an unreadable `lost+found` does
/// not stop sqlx's format.
pub fn list(dir: &Path) -> Result<Vec<SqlFile>> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    walk(dir, 0, &mut seen, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    for file in out.iter_mut().filter(|f| f.depth == 0) {
        file.bytes = Some(read(file)?);
    }
    Ok(out)
}

/// A file's bytes; refuses one that cannot be read or holds a NUL byte (SQLite and the
/// servers stop reading a statement at NUL — sqlx's SQLite driver then loops forever).
fn read(file: &SqlFile) -> Result<Vec<u8>> {
    if let Some(problem) = &file.problem {
        return Err(invalid(format!("{problem}; fix or remove it")));
    }
    if let Some(bytes) = &file.bytes {
        return Ok(bytes.clone());
    }
    let bytes = std::fs::read(&file.path).map_err(|e| {
        invalid(format!(
            "cannot read the migration file {}: {e}; make it readable by the user usher runs \
             as, or remove it",
            file.rel
        ))
    })?;
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let prefix = String::from_utf8_lossy(&bytes[..at]);
        let (line, column) = sql::line_col(&prefix, prefix.len());
        return Err(invalid(format!(
            "the migration file {} contains a NUL byte at byte offset {at} (line {line}, column \
             {column}); SQL text cannot hold one: remove it (was the file saved as UTF-16?)",
            file.rel
        )));
    }
    Ok(bytes)
}

fn walk(
    dir: &Path,
    depth: usize,
    seen: &mut Vec<(u64, u64)>,
    out: &mut Vec<SqlFile>,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let top_level = depth == 0;
    let unreadable = |out: &mut Vec<SqlFile>, e: std::io::Error| {
        let message = format!("cannot read the migration directory {}: {e}", dir.display());
        if top_level {
            return Err(invalid(message));
        }
        out.push(SqlFile {
            path: dir.to_path_buf(),
            rel: dir.display().to_string(),
            file_name: String::new(),
            depth,
            problem: Some(format!(
                "{message} (refinery reads subdirectories; make it readable, or move the \
                 migrations to a directory of their own)"
            )),
            bytes: None,
        });
        Ok(())
    };
    if let Ok(meta) = std::fs::metadata(dir) {
        let id = (meta.dev(), meta.ino());
        if seen.contains(&id) {
            return Ok(());
        }
        seen.push(id);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return unreadable(out, e),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return unreadable(out, e),
        };
        let path = entry.path();
        let raw_name = entry.file_name();
        if raw_name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let is_sql = raw_name.as_encoded_bytes().ends_with(b".sql");
        let rel = path.display().to_string();
        // Follows symlinks: images often link a shared migration directory.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if is_sql => {
                let problem = format!(
                    "the migration file {rel} cannot be read: {e} (a dangling or looping \
                     symbolic link?)"
                );
                if top_level {
                    return Err(invalid(format!("{problem}; fix or remove it")));
                }
                out.push(SqlFile {
                    file_name: raw_name.to_string_lossy().into_owned(),
                    rel,
                    depth,
                    path,
                    problem: Some(problem),
                    bytes: None,
                });
                continue;
            }
            Err(e) => {
                crate::log::log_step!(DEBUG, "migrate", "skipping {rel}: {e}");
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, depth + 1, seen, out)?;
            continue;
        }
        if !is_sql {
            continue;
        }
        let file_name = raw_name.to_str().ok_or_else(|| {
            invalid(format!(
                "the migration file name {rel} is not valid UTF-8; rename it"
            ))
        })?;
        let problem =
            (!meta.is_file()).then(|| format!("the migration entry {rel} is not a regular file"));
        if let (Some(problem), true) = (&problem, top_level) {
            return Err(invalid(format!("{problem}; replace or remove it")));
        }
        out.push(SqlFile {
            file_name: file_name.to_string(),
            rel,
            depth,
            path,
            problem,
            bytes: None,
        });
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
        // An unreadable subdirectory or entry matters to a format that reads there.
        if let Some(problem) = &file.problem
            && (format.recursive() || format.classify(file) != NameMatch::NotMine)
        {
            return Err(invalid(format!("{problem}; fix or remove it")));
        }
        let (version, name, any_order) = match format.classify(file) {
            NameMatch::Migration {
                version,
                name,
                any_order,
            } => (version, name, any_order),
            NameMatch::Ignored => continue,
            NameMatch::NotMine if file.depth > 0 => {
                tracing::debug!(step = "migrate", file = %file.rel, "not read by {}", format.name());
                continue;
            }
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
        if let Some(problem) = &file.problem {
            return Err(invalid(format!("{problem}; fix or remove it")));
        }
        let bytes = read(file)?;
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
        let script = format
            .script(&sql)
            .map_err(|why| invalid(format!("the migration file {}: {why}", file.rel)))?;
        migrations.push(Migration {
            version,
            checksum: format.checksum(version, &name, &sql),
            name,
            file: file.rel.clone(),
            sql,
            run: script.text,
            no_transaction: script.no_transaction,
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
    use crate::db::formats::refinery::Refinery;
    use crate::db::formats::sqlx::Sqlx;

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
    fn refuses_nul_bytes_before_connecting() {
        let d = Dir::new("nul");
        d.put("1_a.sql", b"CREATE TABLE a(x);\0");
        let e = list(&d.0).unwrap_err();
        assert_eq!(e.kind, Kind::MigrationsInvalid);
        assert!(e.message.contains("1_a.sql"), "{e}");
        assert!(
            e.message
                .contains("NUL byte at byte offset 18 (line 1, column 19)"),
            "{e}"
        );
        // In a subdirectory: refused by the format that reads it.
        let d = Dir::new("nulsub");
        d.put("V1__a.sql", b"SELECT 1;")
            .put("sub/V2__b.sql", b"SELECT\n\0 2;");
        let files = list(&d.0).unwrap();
        let e = load(&files, &Refinery).unwrap_err();
        assert!(
            e.message.contains("V2__b.sql") && e.message.contains("line 2, column 1"),
            "{e}"
        );
    }

    #[test]
    fn dangling_and_looping_symlinks_are_refused() {
        let d = Dir::new("links");
        d.put("1_a.sql", b"SELECT 1;");
        std::os::unix::fs::symlink(d.0.join("missing.sql"), d.0.join("2_b.sql")).unwrap();
        let e = list(&d.0).unwrap_err();
        assert_eq!(e.kind, Kind::MigrationsInvalid);
        assert!(
            e.message.contains("2_b.sql") && e.message.contains("symbolic link"),
            "{e}"
        );

        let d = Dir::new("loop");
        d.put("1_a.sql", b"SELECT 1;");
        std::os::unix::fs::symlink(d.0.join("2_b.sql"), d.0.join("2_b.sql")).unwrap();
        let e = list(&d.0).unwrap_err();
        assert!(e.message.contains("2_b.sql"), "{e}");

        // Inside a subdirectory (and a directory loop): only refinery reads them.
        for (tag, top, format, ok) in [
            ("subsqlx", "1_a.sql", &Sqlx as &dyn HistoryFormat, true),
            ("subref", "V1__a.sql", &Refinery, false),
        ] {
            let d = Dir::new(tag);
            d.put(top, b"SELECT 1;").put("sub/x.txt", b"");
            std::os::unix::fs::symlink(d.0.join("nope.sql"), d.0.join("sub/V2__b.sql")).unwrap();
            std::os::unix::fs::symlink(&d.0, d.0.join("sub/again")).unwrap();
            let files = list(&d.0).unwrap();
            match load(&files, format) {
                Ok(m) => assert!(ok && m.len() == 1),
                Err(e) => assert!(!ok && e.message.contains("sub/V2__b.sql"), "{e}"),
            }
        }
    }

    #[test]
    fn mixed_line_endings_applied_then_normalised_are_equivalent() {
        for format in [&Sqlx as &dyn HistoryFormat, &Refinery] {
            let lines: Vec<String> = (0..40).map(|i| format!("SELECT {i};")).collect();
            let join = |crlf: &dyn Fn(usize) -> bool| {
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("{l}{}", if crlf(i) { "\r\n" } else { "\n" }))
                    .collect::<String>()
            };
            let normalised = Migration::for_tests(1, "a", &join(&|_| false), format);
            let crlf_normalised = Migration::for_tests(1, "a", &join(&|_| true), format);
            // Applied with mixed endings: one odd line, or a switch of style half-way.
            for applied in [
                join(&|i| i == 7),
                join(&|i| i != 39),
                join(&|i| i < 20),
                join(&|i| (10..15).contains(&i)),
                join(&|i| !(3..30).contains(&i)),
            ] {
                let stored = format.checksum(1, "a", &applied);
                for now in [&normalised, &crlf_normalised] {
                    assert_eq!(
                        now.compare(format, stored.as_deref()),
                        ChecksumMatch::Equivalent
                    );
                }
            }
            // A real edit is never equivalent, whatever the endings.
            let edited = Migration::for_tests(
                1,
                "a",
                &join(&|_| false).replace("SELECT 7", "SELECT 8"),
                format,
            );
            let stored = format.checksum(1, "a", &join(&|i| i == 7));
            assert_eq!(
                edited.compare(format, stored.as_deref()),
                ChecksumMatch::Different
            );
            // Beyond what can be guessed: refused as changed (the documented limit).
            let stored = format.checksum(1, "a", &join(&|i| i % 3 == 0));
            assert_eq!(
                normalised.compare(format, stored.as_deref()),
                ChecksumMatch::Different
            );
        }
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

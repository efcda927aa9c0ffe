//! The rules: given the files and the history, what may run, and what must stop the start.
//!
//! One pure function, `plan`, decides; `status` describes. The order of the checks follows
//! sqlx's migrator: a migration left partly applied first (nothing else is trustworthy then),
//! then every applied file's checksum, then applied migrations without a file, then the order
//! of the pending ones.

use super::formats::{AppliedRow, HistoryFormat};
use super::source::{ChecksumMatch, Migration};
use crate::config::OnUnknown;
use crate::exit::{Error, Kind, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub on_unknown: OnUnknown,
    pub allow_out_of_order: bool,
}

/// What `usher migrate` will do.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan<'a> {
    /// To apply, in version order.
    pub pending: Vec<&'a Migration>,
    /// Applied migrations with no file (an older image after a newer one migrated).
    pub unknown: Vec<AppliedRow>,
    /// Applied files whose checksum differs only by line endings or a BOM.
    pub equivalent: Vec<&'a Migration>,
    /// Number of applied migrations that have their file.
    pub applied: usize,
    /// The newest applied version, files or not.
    pub newest_applied: Option<i64>,
}

/// Decides what to apply, or why nothing may be.
pub fn plan<'a>(
    files: &'a [Migration],
    history: &[AppliedRow],
    format: &dyn HistoryFormat,
    policy: Policy,
) -> Result<Plan<'a>> {
    let file_of = |version: i64| files.iter().find(|m| m.version == version);

    if let Some(row) = history.iter().find(|r| r.failed) {
        return Err(partly_applied(row, file_of(row.version), format));
    }

    let mut equivalent = Vec::new();
    let mut applied = 0;
    for row in history {
        let Some(file) = file_of(row.version) else {
            continue;
        };
        applied += 1;
        match file.compare(format, row.checksum.as_deref()) {
            ChecksumMatch::Exact => {}
            ChecksumMatch::Equivalent => equivalent.push(file),
            ChecksumMatch::Different => {
                return Err(Error::new(
                    Kind::HistoryConflict,
                    format!(
                        "{} was changed after it was applied as migration {} (its checksum \
                         differs from the one recorded in {}); restore the file as it was \
                         applied and put the change in a new migration",
                        file.file,
                        row.version,
                        format.table()
                    ),
                ));
            }
        }
    }

    let unknown: Vec<AppliedRow> = history
        .iter()
        .filter(|r| file_of(r.version).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() && policy.on_unknown == OnUnknown::Error {
        return Err(Error::new(
            Kind::HistoryConflict,
            format!(
                "the database has applied migrations with no file here: {} (an older image \
                 after a newer one migrated?); deploy an image that has them, or use \
                 --on-unknown warn (USHER_ON_UNKNOWN=warn) to start anyway",
                list_rows(&unknown)
            ),
        ));
    }

    let newest_applied = history.iter().map(|r| r.version).max();
    let pending: Vec<&Migration> = files
        .iter()
        .filter(|m| !history.iter().any(|r| r.version == m.version))
        .collect();
    if let Some(newest) = newest_applied
        && !policy.allow_out_of_order
    {
        let late: Vec<&&Migration> = pending
            .iter()
            .filter(|m| m.version < newest && !m.any_order)
            .collect();
        if !late.is_empty() {
            let names = late
                .iter()
                .map(|m| m.file.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::new(
                Kind::HistoryConflict,
                format!(
                    "out-of-order migration: {names} {} older than {newest}, the newest applied \
                     migration; give it a version above {newest}, or allow it with \
                     --allow-out-of-order (USHER_ALLOW_OUT_OF_ORDER=1)",
                    if late.len() == 1 { "is" } else { "are" }
                ),
            ));
        }
    }

    Ok(Plan {
        pending,
        unknown,
        equivalent,
        applied,
        newest_applied,
    })
}

/// The error for a migration recorded as started and never finished.
pub fn partly_applied(
    row: &AppliedRow,
    file: Option<&Migration>,
    format: &dyn HistoryFormat,
) -> Error {
    let what = match file {
        Some(f) => format!("migration {} ({})", row.version, f.file),
        None => format!("migration {} ({})", row.version, row.name),
    };
    if let Some(meaning) = format.failed_meaning(row) {
        return Error::new(
            Kind::HistoryConflict,
            format!(
                "{what} failed in an earlier run and is recorded as failed ({meaning}). If part \
                 of it was applied, undo it; then run `usher resolve {v} --rolled-back` so it \
                 runs again (after fixing the file), or `usher resolve {v} --applied` if all of \
                 its changes are in place",
                v = row.version
            ),
        );
    }
    Error::new(
        Kind::HistoryConflict,
        format!(
            "{what} may be partly applied: an earlier run failed or was stopped after part of it \
             was committed (MySQL commits DDL at once; -- no-transaction scripts run outside a \
             transaction). Check the schema, then run `usher resolve {v} --applied` if all of its \
             changes are in place, or undo them and run `usher resolve {v} --rolled-back` so it \
             runs again",
            v = row.version
        ),
    )
}

/// `12 (add users), 13 (add index)`.
pub fn list_rows(rows: &[AppliedRow]) -> String {
    rows.iter()
        .map(|r| format!("{} ({})", r.version, r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line of `usher status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: i64,
    pub name: String,
    pub state: State,
    pub applied_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    /// Started and never finished: may be partly applied.
    Failed,
    /// Applied, and the file has changed since.
    Modified,
    /// Applied, and there is no file for it.
    Unknown,
    /// Recorded as applied by a baseline, without running.
    Baselined,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Failed => "failed",
            State::Modified => "modified",
            State::Unknown => "unknown",
            State::Baselined => "baselined",
        }
    }
}

/// Every migration, file or history row, in version order, with its state.
pub fn status(
    files: &[Migration],
    history: &[AppliedRow],
    format: &dyn HistoryFormat,
) -> Vec<Entry> {
    let mut versions: Vec<i64> = files
        .iter()
        .map(|m| m.version)
        .chain(history.iter().map(|r| r.version))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
        .into_iter()
        .map(|v| {
            let file = files.iter().find(|m| m.version == v);
            let row = history.iter().find(|r| r.version == v);
            let state = match (file, row) {
                (_, Some(r)) if r.failed => State::Failed,
                (Some(f), Some(r)) => match f.compare(format, r.checksum.as_deref()) {
                    ChecksumMatch::Different => State::Modified,
                    _ => State::Applied,
                },
                (Some(_), None) => State::Pending,
                (None, _) => State::Unknown,
            };
            Entry {
                version: v,
                name: file
                    .map(|f| f.name.clone())
                    .or_else(|| row.map(|r| r.name.clone()))
                    .unwrap_or_default(),
                state,
                applied_at: row.and_then(|r| r.applied_at.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::formats::sqlx::Sqlx;

    const WARN: Policy = Policy {
        on_unknown: OnUnknown::Warn,
        allow_out_of_order: false,
    };

    fn files(versions: &[i64]) -> Vec<Migration> {
        versions
            .iter()
            .map(|&v| Migration::for_tests(v, &format!("m{v}"), &format!("SELECT {v};"), &Sqlx))
            .collect()
    }

    fn row(m: &Migration) -> AppliedRow {
        AppliedRow {
            version: m.version,
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            applied_at: Some("2024-01-01".into()),
            failed: false,
        }
    }

    fn versions(p: &Plan<'_>) -> Vec<i64> {
        p.pending.iter().map(|m| m.version).collect()
    }

    #[test]
    fn pending_are_the_unapplied_in_order() {
        let f = files(&[1, 2, 3]);
        let p = plan(&f, &[row(&f[0])], &Sqlx, WARN).unwrap();
        assert_eq!(versions(&p), [2, 3]);
        assert_eq!(p.applied, 1);
        let p = plan(&f, &f.iter().map(row).collect::<Vec<_>>(), &Sqlx, WARN).unwrap();
        assert!(p.pending.is_empty());
    }

    #[test]
    fn a_failed_row_stops_everything_and_names_the_repair() {
        let f = files(&[1, 2]);
        let mut r = row(&f[1]);
        r.failed = true;
        let e = plan(&f, &[row(&f[0]), r], &Sqlx, WARN).unwrap_err();
        assert_eq!(e.kind, Kind::HistoryConflict);
        assert!(
            e.message.contains("migration 2 (migrations/2_m2.sql)"),
            "{e}"
        );
        assert!(e.message.contains("usher resolve 2 --applied"), "{e}");
        assert!(e.message.contains("usher resolve 2 --rolled-back"), "{e}");
    }

    #[test]
    fn an_edited_applied_file_is_a_conflict_but_line_endings_are_not() {
        let f = files(&[1]);
        let mut r = row(&f[0]);
        r.checksum = Sqlx.checksum(1, "m1", "SELECT 1; -- edited");
        let e = plan(&f, &[r], &Sqlx, WARN).unwrap_err();
        assert_eq!(e.kind, Kind::HistoryConflict);
        assert!(e.message.contains("migrations/1_m1.sql was changed"), "{e}");

        let mut r = row(&f[0]);
        r.checksum = Sqlx.checksum(1, "m1", "\u{feff}SELECT 1;");
        let p = plan(&f, &[r], &Sqlx, WARN).unwrap();
        assert_eq!(p.equivalent.len(), 1);
    }

    #[test]
    fn unknown_applied_warn_by_default_error_on_request() {
        let f = files(&[1, 2, 3]);
        let history: Vec<AppliedRow> = f.iter().map(row).collect();
        let older = &f[..2];
        let p = plan(older, &history, &Sqlx, WARN).unwrap();
        assert_eq!(p.unknown.len(), 1);
        assert!(p.pending.is_empty());
        let strict = Policy {
            on_unknown: OnUnknown::Error,
            ..WARN
        };
        let e = plan(older, &history, &Sqlx, strict).unwrap_err();
        assert_eq!(e.kind, Kind::HistoryConflict);
        assert!(e.message.contains("3 (m3)"), "{e}");
    }

    #[test]
    fn out_of_order_needs_permission() {
        let f = files(&[1, 2, 3]);
        let history = [row(&f[0]), row(&f[2])];
        let e = plan(&f, &history, &Sqlx, WARN).unwrap_err();
        assert!(e.message.contains("2_m2.sql is older than 3"), "{e}");
        let lenient = Policy {
            allow_out_of_order: true,
            ..WARN
        };
        assert_eq!(versions(&plan(&f, &history, &Sqlx, lenient).unwrap()), [2]);
        // refinery's unversioned (U) migrations may always come late.
        let mut f = f;
        f[1].any_order = true;
        assert_eq!(versions(&plan(&f, &history, &Sqlx, WARN).unwrap()), [2]);
    }

    #[test]
    fn status_states() {
        let f = files(&[1, 2, 3, 4]);
        let mut failed = row(&f[2]);
        failed.failed = true;
        let mut modified = row(&f[1]);
        modified.checksum = Some(vec![0]);
        let unknown = AppliedRow {
            version: 9,
            name: "gone".into(),
            checksum: None,
            applied_at: None,
            failed: false,
        };
        let s = status(&f, &[row(&f[0]), modified, failed, unknown], &Sqlx);
        let states: Vec<&str> = s.iter().map(|e| e.state.label()).collect();
        assert_eq!(
            states,
            ["applied", "modified", "failed", "pending", "unknown"]
        );
        assert_eq!(s[4].name, "gone");
    }
}

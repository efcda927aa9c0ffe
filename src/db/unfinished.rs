//! usher's own record of migrations that started and may not have finished, for history
//! formats that have no such flag (refinery). A row is written, and committed, before a script
//! that can commit part of itself runs (`-- no-transaction`, its own BEGIN/COMMIT, DDL on
//! MySQL); it is deleted in the transaction that records the migration as applied. A row left
//! behind stops the next start until `usher resolve` says what happened.
//!
//! The table is created only the first time it is needed, so a database that never runs such
//! a script sees nothing of usher.

use super::formats::AppliedRow;
use super::source::Migration;
use crate::db::backends::{Dialect, Stmt, Value};

pub const TABLE: &str = "usher_unfinished_migrations";

pub fn create_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
    history VARCHAR(64) NOT NULL,
    version BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    started_at VARCHAR(64) NOT NULL,
    PRIMARY KEY (history, version)
)"
    )
}

pub fn insert(d: &Dialect, history: &str, m: &Migration) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO {TABLE} (history, version, name, started_at) VALUES ({}, {}, {}, {})",
            d.param(1),
            d.param(2),
            d.param(3),
            d.param(4)
        ),
        vec![
            Value::Text(history.to_string()),
            Value::Int(m.version),
            Value::Text(m.name.clone()),
            Value::Text(super::formats::refinery::rfc3339(
                std::time::SystemTime::now(),
            )),
        ],
    )
}

pub fn delete(d: &Dialect, history: &str, version: i64) -> Stmt {
    Stmt::new(
        format!(
            "DELETE FROM {TABLE} WHERE history = {} AND version = {}",
            d.param(1),
            d.param(2)
        ),
        vec![Value::Text(history.to_string()), Value::Int(version)],
    )
}

pub fn select(d: &Dialect, history: &str) -> Stmt {
    Stmt::new(
        format!(
            "SELECT version, name, started_at FROM {TABLE} WHERE history = {} ORDER BY version",
            d.param(1)
        ),
        vec![Value::Text(history.to_string())],
    )
}

/// The rows as failed history entries.
pub fn decode(rows: Vec<Vec<Value>>) -> Vec<AppliedRow> {
    rows.into_iter()
        .filter_map(|row| {
            Some(AppliedRow {
                version: row.first()?.as_i64()?,
                name: row.get(1).and_then(Value::as_text).unwrap_or_default(),
                checksum: None,
                applied_at: row.get(2).and_then(Value::as_text),
                failed: true,
            })
        })
        .collect()
}

//! usher's record of a baseline (`usher baseline VERSION`, `USHER_BASELINE`): which history
//! table was baselined, and up to which version, so that `usher status` can show the rows a
//! baseline wrote as such — the tools' own tables cannot tell them apart from applied ones.
//! Created only by a baseline.

use crate::db::backends::{Dialect, Stmt, Value};

pub const TABLE: &str = "usher_baselines";

pub fn create_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
    history VARCHAR(64) NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    baselined_at VARCHAR(64) NOT NULL
)"
    )
}

pub fn insert(d: &Dialect, history: &str, version: i64) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO {TABLE} (history, version, baselined_at) VALUES ({}, {}, {})",
            d.param(1),
            d.param(2),
            d.param(3)
        ),
        vec![
            Value::Text(history.to_string()),
            Value::Int(version),
            Value::Text(super::formats::refinery::rfc3339(
                std::time::SystemTime::now(),
            )),
        ],
    )
}

pub fn select(d: &Dialect, history: &str) -> Stmt {
    Stmt::new(
        format!("SELECT version FROM {TABLE} WHERE history = {}", d.param(1)),
        vec![Value::Text(history.to_string())],
    )
}

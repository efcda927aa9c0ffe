//! What the sqlx-based databases share: binding `Value`s, decoding rows into `Value`s, and
//! running a script while counting its statements.

use futures_util::StreamExt;
#[cfg(any(feature = "mysql", feature = "sqlite"))]
use sqlx::Encode;
use sqlx::{Decode, Executor, Row, Type};

#[cfg(any(feature = "mysql", feature = "sqlite"))]
use super::Stmt;
use super::{DbError, Value};

// Binding parameters (prepared statements): MySQL and SQLite. PostgreSQL writes them into one
// simple-protocol message instead (postgres.rs, `inline`).

/// `stmt` as an sqlx query with its parameters bound.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
fn bound<DB>(stmt: &Stmt) -> sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Vec<u8>: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut q = sqlx::query::<DB>(sqlx::AssertSqlSafe(stmt.sql.clone()));
    for p in &stmt.params {
        q = match p {
            Value::Null => q.bind(None::<String>),
            Value::Int(i) => q.bind(*i),
            Value::Text(t) => q.bind(t.clone()),
            Value::Bytes(b) => q.bind(b.clone()),
            Value::Bool(b) => q.bind(*b),
        };
    }
    q
}

/// Binds `stmt`'s parameters and runs it; returns rows affected.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
pub async fn execute<DB, C>(
    conn: &mut C,
    stmt: &Stmt,
    err: fn(sqlx::Error) -> DbError,
) -> Result<u64, DbError>
where
    DB: sqlx::Database,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Vec<u8>: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    <DB as sqlx::Database>::QueryResult: RowsAffected,
{
    let q = bound::<DB>(stmt);
    q.execute(&mut *conn)
        .await
        .map(|r| r.affected())
        .map_err(err)
}

/// Binds `stmt`'s parameters and fetches every row, decoded.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
pub async fn query<DB, C>(
    conn: &mut C,
    stmt: &Stmt,
    err: fn(sqlx::Error) -> DbError,
) -> Result<Vec<Vec<Value>>, DbError>
where
    DB: sqlx::Database,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Vec<u8>: for<'q> Encode<'q, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    DB::Row: DecodeValues,
{
    let q = bound::<DB>(stmt);
    let rows = q.fetch_all(&mut *conn).await.map_err(err)?;
    rows.iter().map(DecodeValues::values).collect()
}

/// Runs a script with `raw_sql`, counting completed statements, so a failure can say which
/// statement failed (`DbError::statement`).
pub async fn run_script<DB, C>(
    conn: &mut C,
    sql: &str,
    err: fn(sqlx::Error) -> DbError,
) -> Result<(), DbError>
where
    DB: sqlx::Database,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
{
    let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute_many(&mut *conn);
    let mut done = 0;
    while let Some(step) = results.next().await {
        match step {
            Ok(_) => done += 1,
            Err(e) => {
                let mut e = err(e);
                e.statement = Some(done);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Runs a multi-statement text `sql` in one message (one round trip) and returns the rows of
/// each statement in order, up to the first failure, with that failure.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub async fn query_many<DB, C>(
    conn: &mut C,
    sql: String,
    err: fn(sqlx::Error) -> DbError,
) -> (Vec<Vec<Vec<Value>>>, Option<DbError>)
where
    DB: sqlx::Database,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    DB::Row: DecodeValues,
{
    let mut steps = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&mut *conn);
    let mut out = vec![Vec::new()];
    while let Some(step) = steps.next().await {
        match step.map_err(err).and_then(|s| match s {
            sqlx::Either::Left(_) => Ok(None),
            sqlx::Either::Right(row) => row.values().map(Some),
        }) {
            Ok(Some(row)) => out.last_mut().unwrap().push(row),
            Ok(None) => out.push(Vec::new()),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// Rows affected, for every driver's query result.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
pub trait RowsAffected {
    fn affected(&self) -> u64;
}

/// Decodes every column of a row into a `Value`, by trying the types formats use.
pub trait DecodeValues {
    fn values(&self) -> Result<Vec<Value>, DbError>;
}

/// Decodes column `i` of `row` by trying, in order, integer widths, bool, text and bytes;
/// drivers check type compatibility in `try_get`, so the first that fits is the column's type.
pub fn decode_column<'r, R>(row: &'r R, i: usize) -> Result<Value, DbError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i16>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i8>: Decode<'r, R::Database> + Type<R::Database>,
    Option<bool>: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let or_null = |v: Option<Value>| v.unwrap_or(Value::Null);
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return Ok(or_null(v.map(Value::Int)));
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return Ok(or_null(v.map(|x| Value::Int(x.into()))));
    }
    if let Ok(v) = row.try_get::<Option<i16>, _>(i) {
        return Ok(or_null(v.map(|x| Value::Int(x.into()))));
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return Ok(or_null(v.map(Value::Bool)));
    }
    if let Ok(v) = row.try_get::<Option<i8>, _>(i) {
        return Ok(or_null(v.map(|x| Value::Int(x.into()))));
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return Ok(or_null(v.map(Value::Text)));
    }
    match row.try_get::<Option<Vec<u8>>, _>(i) {
        Ok(v) => Ok(or_null(v.map(Value::Bytes))),
        Err(e) => Err(DbError::other(format!(
            "cannot decode column {i} of a history row: {e}"
        ))),
    }
}

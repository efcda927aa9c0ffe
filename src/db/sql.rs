//! A small SQL lexer: where each statement of a migration starts, whether the script manages
//! its own transaction, and line:column positions for error messages.
//!
//! It never changes what is sent to the database (scripts run as written through
//! `sqlx::raw_sql`); it only needs to agree with the server on statement boundaries, so it knows
//! strings, quoted identifiers, comments, PostgreSQL dollar quotes and the `BEGIN … END` bodies
//! of triggers and routines (SQLite, MySQL, and PostgreSQL's `BEGIN ATOMIC`).

/// How a database quotes things, as far as statement splitting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexing {
    /// `\'` escapes a quote inside '…' (MySQL's default sql_mode).
    pub backslash_escapes: bool,
    /// `$tag$ … $tag$` quoting (PostgreSQL).
    pub dollar_quotes: bool,
    /// `` `name` `` identifiers (MySQL, SQLite).
    pub backticks: bool,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of its first token in the script.
    pub start: usize,
    /// Byte offset just past its last character (before the `;`).
    pub end: usize,
    /// Its first keyword, upper-cased (`CREATE`, `BEGIN`, …); empty for a non-word start.
    pub keyword: String,
    /// Its second word, upper-cased (`TRANSACTION` in `START TRANSACTION`).
    pub second: String,
}

/// Splits `sql` into statements, skipping empty ones, as the server would execute them.
pub fn statements(sql: &str, lexing: Lexing) -> Vec<Statement> {
    let b = sql.as_bytes();
    let mut out: Vec<Statement> = Vec::new();
    let mut i = 0;
    // The statement being read: its start, its first words, and the depth of BEGIN … END
    // blocks inside a CREATE TRIGGER / FUNCTION / PROCEDURE (where ';' does not end it).
    let mut current: Option<Statement> = None;
    let mut words = 0usize;
    let mut routine = false;
    let mut compound = false;
    let mut depth = 0i32;
    let mut last_word = String::new();
    while i < b.len() {
        let c = b[i];
        // Comments and whitespace.
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'#' && lexing.backticks && !lexing.dollar_quotes && current.is_none() {
            // MySQL also takes '#' as a comment start; only at a statement start is that safe
            // to assume without a full MySQL grammar.
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i);
            continue;
        }
        if c == b';' {
            if compound && depth > 0 {
                i += 1;
                continue;
            }
            if let Some(mut s) = current.take() {
                s.end = i;
                out.push(s);
            }
            words = 0;
            routine = false;
            compound = false;
            depth = 0;
            last_word.clear();
            i += 1;
            continue;
        }
        let stmt = current.get_or_insert_with(|| Statement {
            start: i,
            end: i,
            keyword: String::new(),
            second: String::new(),
        });
        match c {
            b'\'' => i = skip_quoted(b, i, b'\'', lexing.backslash_escapes),
            b'"' => i = skip_quoted(b, i, b'"', false),
            b'`' if lexing.backticks => i = skip_quoted(b, i, b'`', false),
            b'$' if lexing.dollar_quotes => match dollar_tag(b, i) {
                Some(tag) => i = skip_dollar(b, i, tag),
                None => i += 1,
            },
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = sql[start..i].to_ascii_uppercase();
                words += 1;
                if words == 1 {
                    stmt.keyword = word.clone();
                } else if words == 2 {
                    stmt.second = word.clone();
                }
                if stmt.keyword == "CREATE"
                    && matches!(
                        word.as_str(),
                        "TRIGGER" | "FUNCTION" | "PROCEDURE" | "EVENT"
                    )
                {
                    routine = true;
                }
                if routine && word == "BEGIN" {
                    compound = true;
                }
                if compound {
                    match word.as_str() {
                        "BEGIN" | "CASE" => depth += 1,
                        // `END IF`, `END LOOP`, … close blocks that were not counted.
                        "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR" if last_word == "END" => {
                            depth += 1
                        }
                        "END" => depth -= 1,
                        _ => {}
                    }
                }
                last_word = word;
            }
            _ => i += 1,
        }
    }
    if let Some(mut s) = current {
        s.end = sql.len();
        out.push(s);
    }
    out
}

/// Whether the script begins, commits or rolls back a transaction itself: it must then run as
/// written, never inside usher's own transaction (nesting BEGIN is an error on PostgreSQL and
/// an implicit commit on MySQL).
pub fn manages_transaction(statements: &[Statement]) -> bool {
    statements.iter().any(|s| {
        matches!(
            s.keyword.as_str(),
            "BEGIN" | "COMMIT" | "ROLLBACK" | "END" | "ABORT"
        ) || (s.keyword == "START" && s.second == "TRANSACTION")
    })
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..floor_char_boundary(text, at)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Byte offset of PostgreSQL's error position (1-based, counted in characters).
pub fn char_position_to_byte(text: &str, position: usize) -> usize {
    text.char_indices()
        .nth(position.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    // PostgreSQL nests block comments; MySQL and SQLite do not, but a nested "/*" in a comment
    // is rare enough there that treating it as nesting costs nothing in practice.
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

fn skip_quoted(b: &[u8], mut i: usize, quote: u8, backslash: bool) -> usize {
    i += 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            // A doubled quote is an escaped quote.
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

/// `$tag$` at `i`: the tag including both dollars. `$1` (a parameter) is not a tag.
fn dollar_tag(b: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then(|| &b[i..=j])
}

fn skip_dollar(b: &[u8], i: usize, tag: &[u8]) -> usize {
    let body = i + tag.len();
    b[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map(|p| body + p + tag.len())
        .unwrap_or(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: Lexing = Lexing {
        backslash_escapes: false,
        dollar_quotes: true,
        backticks: false,
    };
    const MYSQL: Lexing = Lexing {
        backslash_escapes: true,
        dollar_quotes: false,
        backticks: true,
    };
    const SQLITE: Lexing = Lexing {
        backslash_escapes: false,
        dollar_quotes: false,
        backticks: true,
    };

    fn keywords(sql: &str, l: Lexing) -> Vec<String> {
        statements(sql, l).into_iter().map(|s| s.keyword).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "CREATE TABLE a (x text default ';');\n-- a; comment\nINSERT INTO a VALUES ('it''s; fine');\n/* ; /* nested ; */ */ SELECT \";\";;";
        assert_eq!(keywords(sql, PG), ["CREATE", "INSERT", "SELECT"]);
        let s = statements(sql, PG);
        assert_eq!(line_col(sql, s[1].start), (3, 1));
        assert_eq!(
            &sql[s[0].start..s[0].end],
            "CREATE TABLE a (x text default ';')"
        );
    }

    #[test]
    fn dollar_quoted_bodies_and_do_blocks_are_one_statement() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN; RETURN 1; END; $body$ LANGUAGE plpgsql;\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT $1;";
        assert_eq!(keywords(sql, PG), ["CREATE", "DO", "SELECT"]);
        assert!(!manages_transaction(&statements(sql, PG)));
    }

    #[test]
    fn trigger_and_routine_bodies_are_one_statement() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (CASE WHEN 1 THEN 2 END); END;\nCREATE TABLE d (x int);";
        assert_eq!(keywords(sql, SQLITE), ["CREATE", "CREATE"]);
        let sql = "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; BEGIN SELECT 2; END; END;\nSELECT 3;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        assert!(!manages_transaction(&statements(sql, MYSQL)));
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 3;";
        assert_eq!(keywords(sql, PG), ["CREATE", "SELECT"]);
    }

    #[test]
    fn mysql_backslash_escapes() {
        let sql = r"INSERT INTO a VALUES ('a\';b'); SELECT `x;y` FROM a;";
        assert_eq!(keywords(sql, MYSQL), ["INSERT", "SELECT"]);
    }

    #[test]
    fn own_transactions_are_detected() {
        for sql in [
            "BEGIN; CREATE TABLE a (x int); COMMIT;",
            "START TRANSACTION; SELECT 1; COMMIT;",
            "-- comment\nbegin transaction;\ncreate table a(x);\nend;",
            "COMMIT; CREATE INDEX CONCURRENTLY i ON a (x);",
        ] {
            assert!(manages_transaction(&statements(sql, PG)), "{sql}");
        }
        assert!(!manages_transaction(&statements(
            "CREATE TABLE begin_log (begin int, \"end\" int); SELECT 'BEGIN;';",
            PG
        )));
    }

    #[test]
    fn positions() {
        let sql = "SELECT 1;\nSELECT é;\n  SELEC 2;";
        assert_eq!(line_col(sql, 0), (1, 1));
        let at = char_position_to_byte(sql, 18);
        assert_eq!(&sql[at..at + 2], "é");
        // "SELEC" starts at character 23 (1-based): line 3, column 3.
        let at = char_position_to_byte(sql, 23);
        assert_eq!(line_col(sql, at), (3, 3));
        assert_eq!(line_col("", 5), (1, 1));
    }
}

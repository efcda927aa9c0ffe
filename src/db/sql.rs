//! A small SQL lexer: where each statement of a migration starts and ends, whether the script
//! manages its own transaction, and line:column positions for error messages.
//!
//! It never changes what is sent to the database (scripts run as written); it only needs to
//! agree with the server on statement boundaries, so it lexes each dialect's strings, quoted
//! identifiers, comments and dollar quotes as that server's scanner does (PostgreSQL
//! `scan.l`/psql's `psqlscan.l`, MySQL/MariaDB `sql_lex.cc` and the `mysql` client, SQLite
//! `tokenize.c`), and knows the `BEGIN … END` bodies of routines and triggers, where `;` does
//! not end the statement.
//!
//! Pure: no `crate::` dependencies, so the fuzz targets can include this file as it is.

/// How a database lexes SQL, as far as statement splitting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexing {
    /// `'…'` without backslash escapes (standard_conforming_strings, the default since 9.1),
    /// `E'…'` with them, `"ident"`, `$tag$ … $tag$`, nested `/* */`, `$` inside identifiers,
    /// `CREATE FUNCTION|PROCEDURE … BEGIN ATOMIC … END` (psql's rule).
    Postgres,
    /// `'…'` and `"…"` with backslash escapes (the default sql_mode), `` `ident` ``, `#` and
    /// `-- ` comments, `/*! … */` executable comments (SQL, not comments), stored-program
    /// blocks (`BEGIN … END`, `IF … END IF`, `CASE … END CASE`, loops).
    MySql,
    /// `'…'`, `"ident"`, `` `ident` ``, `[ident]`, non-nested `/* */`,
    /// `CREATE TRIGGER … BEGIN … END`.
    Sqlite,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of its first token in the script.
    pub start: usize,
    /// Byte offset just past its last character (before the `;` that ends it, or the end of
    /// the script).
    pub end: usize,
    /// Its first keyword, upper-cased (`CREATE`, `BEGIN`, …); empty for a non-word start.
    pub keyword: String,
    /// Its second word, upper-cased (`TRANSACTION` in `START TRANSACTION`).
    pub second: String,
}

/// A block of a routine body that `END` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A CASE expression: its THEN and ELSE are followed by expressions, not statements.
    CaseExpr,
    /// BEGIN, IF, LOOP, WHILE, REPEAT, FOR, a CASE statement.
    Other,
}

/// Where a `CREATE …` statement is in deciding whether it defines a routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Not a routine (or not decided to be one).
    Plain,
    /// After CREATE and modifiers (`OR REPLACE`, `TEMP`, …).
    Create,
    /// In MySQL's `DEFINER = user@host` clause.
    Definer,
    /// A routine, trigger or compound statement: `;` inside its blocks does not end it.
    Routine,
}

/// The statement being read.
struct Current {
    stmt: Statement,
    words: usize,
    head: Head,
    blocks: Vec<Block>,
    parens: usize,
    /// MySQL: the next word starts a statement inside a routine (so IF, WHILE, REPEAT, FOR
    /// there open blocks rather than call functions).
    at_start: bool,
    /// MySQL: the previous word was END (so `END IF`'s IF closes nothing new).
    after_end: bool,
    /// MySQL: past a routine's header (its characteristics no longer mark where the body
    /// starts).
    in_body: bool,
}

impl Current {
    fn new(start: usize) -> Current {
        Current {
            stmt: Statement {
                start,
                end: start,
                keyword: String::new(),
                second: String::new(),
            },
            words: 0,
            head: Head::Plain,
            blocks: Vec::new(),
            parens: 0,
            at_start: false,
            after_end: false,
            in_body: false,
        }
    }

    /// In a routine's header, where its body may start next (after the parameter list, a
    /// COMMENT string, a characteristic).
    fn header_end(&self) -> bool {
        self.head == Head::Routine && self.blocks.is_empty() && self.parens == 0 && !self.in_body
    }

    /// A token that is neither a word nor one of the markers below.
    fn other(&mut self) {
        self.at_start = false;
        self.after_end = false;
    }
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// Identifiers continue with `$` in all three (PostgreSQL `ident_cont`, MySQL, SQLite).
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || c == b'$'
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Splits `sql` into statements, skipping empty ones, as the server would execute them.
/// Linear in the length of `sql`.
pub fn statements(sql: &str, lexing: Lexing) -> Vec<Statement> {
    let b = sql.as_bytes();
    let mut out: Vec<Statement> = Vec::new();
    let mut cur: Option<Current> = None;
    // Whether `\` escapes in plain strings: MySQL's default sql_mode, PostgreSQL with
    // standard_conforming_strings off; the script's own SETs change it for what follows.
    let mut escapes = lexing == Lexing::MySql;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        if let Some(end) = comment_end(b, i, lexing) {
            i = end;
            continue;
        }
        if c == b';' {
            // PostgreSQL (psql's rule): not inside parentheses either, as in a rule's
            // `DO (INSERT …; INSERT …)`.
            let ends = cur.as_ref().is_none_or(|s| {
                s.blocks.is_empty() && (lexing != Lexing::Postgres || s.parens == 0)
            });
            if ends {
                if let Some(mut s) = cur.take() {
                    s.stmt.end = i;
                    escapes = escapes_after(&sql[s.stmt.start..i], lexing, escapes);
                    out.push(s.stmt);
                }
            } else if let Some(s) = cur.as_mut() {
                s.at_start = true;
                s.after_end = false;
            }
            i += 1;
            continue;
        }
        let s = cur.get_or_insert_with(|| Current::new(i));
        i = match c {
            b'\'' => {
                s.other();
                s.at_start = s.header_end();
                skip_quoted(b, i, b'\'', escapes)
            }
            b'"' => {
                s.other();
                skip_quoted(b, i, b'"', lexing == Lexing::MySql && escapes)
            }
            b'`' if lexing != Lexing::Postgres => {
                s.other();
                skip_quoted(b, i, b'`', false)
            }
            b'[' if lexing == Lexing::Sqlite => {
                s.other();
                b[i..]
                    .iter()
                    .position(|&x| x == b']')
                    .map_or(b.len(), |p| i + p + 1)
            }
            b'/' if lexing == Lexing::MySql && is_executable_comment(b, i) => {
                // `/*! … */` and `/*M! … */` hold SQL the server runs: part of the statement,
                // taken as one opaque token.
                s.other();
                find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2)
            }
            b'$' if lexing == Lexing::Postgres => {
                s.other();
                match dollar_tag(b, i) {
                    Some(tag) => skip_dollar(b, i, tag),
                    None => i + 1,
                }
            }
            b'(' => {
                s.other();
                s.parens += 1;
                i + 1
            }
            b')' => {
                s.other();
                s.parens = s.parens.saturating_sub(1);
                // After a parameter list: a MySQL routine body may start here.
                s.at_start = s.header_end();
                i + 1
            }
            b':' => {
                s.other();
                // `label:` starts a statement; `:=` is an assignment.
                s.at_start = b.get(i + 1) != Some(&b'=');
                i + 1
            }
            c if is_word_start(c) => {
                let start = i;
                let mut j = i + 1;
                while j < b.len() && is_word_byte(b[j]) {
                    j += 1;
                }
                let word = &b[start..j];
                // PostgreSQL's E'…' string takes backslash escapes.
                if lexing == Lexing::Postgres
                    && word.len() == 1
                    && (word[0] | 0x20) == b'e'
                    && b.get(j) == Some(&b'\'')
                {
                    s.other();
                    skip_quoted(b, j, b'\'', true)
                } else {
                    on_word(s, word, lexing);
                    j
                }
            }
            c if c.is_ascii_digit() => {
                s.other();
                let mut j = i + 1;
                while j < b.len() && is_word_byte(b[j]) {
                    j += 1;
                }
                j
            }
            _ => {
                s.other();
                i + 1
            }
        };
    }
    if let Some(mut s) = cur {
        s.stmt.end = sql.len();
        out.push(s.stmt);
    }
    out
}

/// Whether the script changes how the server reads `\` in strings as it goes (PostgreSQL's
/// `standard_conforming_strings`, MySQL's `NO_BACKSLASH_ESCAPES`). PostgreSQL parses a whole
/// message before running any of it, so such a script must go one statement at a time, as
/// psql sends it.
pub fn changes_escapes(sql: &str, statements: &[Statement], lexing: Lexing) -> bool {
    let initial = lexing == Lexing::MySql;
    let mut escapes = initial;
    statements.iter().any(|s| {
        escapes = escapes_after(&sql[s.start..s.end], lexing, escapes);
        escapes != initial
    })
}

/// Whether `\` escapes in plain strings after `statement`, which may change it: PostgreSQL's
/// `SET [SESSION|LOCAL] standard_conforming_strings = on|off|DEFAULT` and `RESET` (of it, or
/// ALL); MySQL's `SET … sql_mode = …` with or without `NO_BACKSLASH_ESCAPES` (an expression
/// that neither names it nor is a plain value leaves it as it was).
fn escapes_after(statement: &str, lexing: Lexing, escapes: bool) -> bool {
    let words: Vec<String> = statement
        .split(|c: char| c.is_whitespace() || matches!(c, '=' | '\'' | '"' | ',' | ';'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match lexing {
        Lexing::Postgres => {
            if w(0) == "RESET" && matches!(w(1), "STANDARD_CONFORMING_STRINGS" | "ALL") {
                return false;
            }
            if w(0) != "SET" {
                return escapes;
            }
            let at = if matches!(w(1), "SESSION" | "LOCAL") {
                2
            } else {
                1
            };
            if w(at) != "STANDARD_CONFORMING_STRINGS" {
                return escapes;
            }
            let value = if w(at + 1) == "TO" {
                w(at + 2)
            } else {
                w(at + 1)
            };
            match value {
                "OFF" | "FALSE" | "NO" | "0" => true,
                "ON" | "TRUE" | "YES" | "1" | "DEFAULT" => false,
                _ => escapes,
            }
        }
        Lexing::MySql => {
            let upper = statement.to_ascii_uppercase();
            if w(0) != "SET" || !upper.contains("SQL_MODE") {
                return escapes;
            }
            if upper.contains("NO_BACKSLASH_ESCAPES") {
                // Taken out (`REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')`) or put in.
                return upper.contains("REPLACE");
            }
            // A plain value without it (`= 'ANSI'`, `= ''`, `= DEFAULT`) turns it off.
            let after = upper[upper.find("SQL_MODE").unwrap_or(0)..]
                .trim_start_matches("SQL_MODE")
                .trim_start()
                .trim_start_matches(":=")
                .trim_start_matches('=')
                .trim_start();
            if after.starts_with('\'') || after.starts_with('"') || after.starts_with("DEFAULT") {
                true
            } else {
                escapes
            }
        }
        Lexing::Sqlite => escapes,
    }
}

/// The end of the comment starting at `i`, if one starts there.
fn comment_end(b: &[u8], i: usize, lexing: Lexing) -> Option<usize> {
    let c = b[i];
    let next = b.get(i + 1).copied();
    let line_end = |from: usize, cr_too: bool| {
        b[from..]
            .iter()
            .position(|&x| x == b'\n' || (cr_too && x == b'\r'))
            .map_or(b.len(), |p| from + p)
    };
    match (c, next, lexing) {
        // MySQL: `--` starts a comment only when followed by whitespace or a control
        // character (`SELECT 5--1` is 6); `#` always does.
        (b'-', Some(b'-'), Lexing::MySql) => {
            let third = b.get(i + 2).copied();
            third
                .is_none_or(|t| t <= b' ')
                .then(|| line_end(i + 2, false))
        }
        (b'-', Some(b'-'), Lexing::Postgres) => Some(line_end(i + 2, true)),
        (b'-', Some(b'-'), Lexing::Sqlite) => Some(line_end(i + 2, false)),
        (b'#', _, Lexing::MySql) => Some(line_end(i + 1, false)),
        (b'/', Some(b'*'), Lexing::MySql) if is_executable_comment(b, i) => None,
        (b'/', Some(b'*'), Lexing::Postgres) => Some(skip_nested_comment(b, i)),
        (b'/', Some(b'*'), _) => Some(find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2)),
        _ => None,
    }
}

fn is_executable_comment(b: &[u8], i: usize) -> bool {
    b[i..].starts_with(b"/*!") || b[i..].starts_with(b"/*M!")
}

fn upper_eq(word: &[u8], keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword.as_bytes())
}

fn is_any(word: &[u8], keywords: &[&str]) -> bool {
    keywords.iter().any(|k| upper_eq(word, k))
}

/// A bare word of the current statement: records its first two words and follows routine
/// headers and block structure.
fn on_word(s: &mut Current, word: &[u8], lexing: Lexing) {
    s.words += 1;
    if s.words <= 2 {
        let upper = String::from_utf8_lossy(word).to_ascii_uppercase();
        if s.words == 1 {
            s.stmt.keyword = upper;
        } else {
            s.stmt.second = upper;
        }
    }
    let after_end = std::mem::take(&mut s.after_end);
    let at_start = std::mem::take(&mut s.at_start);
    if s.parens > 0 {
        return;
    }
    // Is this statement a routine?
    match s.head {
        _ if s.words == 1 => {
            if upper_eq(word, "CREATE") {
                s.head = Head::Create;
            } else if lexing == Lexing::MySql
                && is_any(word, &["IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR"])
            {
                // MariaDB runs compound statements outside stored programs too.
                s.head = Head::Routine;
                s.blocks.push(Block::Other);
                s.at_start = !upper_eq(word, "CASE") && !upper_eq(word, "IF");
                return;
            }
            return;
        }
        Head::Create => {
            let modifiers: &[&str] = match lexing {
                Lexing::Postgres => &["OR", "REPLACE"],
                Lexing::MySql => &["OR", "REPLACE", "AGGREGATE"],
                Lexing::Sqlite => &["TEMP", "TEMPORARY"],
            };
            let routines: &[&str] = match lexing {
                Lexing::Postgres => &["FUNCTION", "PROCEDURE"],
                Lexing::MySql => &["FUNCTION", "PROCEDURE", "TRIGGER", "EVENT"],
                Lexing::Sqlite => &["TRIGGER"],
            };
            s.head = if is_any(word, modifiers) {
                Head::Create
            } else if lexing == Lexing::MySql && upper_eq(word, "DEFINER") {
                Head::Definer
            } else if is_any(word, routines) {
                Head::Routine
            } else {
                Head::Plain
            };
            return;
        }
        Head::Definer => {
            if is_any(word, &["FUNCTION", "PROCEDURE", "TRIGGER", "EVENT"]) {
                s.head = Head::Routine;
            } else if is_any(word, &["VIEW", "SQL", "ALGORITHM"]) {
                s.head = Head::Plain;
            }
            return;
        }
        Head::Plain => {
            // MariaDB's `BEGIN NOT ATOMIC … END` compound statement.
            if lexing == Lexing::MySql
                && s.words == 2
                && s.stmt.keyword == "BEGIN"
                && upper_eq(word, "NOT")
            {
                s.head = Head::Routine;
                s.blocks.push(Block::Other);
            }
            return;
        }
        Head::Routine => {}
    }
    match lexing {
        // psql's rule (psqlscan.l): BEGIN opens, CASE opens inside a BEGIN, END closes —
        // except that on PostgreSQL only `BEGIN ATOMIC` opens a body (so a parameter or
        // column named `begin` does not).
        Lexing::Postgres | Lexing::Sqlite => {
            let opens = match lexing {
                Lexing::Postgres => upper_eq(word, "ATOMIC"),
                _ => upper_eq(word, "BEGIN"),
            };
            if opens {
                s.blocks.push(Block::Other);
            } else if upper_eq(word, "CASE") {
                if !s.blocks.is_empty() {
                    s.blocks.push(Block::Other);
                }
            } else if upper_eq(word, "END") {
                s.blocks.pop();
            }
        }
        Lexing::MySql => mysql_block_word(s, word, at_start, after_end),
    }
}

/// MySQL's stored-program blocks: BEGIN, LOOP and CASE open a block anywhere; IF, WHILE,
/// REPEAT and FOR only where a statement starts (elsewhere they are the IF() and REPEAT()
/// functions, `IF NOT EXISTS`, `FOR UPDATE`, `FOR EACH ROW`); END closes one, and the word
/// after it (`END IF`, `END CASE`, …) is part of the END.
fn mysql_block_word(s: &mut Current, word: &[u8], at_start: bool, after_end: bool) {
    if after_end && is_any(word, &["IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR"]) {
        return;
    }
    let in_case_expr = s.blocks.last() == Some(&Block::CaseExpr);
    let header = !s.in_body;
    if upper_eq(word, "END") {
        s.blocks.pop();
        s.after_end = true;
    } else if is_any(word, &["BEGIN", "LOOP"]) {
        s.blocks.push(Block::Other);
        s.at_start = true;
    } else if upper_eq(word, "CASE") {
        s.blocks.push(if at_start {
            Block::Other
        } else {
            Block::CaseExpr
        });
    } else if at_start && is_any(word, &["IF", "WHILE", "REPEAT", "FOR"]) {
        s.blocks.push(Block::Other);
        s.at_start = upper_eq(word, "REPEAT");
    } else if is_any(word, &["THEN", "ELSE"]) {
        s.at_start = !in_case_expr;
    } else if is_any(
        word,
        // WHILE … DO, BEGIN NOT ATOMIC, DECLARE … HANDLER FOR <condition> <statement>.
        &["DO", "ATOMIC", "SQLEXCEPTION", "SQLWARNING", "FOUND"],
    ) {
        s.at_start = true;
    } else if header
        && is_any(
            word,
            &["SQL", "DETERMINISTIC", "DATA", "INVOKER", "DEFINER", "ROW"],
        )
    {
        // The last word of a characteristic (`LANGUAGE SQL`, `READS SQL DATA`, `SQL
        // SECURITY INVOKER`) or of `FOR EACH ROW`: the body may start next.
        s.at_start = true;
    }
    let characteristic = is_any(
        word,
        &[
            "LANGUAGE",
            "SQL",
            "NOT",
            "DETERMINISTIC",
            "CONTAINS",
            "NO",
            "READS",
            "MODIFIES",
            "DATA",
            "SECURITY",
            "DEFINER",
            "INVOKER",
            "COMMENT",
            "FOLLOWS",
            "PRECEDES",
            // RETURNS VARCHAR(20) CHARSET utf8mb4 COLLATE utf8mb4_bin
            "RETURNS",
            "CHARSET",
            "CHARACTER",
            "SET",
            "COLLATE",
        ],
    );
    if !s.blocks.is_empty() || (at_start && !characteristic) {
        s.in_body = true;
    }
}

/// Whether the script begins, commits or rolls back a transaction itself: it must then run as
/// written, never inside usher's own transaction (nesting BEGIN is an error on PostgreSQL and
/// an implicit commit on MySQL).
pub fn manages_transaction(statements: &[Statement]) -> bool {
    statements.iter().any(|s| {
        // MariaDB's `BEGIN NOT ATOMIC` is a compound statement, not a transaction.
        (s.keyword == "BEGIN" && s.second != "NOT")
            || matches!(s.keyword.as_str(), "COMMIT" | "ROLLBACK" | "END" | "ABORT")
            || (s.keyword == "START" && s.second == "TRANSACTION")
    })
}

impl Lexing {
    /// The longest run of statements sent in one call (see `runs`). SQLite copies the rest
    /// of the text for each statement it prepares, so its runs are short (the copies stay
    /// within a few times the script's size, and a call costs microseconds in-process);
    /// the servers get 1 MB at a time (one round trip per MB, well under MySQL's default
    /// `max_allowed_packet` of 16 MB).
    pub fn run_bytes(self) -> usize {
        match self {
            Lexing::Sqlite => 2 << 10,
            Lexing::Postgres | Lexing::MySql => 1 << 20,
        }
    }
}

/// A statement that is a command of the database's command-line client, not SQL the server
/// understands (MySQL's `DELIMITER`): the script cannot run as written.
pub fn client_command(statements: &[Statement], lexing: Lexing) -> Option<&Statement> {
    match lexing {
        Lexing::MySql => statements.iter().find(|s| s.keyword == "DELIMITER"),
        _ => None,
    }
}

/// Groups consecutive statements into runs whose text spans at most `max` bytes (a longer
/// statement is a run of its own), as ranges of indexes into `statements`. Sending a long
/// script in such pieces keeps the work per statement bounded: SQLite copies the remaining
/// text for every statement it prepares (sqlite3Prepare, when the text is not
/// NUL-terminated), MySQL refuses a packet over `max_allowed_packet`, PostgreSQL keeps every
/// parse tree of one query until it ends.
pub fn runs(statements: &[Statement], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut first = 0;
    for i in 1..=statements.len() {
        let ends = i == statements.len() || statements[i].end - statements[first].start > max;
        if ends {
            out.push(first..i);
            first = i;
        }
    }
    out
}

/// Whether `text` contains `word` (ASCII, any case) anywhere: a cheap, conservative test of
/// whether a script may have used a command (`PREPARE`, `PRAGMA`, `ATTACH`).
// Used by the PostgreSQL and SQLite backends; a MySQL-only build has no use for it.
#[allow(dead_code)]
pub fn mentions(text: &str, word: &str) -> bool {
    let (b, w) = (text.as_bytes(), word.as_bytes());
    let Some(&first) = w.first() else {
        return true;
    };
    let first = first.to_ascii_lowercase();
    (0..b.len().saturating_sub(w.len() - 1))
        .filter(|&i| b[i].to_ascii_lowercase() == first)
        .any(|i| b[i..i + w.len()].eq_ignore_ascii_case(w))
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

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > b.len() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// PostgreSQL nests block comments (scan.l `xc`); an unterminated one runs to the end.
fn skip_nested_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
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

/// Past the quoted token starting at `i`: a doubled quote is an escaped quote; with
/// `backslash`, `\` escapes the next byte.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8, backslash: bool) -> usize {
    i += 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// `$tag$` at `i` (scan.l `dolqdelim`: `$` + optional identifier without `$` + `$`): the
/// delimiter. `$1` (a parameter) is not one.
fn dollar_tag(b: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    if j < b.len() && is_word_start(b[j]) {
        j += 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
            j += 1;
        }
    }
    (j < b.len() && b[j] == b'$').then(|| &b[i..=j])
}

fn skip_dollar(b: &[u8], i: usize, tag: &[u8]) -> usize {
    find(b, i + tag.len(), tag).map_or(b.len(), |p| p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: Lexing = Lexing::Postgres;
    const MYSQL: Lexing = Lexing::MySql;
    const SQLITE: Lexing = Lexing::Sqlite;

    fn keywords(sql: &str, l: Lexing) -> Vec<String> {
        statements(sql, l).into_iter().map(|s| s.keyword).collect()
    }

    fn texts(sql: &str, l: Lexing) -> Vec<&str> {
        statements(sql, l)
            .into_iter()
            .map(|s| &sql[s.start..s.end])
            .collect()
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
    fn postgres_escape_strings_and_dollars_in_identifiers() {
        // E'…' takes backslash escapes; a standard string does not.
        let sql =
            "INSERT INTO t VALUES (E'it\\'s; here');\nINSERT INTO t VALUES ('back\\');\nSELECT 1;";
        assert_eq!(keywords(sql, PG), ["INSERT", "INSERT", "SELECT"]);
        // `$` continues an identifier; `a$b$` is no dollar quote.
        let sql = "CREATE TABLE a$b (x$ int, y$z$ int);\nSELECT a$b$c FROM a$b;\nSELECT 2;";
        assert_eq!(keywords(sql, PG), ["CREATE", "SELECT", "SELECT"]);
        // Parameters in SQL function bodies; a `$$` right after a parameter still quotes.
        let sql = "CREATE FUNCTION f(int) RETURNS int AS 'SELECT $1; ' LANGUAGE sql;\nPREPARE p AS SELECT $1, $2;\nSELECT 3;";
        assert_eq!(keywords(sql, PG), ["CREATE", "PREPARE", "SELECT"]);
        // An E that is the end of a longer word is no escape-string prefix.
        let sql = "SELECT namE'x\\';\nSELECT 4;";
        assert_eq!(keywords(sql, PG), ["SELECT", "SELECT"]);
    }

    #[test]
    fn strings_follow_the_scripts_own_escape_settings() {
        // PostgreSQL: standard_conforming_strings off makes `\'` an escaped quote; on,
        // RESET or DEFAULT turn that off again (psql runs these files).
        let sql = "SET standard_conforming_strings = off;\nINSERT INTO z VALUES ('a\\';b');\nSET standard_conforming_strings TO 'on';\nINSERT INTO z VALUES ('c\\');\nSELECT 1;";
        assert_eq!(
            keywords(sql, PG),
            ["SET", "INSERT", "SET", "INSERT", "SELECT"]
        );
        for on in [
            "RESET standard_conforming_strings",
            "RESET ALL",
            "SET SESSION standard_conforming_strings = DEFAULT",
            "SET standard_conforming_strings = true",
        ] {
            let sql = format!(
                "SET standard_conforming_strings = off;\n{on};\nINSERT INTO z VALUES ('c\\');\nSELECT 1;"
            );
            assert_eq!(
                keywords(&sql, PG),
                ["SET", on.split(' ').next().unwrap(), "INSERT", "SELECT"],
                "{on}"
            );
        }
        // MySQL: NO_BACKSLASH_ESCAPES makes `\` an ordinary character; a sql_mode without
        // it restores the escapes.
        let sql = "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';\nINSERT INTO z VALUES ('c\\');\nSET sql_mode = CONCAT(@@sql_mode, ',ANSI');\nINSERT INTO z VALUES ('d\\');\nSET sql_mode = DEFAULT;\nINSERT INTO z VALUES ('e\\';x');\nSELECT 1;";
        assert_eq!(
            keywords(sql, MYSQL),
            ["SET", "INSERT", "SET", "INSERT", "SET", "INSERT", "SELECT"]
        );
        let sql = "SET @@session.sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '');\nINSERT INTO z VALUES ('e\\';x');\nSELECT 1;";
        assert_eq!(keywords(sql, MYSQL), ["SET", "INSERT", "SELECT"]);
    }

    #[test]
    fn postgres_nested_comments_and_atomic_bodies() {
        let sql = "/* a /* b; */ c; */ SELECT 1;\nCREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); SELECT CASE WHEN true THEN 1 END; END;\nSELECT 2;";
        assert_eq!(keywords(sql, PG), ["SELECT", "CREATE", "SELECT"]);
        // Words named like block keywords elsewhere change nothing.
        let sql = "CREATE TABLE trigger_log (begin int, \"end\" int, function text);\nSELECT 1;";
        assert_eq!(keywords(sql, PG), ["CREATE", "SELECT"]);
        // A parameter named begin is inside the parentheses.
        let sql = "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN begin;\nSELECT 1;";
        assert_eq!(keywords(sql, PG), ["CREATE", "SELECT"]);
    }

    #[test]
    fn postgres_semicolons_inside_parentheses() {
        let sql = "CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); INSERT INTO c VALUES (2));\nSELECT 1;";
        assert_eq!(keywords(sql, PG), ["CREATE", "SELECT"]);
        // Elsewhere the server ends the statement there.
        assert_eq!(statements("SELECT (1; SELECT 2;", MYSQL).len(), 2);
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
    fn mysql_strings_comments_and_executable_comments() {
        let sql = r#"INSERT INTO a VALUES ('a\';b'); SELECT `x;y` FROM a; INSERT INTO a VALUES ("q\";r");"#;
        assert_eq!(keywords(sql, MYSQL), ["INSERT", "SELECT", "INSERT"]);
        // `#` comments anywhere, not only at a statement start.
        let sql =
            "CREATE TABLE a (x int # a; comment\n);\nSELECT 1; # trailing; comment\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT", "SELECT"]);
        // `--` needs a space after it; `5--1` is arithmetic.
        let sql = "SELECT 5--1;\nSELECT 2; -- c;\nSELECT 3;";
        assert_eq!(keywords(sql, MYSQL), ["SELECT", "SELECT", "SELECT"]);
        // `/*! … */` is SQL: a statement of its own, never empty.
        let sql = "/*!40101 SET NAMES utf8mb4 */;\n/* only a comment */;\nSELECT 1;";
        assert_eq!(texts(sql, MYSQL)[0], "/*!40101 SET NAMES utf8mb4 */");
        assert_eq!(statements(sql, MYSQL).len(), 2);
        // `$` in identifiers, and no dollar quotes.
        let sql = "CREATE TABLE a$b (x int);\nSELECT '$$';\nSELECT 1;";
        assert_eq!(statements(sql, MYSQL).len(), 3);
    }

    #[test]
    fn mysql_stored_program_blocks() {
        for body in [
            "CASE x WHEN 1 THEN SELECT 1; WHEN 2 THEN SELECT 2; ELSE BEGIN END; END CASE;",
            "IF x > 0 THEN SELECT 1; ELSEIF x < 0 THEN SELECT 2; ELSE SELECT 3; END IF;",
            "lbl: LOOP SET x = x + 1; IF x > 3 THEN LEAVE lbl; END IF; END LOOP lbl;",
            "WHILE x < 3 DO SET x = x + 1; END WHILE;",
            "REPEAT SET x = x + 1; UNTIL x > 3 END REPEAT;",
            "SET y = CASE WHEN x THEN IF(x, 1, 2) ELSE REPEAT('a', 2) END; SELECT y;",
            "SELECT * FROM t WHERE id = (1) FOR UPDATE; SET y = IF(x > 0, 1, 2);",
        ] {
            let sql = format!(
                "CREATE PROCEDURE p(x INT) BEGIN DECLARE y INT DEFAULT 0; {body} END;\nSELECT 9;"
            );
            assert_eq!(keywords(&sql, MYSQL), ["CREATE", "SELECT"], "{sql}");
            // A body that is one compound statement, without BEGIN.
            let sql = format!("CREATE PROCEDURE p(x INT) {body}\nSELECT 9;");
            if !body.starts_with("SET") && !body.starts_with("SELECT") {
                assert_eq!(keywords(&sql, MYSQL), ["CREATE", "SELECT"], "{sql}");
            }
        }
        let sql = "CREATE DEFINER=`root`@`localhost` TRIGGER t BEFORE INSERT ON a FOR EACH ROW IF NEW.x IS NULL THEN SET NEW.x = 1; END IF;\nSELECT 1;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        let sql = "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = IF(NEW.y, 1, 2);\nSELECT 1;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        let sql = "CREATE PROCEDURE IF NOT EXISTS p() SELECT 1;\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        let sql = "CREATE FUNCTION f(x INT) RETURNS VARCHAR(5) CHARSET utf8mb4 DETERMINISTIC IF x > 0 THEN RETURN 'a'; ELSE RETURN 'b'; END IF;\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        let sql =
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO IF 1 THEN DELETE FROM a; END IF;\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        let sql =
            "CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN IF(x > 0, 1, 2);\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["CREATE", "SELECT"]);
        // MariaDB compound statements outside routines.
        let sql = "BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; END;\nIF 1 THEN SELECT 1; END IF;\nSELECT 2;";
        assert_eq!(keywords(sql, MYSQL), ["BEGIN", "IF", "SELECT"]);
        assert!(!manages_transaction(&statements(sql, MYSQL)));
    }

    #[test]
    fn sqlite_bracket_identifiers() {
        let sql = "CREATE TABLE [a;b] (x);\nSELECT [x;] FROM [a;b];\nSELECT 1;";
        assert_eq!(keywords(sql, SQLITE), ["CREATE", "SELECT", "SELECT"]);
    }

    #[test]
    fn delimiter_is_a_client_command() {
        let sql = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\n";
        let s = statements(sql, MYSQL);
        assert_eq!(client_command(&s, MYSQL).map(|s| s.start), Some(0));
        assert!(client_command(&statements("SELECT 1;", MYSQL), MYSQL).is_none());
    }

    #[test]
    fn empty_scripts_have_no_statements() {
        for sql in ["", "  \n", "-- only\n/* comments */\n;;", "# hash\n"] {
            assert!(statements(sql, MYSQL).is_empty(), "{sql:?}");
        }
        assert!(statements("-- x\n;", PG).is_empty());
        assert!(statements("/* x */", SQLITE).is_empty());
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
    fn runs_bound_the_text_of_each_piece() {
        let sql = "SELECT 1; SELECT 2; SELECT 3; SELECT 4;";
        let s = statements(sql, PG);
        assert_eq!(runs(&s, 20), [0..2, 2..4]);
        assert_eq!(runs(&s, 1), [0..1, 1..2, 2..3, 3..4]);
        assert_eq!(runs(&s, 1000), vec![std::ops::Range { start: 0, end: 4 }]);
        assert!(runs(&[], 10).is_empty());
    }

    #[test]
    fn work_is_linear() {
        // A long script of short statements, and one long unterminated string: both must
        // be lexed in one pass (a quadratic lexer takes minutes here).
        let sql = "INSERT INTO t VALUES (1, 'x');\n".repeat(200_000);
        assert_eq!(statements(&sql, SQLITE).len(), 200_000);
        let sql = format!("SELECT '{}", "a;".repeat(1_000_000));
        assert_eq!(statements(&sql, MYSQL).len(), 1);
    }

    #[test]
    fn mentions_any_case() {
        assert!(mentions("x; Prepare p AS SELECT 1", "prepare"));
        assert!(!mentions("SELECT 'prepar'", "prepare"));
        assert!(mentions("PRAGMA", "pragma"));
        assert!(!mentions("", "pragma"));
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

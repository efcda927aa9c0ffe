//! The statement splitter (src/db/sql.rs), for each dialect: never panics, and its statements
//! cover the input in order — each span in bounds, on character boundaries, after the
//! previous one, and what lies between two statements (and before the first, after the last)
//! holds no statement: only `;`, whitespace and comments. A statement lexed on its own is at
//! most one statement. Runs of statements (`runs`) cover every statement once, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/db/sql.rs"]
#[allow(dead_code)]
mod sql;

use sql::Lexing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for lexing in [Lexing::Postgres, Lexing::MySql, Lexing::Sqlite] {
        let statements = sql::statements(text, lexing);
        let mut covered = 0;
        for s in &statements {
            assert!(covered <= s.start && s.start < s.end && s.end <= text.len());
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            let gap = &text[covered..s.start];
            assert!(sql::statements(gap, lexing).is_empty(), "{lexing:?} gap {gap:?}");
            let alone = sql::statements(&text[s.start..s.end], lexing);
            assert!(alone.len() <= 1, "{lexing:?} {:?}", &text[s.start..s.end]);
            assert!(alone.first().is_none_or(|a| a.start == 0));
            covered = s.end;
        }
        assert!(sql::statements(&text[covered..], lexing).is_empty());

        let max = 1 + data.first().copied().unwrap_or(0) as usize;
        let runs = sql::runs(&statements, max);
        let mut next = 0;
        for r in &runs {
            assert_eq!(r.start, next);
            assert!(r.start < r.end);
            let span = statements[r.end - 1].end - statements[r.start].start;
            assert!(span <= max || r.len() == 1);
            next = r.end;
        }
        assert_eq!(next, statements.len());

        let _ = sql::manages_transaction(&statements);
        let _ = sql::client_command(&statements, lexing);
        let _ = sql::mentions(text, "prepare");
        let at = data.len() / 2;
        let _ = sql::line_col(text, at);
        let _ = sql::char_position_to_byte(text, at);
    }
});

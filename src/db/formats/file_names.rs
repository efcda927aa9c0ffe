//! The file-name rules of each history format: what a `.sql` file name means to each tool,
//! and the section marks of the tools whose files hold more than one section. Pure (no
//! `crate::` dependencies), so the fuzz targets include this file as it is.

/// What a file name means to a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    /// A migration of this format.
    Migration {
        version: i64,
        name: String,
        /// May be applied after newer ones without counting as out of order (refinery's
        /// `U` prefix).
        any_order: bool,
    },
    /// This format's file, but not one to apply (sqlx's `.down.sql`).
    Ignored,
    /// Looks like this format's name but is broken; the text says what is wrong.
    Malformed(String),
    /// Not this format's name at all.
    NotMine,
}

/// sqlx splits the name at the first `_`; the part before must parse as `i64`; the
/// description is the rest without `.up.sql` / `.down.sql` / `.sql`, with `_` turned into
/// spaces. sqlx ignores `.sql` files without `_` and fails on a non-numeric version; usher
/// refuses both (a number-led name that is not a migration is a typo).
pub fn sqlx(file_name: &str) -> NameMatch {
    if !file_name.ends_with(".sql") || !file_name.starts_with(|c: char| c.is_ascii_digit()) {
        return NameMatch::NotMine;
    }
    let Some((version, rest)) = file_name.split_once('_') else {
        return NameMatch::Malformed(
            "expected {version}_{description}.sql (an underscore after the version)".into(),
        );
    };
    let Ok(version) = version.parse::<i64>() else {
        return NameMatch::Malformed(format!(
            "the version {version:?} before the first underscore is {}",
            match version.bytes().all(|b| b.is_ascii_digit()) {
                true => "too large: sqlx versions are 64-bit, at most 9223372036854775807",
                false => "not a whole number",
            }
        ));
    };
    if rest.ends_with(".down.sql") {
        return NameMatch::Ignored;
    }
    let suffix = if rest.ends_with(".up.sql") {
        ".up.sql"
    } else {
        ".sql"
    };
    NameMatch::Migration {
        version,
        name: rest.trim_end_matches(suffix).replace('_', " "),
        any_order: false,
    }
}

/// refinery's rule is the regex `^([U|V])(\d+(?:\.\d+)?)__(\w+)\.sql$` and an `i32`
/// version (without the `int8-versions` feature, which refinery_cli does not enable).
/// refinery silently skips names that do not match; usher refuses them instead, so that a
/// typo never leaves a migration unapplied.
pub fn refinery(file_name: &str) -> NameMatch {
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return NameMatch::NotMine;
    };
    let mut chars = stem.chars();
    let prefix = chars.next();
    let rest = chars.as_str();
    let any_order = match prefix {
        Some('V') => false,
        Some('U') => true,
        _ => return NameMatch::NotMine,
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return NameMatch::NotMine;
    }
    let (version, after) = rest.split_at(digits);
    let Some(name) = after.strip_prefix("__") else {
        return NameMatch::Malformed(format!(
            "expected two underscores after the version: {}{version}__{{name}}.sql",
            if any_order { 'U' } else { 'V' }
        ));
    };
    // `\w` in the regex crate is Unicode-aware: letters, digits, marks and '_'.
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return NameMatch::Malformed(
            "the name after \"__\" may hold only letters, digits and _ (refinery ignores \
             other names)"
                .to_string(),
        );
    }
    match version.parse::<i32>() {
        Ok(v) => NameMatch::Migration {
            version: i64::from(v),
            name: name.to_string(),
            any_order,
        },
        Err(_) => NameMatch::Malformed(format!(
            "version {version} does not fit refinery's INT4 version column (at most {})",
            i32::MAX
        )),
    }
}

/// dbmate's section mark (`upRegExp` / `downRegExp` in dbmate's `pkg/dbmate/migration.go`:
/// `(?m)^--\s*migrate:(up|down)(\s*$|\s+\S+)`): `Some((is_up, options))` for such a line.
pub fn dbmate_mark(line: &str) -> Option<(bool, &str)> {
    let rest = line.strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("migrate:")?;
    let (up, options) = if let Some(o) = rest.strip_prefix("up") {
        (true, o)
    } else {
        (false, rest.strip_prefix("down")?)
    };
    // The word must end there: `migrate:upgrade` is no mark.
    if !options.is_empty() && !options.starts_with(char::is_whitespace) {
        return None;
    }
    Some((up, options.trim()))
}

/// goose's annotation (`-- +goose Up`, `Down`, `StatementBegin`, `StatementEnd`,
/// `NO TRANSACTION`, `ENVSUB ON|OFF`): the text after `+goose`, for such a line.
pub fn goose_mark(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("--")?.trim_start();
    let rest = rest.strip_prefix("+goose")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim())
}

/// The first up/down mark of a tool whose files hold sections, as `(tool, line)`: such a file
/// must never run as a whole.
pub fn foreign_marks(sql: &str) -> Option<(&'static str, &str)> {
    sql.lines()
        .map(|l| l.trim_end_matches('\r'))
        .find_map(|line| {
            if dbmate_mark(line).is_some() {
                Some(("dbmate", line))
            } else {
                goose_mark(line)
                    .filter(|m| m.eq_ignore_ascii_case("up") || m.eq_ignore_ascii_case("down"))
                    .map(|_| ("goose", line))
            }
        })
}

/// dbmate's `^(\d+).*\.sql$` (`migrationFileRegexp` in `pkg/dbmate/db.go`): the leading
/// digits are the version, the rest after an optional `_` the name.
pub fn dbmate(file_name: &str) -> NameMatch {
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return NameMatch::NotMine;
    };
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return NameMatch::NotMine;
    }
    match stem[..digits].parse::<i64>() {
        Ok(version) => NameMatch::Migration {
            version,
            name: stem[digits..].trim_start_matches('_').to_string(),
            any_order: false,
        },
        Err(_) => NameMatch::Malformed(
            "the version (the leading digits) is too large: usher reads versions as 64-bit \
             numbers, at most 9223372036854775807"
                .into(),
        ),
    }
}

/// golang-migrate's rule (`source/parse.go`): the regex `^([0-9]+)_(.*)\.(down|up)\.(.*)$`
/// with a `u64` version. The `(.*)` is greedy, so the last `.up.` or `.down.` decides; the
/// title may be empty. migrate skips other names silently, which leaves `{version}_{name}.sql`
/// to sqlx here; a version that overflows (also skipped by migrate) is refused.
pub fn golang_migrate(file_name: &str) -> NameMatch {
    let digits = file_name.bytes().take_while(u8::is_ascii_digit).count();
    let (version, rest) = file_name.split_at(digits);
    let Some(rest) = rest.strip_prefix('_').filter(|_| digits > 0) else {
        return NameMatch::NotMine;
    };
    if !rest.ends_with(".sql") {
        return NameMatch::NotMine;
    }
    let at = match (rest.rfind(".up."), rest.rfind(".down.")) {
        (Some(up), down) if down.is_none_or(|d| d < up) => up,
        (None, None) => return NameMatch::NotMine,
        _ => return NameMatch::Ignored,
    };
    match version.parse::<i64>() {
        Ok(version) => NameMatch::Migration {
            version,
            name: rest[..at].to_string(),
            any_order: false,
        },
        Err(_) => NameMatch::Malformed(format!(
            "version {version} does not fit the bigint version column of schema_migrations (at \
             most {})",
            i64::MAX
        )),
    }
}

/// goose's rule (`NumericComponent` in goose's `migration.go`): the part before the first `_`
/// is the version, a signed 64-bit number (Go's `ParseInt` takes a leading `+`), at least 1
/// (goose writes version 0 with its table). goose fails on any other `.sql` name in its
/// directory, as usher does; the name is the rest without `.sql` (goose records none).
pub fn goose(file_name: &str) -> NameMatch {
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return NameMatch::NotMine;
    };
    let unsigned = stem.strip_prefix(['+', '-']).unwrap_or(stem);
    if !unsigned.starts_with(|c: char| c.is_ascii_digit()) {
        return NameMatch::NotMine;
    }
    let Some((version, name)) = stem.split_once('_') else {
        return NameMatch::Malformed(
            "expected {version}_{name}.sql (an underscore after the version)".into(),
        );
    };
    match version.parse::<i64>() {
        Ok(v) if v >= 1 => NameMatch::Migration {
            version: v,
            name: name.to_string(),
            any_order: false,
        },
        Ok(_) => NameMatch::Malformed(
            "goose versions start at 1 (goose writes version 0 when it creates its table)".into(),
        ),
        Err(_) => NameMatch::Malformed(format!(
            "the version {version:?} before the first underscore is not a whole number of at \
             most {}",
            i64::MAX
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: i64, name: &str) -> NameMatch {
        NameMatch::Migration {
            version,
            name: name.to_string(),
            any_order: false,
        }
    }

    /// Found by the `file_names` fuzz target: sqlx trims the suffix with `trim_end_matches`,
    /// so repeated suffixes all go, and a `.sql` before `.up.sql` stays — as sqlx-core's
    /// `migrate/source.rs` does; usher must agree on the description it records.
    #[test]
    fn repeated_suffixes_as_sqlx_trims_them() {
        assert_eq!(sqlx("8_x.sql.up.sql"), migration(8, "x.sql"));
        assert_eq!(sqlx("8_x.sql.sql"), migration(8, "x"));
        assert_eq!(sqlx("8_x.up.up.sql"), migration(8, "x.up"));
        assert_eq!(sqlx("8_.sql"), migration(8, ""));
    }

    #[test]
    fn golang_migrate_names_as_its_greedy_regex() {
        assert_eq!(golang_migrate("1_init.up.sql"), migration(1, "init"));
        assert_eq!(golang_migrate("0001_.up.sql"), migration(1, ""));
        assert_eq!(golang_migrate("1_init.down.sql"), NameMatch::Ignored);
        // The last `.up.` / `.down.` decides, as the greedy `(.*)` makes it.
        assert_eq!(golang_migrate("1_x.down.up.sql"), migration(1, "x.down"));
        assert_eq!(golang_migrate("1_x.up.down.sql"), NameMatch::Ignored);
        assert_eq!(golang_migrate("1_x.up.up.sql"), migration(1, "x.up"));
        assert_eq!(golang_migrate("2_x.up.y.sql"), migration(2, "x"));
        // Names migrate skips: sqlx's, refinery's, no underscore after the digits.
        for other in [
            "1_init.sql",
            "V1__init.sql",
            "1init.up.sql",
            "_1.up.sql",
            "1_a.up",
        ] {
            assert_eq!(golang_migrate(other), NameMatch::NotMine, "{other}");
        }
        assert!(matches!(
            golang_migrate("9223372036854775808_big.up.sql"),
            NameMatch::Malformed(_)
        ));
    }

    #[test]
    fn goose_names_as_numeric_component() {
        assert_eq!(
            goose("00001_create_users.sql"),
            migration(1, "create_users")
        );
        assert_eq!(
            goose("20240101120000_a.b.sql"),
            migration(20240101120000, "a.b")
        );
        assert_eq!(goose("+2_x.sql"), migration(2, "x"));
        for bad in [
            "0_zero.sql",
            "-3_neg.sql",
            "1a_x.sql",
            "12.sql",
            "99999999999999999999_x.sql",
        ] {
            assert!(matches!(goose(bad), NameMatch::Malformed(_)), "{bad}");
        }
        for other in ["V1__a.sql", "init.sql", "1_a.go", "_1.sql"] {
            assert_eq!(goose(other), NameMatch::NotMine, "{other}");
        }
    }
}

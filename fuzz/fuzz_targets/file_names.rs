//! The file-name rules of each history format (src/db/formats/file_names.rs): never panic; a name is
//! claimed by at most one of sqlx and refinery (detection relies on it); a migration's canonical
//! name (`{version}_{description}.sql`, `V{version}__{name}.sql`, golang-migrate's
//! `{version}_{title}.up.sql`, goose's `{version}_{name}.sql`) means the same migration; dbmate's
//! version is a name's leading digits; section marks are `--` comments of one tool only.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/db/formats/file_names.rs"]
#[allow(dead_code)]
mod file_names;

use file_names::NameMatch;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = std::str::from_utf8(data) else {
        return;
    };
    let sqlx = file_names::sqlx(file);
    let refinery = file_names::refinery(file);
    assert!(sqlx == NameMatch::NotMine || refinery == NameMatch::NotMine, "{file:?}");

    match &sqlx {
        NameMatch::Migration {
            version,
            name,
            any_order,
        } => {
            assert!(!any_order && *version >= 0 && !name.contains('_'));
            // sqlx trims every trailing `.sql` / `.up.sql` (`trim_end_matches`), so a
            // description ending in one of those has no canonical name of its own.
            if ![".up", ".down", ".sql"].iter().any(|s| name.ends_with(s)) {
                let canonical = format!("{version}_{}.sql", name.replace(' ', "_"));
                assert_eq!(file_names::sqlx(&canonical), sqlx, "{file:?} -> {canonical:?}");
            }
        }
        NameMatch::Ignored => assert!(file.ends_with(".down.sql")),
        NameMatch::Malformed(why) => assert!(!why.is_empty()),
        NameMatch::NotMine => {}
    }
    match &refinery {
        NameMatch::Migration {
            version,
            name,
            any_order,
        } => {
            assert!(*version >= 0 && *version <= i64::from(i32::MAX) && !name.is_empty());
            let prefix = if *any_order { 'U' } else { 'V' };
            let canonical = format!("{prefix}{version}__{name}.sql");
            assert_eq!(file_names::refinery(&canonical), refinery, "{file:?}");
        }
        NameMatch::Ignored => panic!("refinery ignores no file of its own"),
        NameMatch::Malformed(why) => assert!(!why.is_empty()),
        NameMatch::NotMine => {}
    }

    // dbmate: a name it reads starts with digits and ends in `.sql`; its version is them.
    if let NameMatch::Migration { version, name, .. } = file_names::dbmate(file) {
        let digits: String = file.chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(digits.parse::<i64>().ok(), Some(version), "{file:?}");
        assert!(file.ends_with(".sql") && !name.starts_with('_'), "{file:?}");
    }
    // Section marks, on the text as one line: never panic; a mark is a `--` comment.
    for line in file.lines() {
        let dbmate = file_names::dbmate_mark(line);
        let goose = file_names::goose_mark(line);
        if dbmate.is_some() || goose.is_some() {
            assert!(line.starts_with("--"), "{line:?}");
        }
        assert!(!(dbmate.is_some() && goose.is_some()), "{line:?}");
    }
    let _ = file_names::foreign_marks(file);
    // golang-migrate: `{version}_{title}.up.sql` names the same migration (the last `.up.`
    // decides, so any title comes back whole).
    let golang_migrate = file_names::golang_migrate(file);
    match &golang_migrate {
        NameMatch::Migration {
            version,
            name,
            any_order,
        } => {
            assert!(!any_order && *version >= 0 && file.ends_with(".sql"));
            let canonical = format!("{version}_{name}.up.sql");
            assert_eq!(file_names::golang_migrate(&canonical), golang_migrate, "{file:?}");
        }
        NameMatch::Ignored => assert!(file.contains(".down.")),
        NameMatch::Malformed(why) => assert!(!why.is_empty()),
        NameMatch::NotMine => {}
    }
    let goose = file_names::goose(file);
    match &goose {
        NameMatch::Migration {
            version,
            name,
            any_order,
        } => {
            assert!(!any_order && *version >= 1);
            let canonical = format!("{version}_{name}.sql");
            assert_eq!(file_names::goose(&canonical), goose, "{file:?}");
        }
        NameMatch::Ignored => panic!("goose ignores no file of its own"),
        NameMatch::Malformed(why) => assert!(!why.is_empty()),
        NameMatch::NotMine => {}
    }
});

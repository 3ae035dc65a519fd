//! Golden tests of definition validation: every `tests/validation/NAME.json` is checked and
//! its diagnostics compared with `NAME.err` (empty for a valid definition). Run with
//! `UPDATE_GOLDEN=1` to rewrite the `.err` files after a deliberate change, and review the diff.

use std::path::Path;

use cirrus_asl::StateMachine;

#[test]
fn validation_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validation");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/validation exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut mismatches = Vec::new();
    let mut count = 0;
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        count += 1;
        let text = std::fs::read_to_string(path).expect("readable");
        let actual = match StateMachine::parse(&text) {
            Ok(_) => String::new(),
            Err(errors) => errors
                .iter()
                .map(|e| format!("{}: {} at {}\n", e.code, e.message, e.location))
                .collect(),
        };
        let golden = path.with_extension("err");
        if update {
            std::fs::write(&golden, &actual).expect("writable");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}+++ actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(count > 0, "no golden definitions found");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

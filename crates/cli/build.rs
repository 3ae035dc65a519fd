//! Embeds the example applications (`examples/order-pipeline`, `examples/iot-sensors`,
//! `examples/scheduled-report`) in the binary for `cirrus new`: writes
//! `$OUT_DIR/examples.rs`, a table of each example's files (path relative to the example,
//! contents through `include_bytes!`, whether it is executable). Build output and caches
//! (`target`, `node_modules`, `.cirrus`, `__pycache__`, `Cargo.lock`) are left out; an
//! example folder that does not exist is left out of the table. Each embedded file is
//! watched (`rerun-if-changed`), not the folders, whose scan would take in the examples'
//! own build output; a file added to an example is picked up with the next edit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const EXAMPLES: &[&str] = &["order-pipeline", "iot-sensors", "scheduled-report"];
const SKIP: &[&str] = &[
    "target",
    "node_modules",
    ".cirrus",
    "__pycache__",
    "Cargo.lock",
    ".git",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest_dir).join("../../examples");
    let mut out = String::from(
        "/// The examples `cirrus new` writes, by name.\n\
         pub static EXAMPLES: &[(&str, &[ExampleFile])] = &[\n",
    );
    let mut missing = false;
    for name in EXAMPLES {
        let dir = root.join(name);
        if !dir.is_dir() {
            missing = true;
            continue;
        }
        let mut files = Vec::new();
        walk(&dir, &mut files);
        files.sort();
        let _ = writeln!(out, "    ({name:?}, &[");
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let rel = file
                .strip_prefix(&dir)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let absolute = file.canonicalize().unwrap_or(file.clone());
            let _ = writeln!(
                out,
                "        ({rel:?}, include_bytes!({:?}), {}),",
                absolute.display().to_string(),
                executable(&file)
            );
        }
        out.push_str("    ]),\n");
    }
    out.push_str("];\n");
    // A missing example may appear: look at the whole folder until all are there (a
    // recursive scan, so only while one is missing).
    if missing {
        println!("cargo:rerun-if-changed={}", root.display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    if let Err(e) = std::fs::write(out_dir.join("examples.rs"), out) {
        println!("cargo:warning=cannot write the examples table: {e}");
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if SKIP.contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
}

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
}

#[cfg(not(unix))]
fn executable(_: &Path) -> bool {
    false
}

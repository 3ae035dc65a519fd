//! Test support for this crate's tests and its dependents' (the `testing` feature): the
//! test guest component, built from source in `tests/guest`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const GUEST_TARGET: &str = "wasm32-wasip2";

/// Builds the test guest (`tests/guest`, a `wasi:http` component) once per process and
/// returns the path of its `.wasm`. The build has its own target directory,
/// `cirrus-test-guest` under `$CARGO_TARGET_DIR` (or the workspace's `target`), and adds the
/// `wasm32-wasip2` target with rustup first if it is missing. Panics with cargo's output if
/// the build fails.
pub fn build_guest() -> PathBuf {
    static GUEST: OnceLock<PathBuf> = OnceLock::new();
    GUEST.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = crate_dir.join("tests/guest/Cargo.toml");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("../../target"))
        .join("cirrus-test-guest");
    ensure_target_installed();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--locked", "--target", GUEST_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's settings are for the host, not for the guest.
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap_or_else(|error| panic!("running cargo to build the test guest: {error}"));
    assert!(
        output.status.success(),
        "building the test guest ({}) failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target_dir
        .join(GUEST_TARGET)
        .join("release/cirrus_test_guest.wasm");
    assert!(wasm.is_file(), "the guest build made no {}", wasm.display());
    wasm
}

/// Adds the guest's target with rustup when rustup is there and lacks it; without rustup,
/// the build itself says what is missing.
fn ensure_target_installed() {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    let listed = String::from_utf8_lossy(&installed.stdout);
    if listed.lines().any(|line| line.trim() == GUEST_TARGET) {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", GUEST_TARGET])
        .status();
    assert!(
        added.is_ok_and(|status| status.success()),
        "`rustup target add {GUEST_TARGET}` failed"
    );
}

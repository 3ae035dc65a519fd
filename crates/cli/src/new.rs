//! `cirrus new DIR [--from EXAMPLE]`: a new project from one of the examples built into the
//! binary (by `build.rs`, from `examples/`), with `[app] name` set to DIR's name;
//! `cirrus new --list` names the examples.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// One file of an example: its path in the example, its contents, whether it is
/// executable.
type ExampleFile = (&'static str, &'static [u8], bool);

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The example `cirrus new` copies when none is named.
pub const DEFAULT: &str = "order-pipeline";

/// `cirrus new --list`: each example with its README's title.
pub fn list() -> Result<ExitCode> {
    if EXAMPLES.is_empty() {
        println!("this cirrus was built without examples");
    }
    for (name, files) in EXAMPLES {
        let title = files
            .iter()
            .find(|(path, _, _)| *path == "README.md")
            .and_then(|(_, text, _)| std::str::from_utf8(text).ok())
            .and_then(|t| t.lines().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim_start_matches('#').trim().to_owned())
            .unwrap_or_default();
        let default = if *name == DEFAULT { " (default)" } else { "" };
        println!("{name:<20} {title}{default}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the example `from` into `dir` (new or empty).
pub fn new(dir: &Path, from: &str) -> Result<ExitCode> {
    let Some((_, files)) = EXAMPLES.iter().find(|(name, _)| *name == from) else {
        let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
        bail!(
            "there is no example '{from}'; the examples are: {}",
            names.join(", ")
        );
    };
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not empty; cirrus new writes into a new or empty directory",
                dir.display()
            );
        }
    } else if dir.exists() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let app = app_name(dir)?;
    for (path, contents, executable) in *files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let contents = if *path == "cirrus.toml" {
            let text =
                std::str::from_utf8(contents).context("the example's cirrus.toml is not UTF-8")?;
            with_app_name(text, &app).into_bytes()
        } else {
            contents.to_vec()
        };
        std::fs::write(&target, contents)
            .with_context(|| format!("cannot write {}", target.display()))?;
        #[cfg(unix)]
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", target.display()))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
    }
    println!(
        "created {} from the {from} example ({} files, app {app})",
        dir.display(),
        files.len()
    );
    println!("next:");
    println!("    cd {} && cirrus dev", dir.display());
    println!("or, with a node running (`cirrus serve`):");
    println!("    cd {} && cirrus check && cirrus deploy", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// DIR's last component as an app name (characters an app name cannot hold become '-').
fn app_name(dir: &Path) -> Result<String> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let base = absolute
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .with_context(|| format!("{} has no name to give the app", dir.display()))?;
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    Ok(name)
}

/// The manifest with its `[app] name` set to `app` (an `[app]` table is added when there
/// is none).
fn with_app_name(text: &str, app: &str) -> String {
    let mut out = Vec::new();
    let mut in_app = false;
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_app && !done {
                out.push(format!("name = {app:?}"));
                done = true;
            }
            in_app = trimmed == "[app]";
        } else if in_app
            && !done
            && trimmed
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == "name")
        {
            out.push(format!("name = {app:?}"));
            done = true;
            continue;
        }
        out.push(line.to_owned());
    }
    if in_app && !done {
        out.push(format!("name = {app:?}"));
        done = true;
    }
    let mut text = out.join("\n");
    text.push('\n');
    if !done {
        text = format!("[app]\nname = {app:?}\n\n{text}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_name_is_replaced_or_added() {
        let t = with_app_name(
            "# x\n[app]\nname = \"old\"\ntry = []\n\n[functions.a]\nname = \"keep\"\n",
            "shop",
        );
        assert_eq!(
            t,
            "# x\n[app]\nname = \"shop\"\ntry = []\n\n[functions.a]\nname = \"keep\"\n"
        );
        let t = with_app_name("[app]\n\n[queues.q]\n", "shop");
        assert_eq!(t, "[app]\n\nname = \"shop\"\n[queues.q]\n");
        let t = with_app_name("[queues.q]\n", "shop");
        assert_eq!(t, "[app]\nname = \"shop\"\n\n[queues.q]\n");
    }

    #[test]
    fn app_names_come_from_the_directory() {
        assert_eq!(app_name(Path::new("/tmp/my shop")).unwrap(), "my-shop");
        assert_eq!(app_name(Path::new("work/orders/")).unwrap(), "orders");
    }

    #[test]
    fn the_default_example_is_built_in() {
        assert!(
            EXAMPLES.iter().any(
                |(n, files)| *n == DEFAULT && files.iter().any(|(p, _, _)| *p == "cirrus.toml")
            ),
            "examples: {:?}",
            EXAMPLES.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
    }
}

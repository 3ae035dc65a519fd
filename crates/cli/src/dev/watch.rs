//! Which of an application's files changed: [`Watcher`] scans the folder's modification
//! times and sizes (polling, no platform notifier), leaving out what is not the
//! application's source ([`ignored`]: `.cirrus`, `target`, `node_modules`, `__pycache__`,
//! `.git`, editors' swap and backup files), and [`Debounce`] reports changes once they have
//! been quiet for a moment, so that one save of several files is one change.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The most files scanned; a folder with more is watched only in part (and says so).
const MAX_FILES: usize = 20_000;

/// Folders that hold state, builds, dependencies or caches rather than source.
const IGNORED_DIRS: &[&str] = &[
    ".cirrus",
    "target",
    "node_modules",
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".venv",
    ".mypy_cache",
    ".pytest_cache",
    ".idea",
];

/// Whether a file or folder of this name is left out of the watch.
pub fn ignored(name: &OsStr, is_dir: bool) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if is_dir {
        return IGNORED_DIRS.contains(&name);
    }
    // vim: .x.swp, .x.swo, ..., its write test `4913`, and backups `x~`; emacs: `.#x` lock
    // links and `#x#` auto-saves; compiled Python; macOS folder metadata.
    let swap = name.starts_with('.')
        && name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| ext.len() == 3 && ext.starts_with("sw"));
    swap || name == "4913"
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name.ends_with(".pyc")
        || name == ".DS_Store"
}

/// A file's modification time and size when last scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// The files under a folder, by path relative to it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scan {
    files: BTreeMap<PathBuf, Stamp>,
    /// The scan stopped at [`MAX_FILES`].
    pub truncated: bool,
}

impl Scan {
    /// Scans `root`, not following symbolic links to folders.
    pub fn of(root: &Path) -> Scan {
        let mut scan = Scan::default();
        let mut folders = vec![root.to_owned()];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let name = entry.file_name();
                if ignored(&name, kind.is_dir()) {
                    continue;
                }
                let path = entry.path();
                if kind.is_dir() {
                    folders.push(path);
                    continue;
                }
                if scan.files.len() >= MAX_FILES {
                    scan.truncated = true;
                    return scan;
                }
                let meta = std::fs::metadata(&path).ok();
                let stamp = Stamp {
                    modified: meta.as_ref().and_then(|m| m.modified().ok()),
                    len: meta.as_ref().map_or(0, |m| m.len()),
                };
                let relative = path.strip_prefix(root).unwrap_or(&path).to_owned();
                scan.files.insert(relative, stamp);
            }
        }
        scan
    }

    /// Files added, changed or removed since `before`.
    pub fn changed_since(&self, before: &Scan) -> BTreeSet<PathBuf> {
        let mut changed: BTreeSet<PathBuf> = self
            .files
            .iter()
            .filter(|(p, s)| before.files.get(*p) != Some(*s))
            .map(|(p, _)| p.clone())
            .collect();
        changed.extend(
            before
                .files
                .keys()
                .filter(|p| !self.files.contains_key(*p))
                .cloned(),
        );
        changed
    }
}

/// Collects changes and lets them out once none has come for `quiet`.
#[derive(Debug)]
pub struct Debounce {
    quiet: Duration,
    pending: BTreeSet<PathBuf>,
    last: Option<Instant>,
}

impl Debounce {
    pub fn new(quiet: Duration) -> Debounce {
        Debounce {
            quiet,
            pending: BTreeSet::new(),
            last: None,
        }
    }

    /// Notes changes seen at `now`.
    pub fn note(&mut self, changed: BTreeSet<PathBuf>, now: Instant) {
        if !changed.is_empty() {
            self.pending.extend(changed);
            self.last = Some(now);
        }
    }

    /// The changes noted, once quiet for long enough at `now`.
    pub fn ready(&mut self, now: Instant) -> Option<Vec<PathBuf>> {
        let last = self.last?;
        if now.saturating_duration_since(last) < self.quiet {
            return None;
        }
        self.last = None;
        Some(std::mem::take(&mut self.pending).into_iter().collect())
    }
}

/// An application folder, scanned on each [`Watcher::poll`].
pub struct Watcher {
    root: PathBuf,
    last: Scan,
    debounce: Debounce,
    warned: bool,
}

impl Watcher {
    pub fn new(root: &Path, quiet: Duration) -> Watcher {
        let mut w = Watcher {
            root: root.to_owned(),
            last: Scan::default(),
            debounce: Debounce::new(quiet),
            warned: false,
        };
        w.rescan();
        w
    }

    /// Takes the folder as it is now as unchanged (after a deploy, whose build may have
    /// written files).
    pub fn rescan(&mut self) {
        self.last = Scan::of(&self.root);
        if self.last.truncated && !self.warned {
            self.warned = true;
            eprintln!(
                "cirrus dev: {} has more than {MAX_FILES} files; only the first are watched",
                self.root.display()
            );
        }
    }

    /// Whether changes were seen that are not quiet yet.
    pub fn pending(&self) -> bool {
        !self.debounce.pending.is_empty()
    }

    /// Scans again; the files changed since, once they have been quiet for a moment.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<PathBuf>> {
        let scan = Scan::of(&self.root);
        self.debounce.note(scan.changed_since(&self.last), now);
        self.last = scan;
        self.debounce.ready(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_builds_caches_and_editor_files_are_not_watched() {
        for dir in [".cirrus", "target", "node_modules", "__pycache__", ".git"] {
            assert!(ignored(OsStr::new(dir), true), "{dir}");
        }
        for file in [
            ".app.py.swp",
            ".app.py.swo",
            "4913",
            "app.py~",
            ".#app.py",
            "#app.py#",
            "app.cpython-312.pyc",
        ] {
            assert!(ignored(OsStr::new(file), false), "{file}");
        }
        for kept in [
            "app.py",
            "cirrus.toml",
            "flow.json",
            ".env",
            "src",
            "swap.rs",
            ".sw",
        ] {
            assert!(!ignored(OsStr::new(kept), false), "{kept}");
        }
        // A file named like an ignored folder is watched.
        assert!(!ignored(OsStr::new("target"), false));
    }

    #[test]
    fn a_scan_sees_additions_edits_and_removals_but_not_ignored_files() {
        let root = std::env::temp_dir().join(format!("cirrus-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("fn/__pycache__")).unwrap();
        std::fs::create_dir_all(root.join(".cirrus")).unwrap();
        std::fs::write(root.join("cirrus.toml"), "[app]\nname = \"a\"\n").unwrap();
        std::fs::write(root.join("fn/app.py"), "x = 1\n").unwrap();
        let before = Scan::of(&root);
        assert_eq!(before.files.len(), 2);
        std::fs::write(root.join("fn/app.py"), "x = 22\n").unwrap();
        std::fs::write(root.join("fn/new.py"), "").unwrap();
        std::fs::remove_file(root.join("cirrus.toml")).unwrap();
        std::fs::write(root.join("fn/__pycache__/app.pyc"), "").unwrap();
        std::fs::write(root.join(".cirrus/cirrus.db"), "").unwrap();
        std::fs::write(root.join("fn/.app.py.swp"), "").unwrap();
        let changed: Vec<PathBuf> = Scan::of(&root).changed_since(&before).into_iter().collect();
        assert_eq!(
            changed,
            vec![
                PathBuf::from("cirrus.toml"),
                PathBuf::from("fn/app.py"),
                PathBuf::from("fn/new.py")
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn changes_are_let_out_once_quiet() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut d = Debounce::new(Duration::from_millis(300));
        assert_eq!(d.ready(ms(0)), None);
        d.note(BTreeSet::from([PathBuf::from("a")]), ms(0));
        d.note(BTreeSet::new(), ms(100));
        assert_eq!(d.ready(ms(200)), None);
        d.note(BTreeSet::from([PathBuf::from("b")]), ms(250));
        assert_eq!(d.ready(ms(500)), None);
        assert_eq!(
            d.ready(ms(550)),
            Some(vec![PathBuf::from("a"), PathBuf::from("b")])
        );
        assert_eq!(d.ready(ms(2000)), None);
    }
}

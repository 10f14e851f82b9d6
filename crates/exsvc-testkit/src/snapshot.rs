//! Snapshot files: a test renders what it observed as text and compares it with
//! a committed file, so that every change shows in review as a diff.
//! `UPDATE_SNAPSHOTS=1` rewrites the files instead of comparing.

use std::path::Path;

/// Whether this run rewrites snapshots (`UPDATE_SNAPSHOTS=1`).
pub fn updating() -> bool {
    std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1")
}

/// Compares `actual` with the file at `path`, or rewrites the file under
/// `UPDATE_SNAPSHOTS=1`. `rerun` is the command that rewrites it, for the message.
#[track_caller]
pub fn assert_snapshot(path: &Path, actual: &str, rerun: &str) {
    if let Err(difference) = check(path, actual) {
        panic!(
            "{difference}\n\
             If the change is intended, rewrite the snapshot and review its diff:\n  \
             UPDATE_SNAPSHOTS=1 {rerun}"
        );
    }
}

/// Like `assert_snapshot`, but says what differs instead of failing, so that a
/// test of many snapshots can report them all at once.
pub fn check(path: &Path, actual: &str) -> Result<(), String> {
    if updating() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return Ok(());
    }
    let kept = std::fs::read_to_string(path).unwrap_or_default();
    match difference(&kept, actual) {
        None => Ok(()),
        Some(difference) => Err(format!(
            "{} differs from what the test observed, first at {difference}",
            path.display()
        )),
    }
}

/// Where `kept` and `actual` first differ, with both lines; `None` if equal.
pub fn difference(kept: &str, actual: &str) -> Option<String> {
    if kept == actual {
        return None;
    }
    let line = kept
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| kept.lines().count().min(actual.lines().count()));
    let show = |text: &str| {
        text.lines()
            .nth(line)
            .unwrap_or(if text.is_empty() {
                "<no file>"
            } else {
                "<end of file>"
            })
            .to_owned()
    };
    Some(format!(
        "line {}:\n  kept:     {}\n  observed: {}",
        line + 1,
        show(kept),
        show(actual)
    ))
}

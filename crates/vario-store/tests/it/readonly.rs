//! A read-only data directory: the store refuses with `Unavailable(ReadOnly)` and the
//! log it had stays intact. Permissions do not bind a privileged user, so as root the
//! check runs in a child process that sees the directory through a read-only bind mount
//! in its own mount namespace.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use vario_store::{LogReader, Store, StoreError, Unavailable};

use crate::log::batch;

const DIR_ENV: &str = "VARIO_TEST_READ_ONLY_DIR";

#[test]
fn a_read_only_directory_is_unavailable_and_nothing_is_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(&batch("before", 3), 1).unwrap();
    store.close();
    drop(store);

    if permissions_bind(dir.path()) {
        set_writable(dir.path(), false);
        check_refused(dir.path());
        set_writable(dir.path(), true);
    } else {
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(dir.path())
            .arg(exe)
            .args(["--exact", "readonly::refused_in_a_read_only_mount", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, dir.path())
            .output();
        match status {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "the read-only check failed in its mount namespace: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => {
                eprintln!("skipped: privileged user and no `unshare` to make a read-only mount ({e})");
                return;
            }
        }
    }

    let reader = LogReader::open(dir.path()).unwrap();
    reader.integrity_check().unwrap();
    assert_eq!(reader.count().unwrap(), 3);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.append(&batch("after", 2), 1).unwrap().stored, 2);
    store.close();
}

/// Runs only inside the mount namespace set up above.
#[test]
#[ignore = "run by a_read_only_directory_is_unavailable_and_nothing_is_corrupted"]
fn refused_in_a_read_only_mount() {
    let dir = std::env::var(DIR_ENV).expect("run by the read-only test");
    check_refused(Path::new(&dir));
}

fn check_refused(dir: &Path) {
    match Store::open(dir) {
        Err(StoreError::Unavailable { reason: Unavailable::ReadOnly, .. }) => {}
        Err(other) => panic!("expected read-only, got {other}"),
        Ok(store) => match store.append(&batch("refused", 2), 1) {
            Err(StoreError::Unavailable { reason: Unavailable::ReadOnly, .. }) => {}
            other => panic!("expected read-only, got {other:?}"),
        },
    }
    // A new data directory under a read-only one cannot even be created.
    let nested = dir.join("nested");
    assert!(matches!(Store::open(&nested), Err(StoreError::Unavailable { reason: Unavailable::ReadOnly, .. })));
}

/// Whether file permissions stop this user (they do not stop root).
fn permissions_bind(dir: &Path) -> bool {
    let probe_dir = dir.join("probe");
    std::fs::create_dir(&probe_dir).unwrap();
    set_writable(&probe_dir, false);
    let bound = std::fs::File::create(probe_dir.join("x")).is_err();
    set_writable(&probe_dir, true);
    std::fs::remove_dir_all(&probe_dir).unwrap();
    bound
}

fn set_writable(dir: &Path, writable: bool) {
    for entry in std::fs::read_dir(dir.join("log")).into_iter().flatten().flatten() {
        let mode = if writable { 0o644 } else { 0o444 };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let mode = if writable { 0o755 } else { 0o555 };
    for d in [dir.join("log"), dir.to_path_buf()] {
        if d.exists() {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

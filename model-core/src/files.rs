//! Writing files and folders so that a reader, a crash or a kill never sees half of one: the
//! bundle writer, the training checkpoints and every file the CLI saves go through here; and the
//! sha256 that names a bundle's parts and keys the cached features.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary sibling first, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let staging = sibling(path, ".partial");
    std::fs::write(&staging, bytes).map_err(|e| Error::io(&staging, e))?;
    std::fs::rename(&staging, path).map_err(|e| Error::io(path, e))
}

/// Replaces the folder `dir` with one that `fill` writes into a fresh sibling folder: the
/// sibling is renamed into place only once `fill` succeeds, so `dir` holds the previous complete
/// folder or the new one, never a mix, and a failed `fill` (a full disk) leaves the previous one
/// as it was. A kill between the two renames leaves the previous folder as `dir.old`, which
/// [`recover_dir`] puts back.
pub fn replace_dir<E: From<Error>>(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let staging = sibling(dir, ".partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    if let Err(error) = fill(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    let old = sibling(dir, ".old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Puts back the previous folder that a [`replace_dir`] killed between its two renames left
/// aside, so `dir` is complete again.
pub fn recover_dir(dir: &Path) -> Result<()> {
    let old = sibling(dir, ".old");
    if !dir.exists() && old.is_dir() {
        std::fs::rename(&old, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "output".into());
    name.push(suffix);
    path.with_file_name(name)
}

/// The lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fill_keeps_the_previous_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        replace_dir::<Error>(&dir, |staging| write_atomic(&staging.join("a"), b"one")).unwrap();
        let failed = replace_dir::<Error>(&dir, |staging| {
            write_atomic(&staging.join("a"), b"two")?;
            Err(Error::Config { name: "test".into(), reason: "disk full".into() })
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"one");
        assert!(!tmp.path().join("bundle.partial").exists(), "a failed fill leaves nothing behind");
        // A kill between the renames: the previous folder is put back.
        std::fs::rename(&dir, tmp.path().join("bundle.old")).unwrap();
        recover_dir(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"one");
        replace_dir::<Error>(&dir, |staging| write_atomic(&staging.join("b"), b"three")).unwrap();
        assert!(!dir.join("a").exists() && dir.join("b").is_file(), "the new folder replaces the old one whole");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("bundle")], "no staging or old folder is left");
    }
}

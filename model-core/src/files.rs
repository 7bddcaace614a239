//! Writing files and folders so that a reader, a crash or a kill never sees half of one: the
//! bundle writer, the training checkpoints and every file the CLI saves go through here.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary sibling first, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let staging = sibling(path, ".partial");
    std::fs::write(&staging, bytes).map_err(|e| Error::io(&staging, e))?;
    std::fs::rename(&staging, path).map_err(|e| Error::io(path, e))
}

/// Replaces the folder `dir` with one that `fill` writes into a fresh sibling folder: the
/// sibling is renamed into place only once `fill` succeeds, so `dir` holds the previous complete
/// folder or the new one, never a mix, and a failed `fill` leaves the previous one as it was.
pub fn replace_dir<E: From<Error>>(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let staging = sibling(dir, ".partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    fill(&staging)?;
    let old = sibling(dir, ".old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| Error::io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "output".into());
    name.push(suffix);
    path.with_file_name(name)
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
        replace_dir::<Error>(&dir, |staging| write_atomic(&staging.join("b"), b"three")).unwrap();
        assert!(!dir.join("a").exists() && dir.join("b").is_file(), "the new folder replaces the old one whole");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("bundle")], "no staging or old folder is left");
    }
}

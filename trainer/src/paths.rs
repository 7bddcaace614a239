//! Where Marquee keeps things on disk, and how it writes files safely.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The cache root: `$MARQUEE_CACHE`, or `~/.cache/marquee`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MARQUEE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("marquee")
}

/// Where `scripts/fetch-pretrained.sh` puts pretrained weights.
pub fn pretrained_dir() -> PathBuf {
    cache_dir().join("pretrained")
}

/// Writes `bytes` to `path` atomically: a temporary sibling first, then a rename, so a reader
/// (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.file_name().context("a file path")?.to_os_string();
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

//! Marquee's library: every architecture, the data pipeline, preprocessing, metrics and the model
//! bundle format. The trainer CLI and the browser crate are thin layers over this crate.
#![forbid(unsafe_code)]

pub mod batch;
pub mod bundle;
pub mod data;
pub mod error;
#[cfg(feature = "train")]
pub mod explain;
pub mod files;
pub mod inference;
pub mod int8;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod preprocess;
pub mod stacking;

pub use error::{Error, Result};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The modules from the bottom up: each may use only the modules of earlier layers (and its
    /// own). A cycle, or a module used from below, fails the test below.
    const LAYERS: &[&[&str]] = &[
        &["error"],
        &["files", "int8", "metrics", "ops"],
        &["preprocess"],
        &["data", "batch"],
        &["models"],
        &["stacking"],
        &["bundle"],
        &["inference"],
        &["explain"],
    ];

    /// The top-level modules a source file names as `crate::NAME`, outside comments and tests.
    fn used(source: &str) -> BTreeSet<String> {
        let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let mut names = BTreeSet::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                names.insert(name);
            }
        }
        names
    }

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn modules_use_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let layer_of = |name: &str| LAYERS.iter().position(|layer| layer.contains(&name));
        let mut paths = Vec::new();
        files(&src, &mut paths);
        let mut checked = 0;
        for path in paths {
            let relative = path.strip_prefix(&src).unwrap();
            let module = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs");
            if module == "lib" {
                continue;
            }
            let own = layer_of(module).unwrap_or_else(|| panic!("{module} is in no layer of LAYERS"));
            for name in used(&std::fs::read_to_string(&path).unwrap()) {
                let theirs =
                    layer_of(&name).unwrap_or_else(|| panic!("{} uses crate::{name}, in no layer", path.display()));
                assert!(
                    name == module || theirs < own,
                    "{} ({module}) uses crate::{name}, which is not below it",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "the walk found only {checked} uses");
    }
}

//! Helpers shared by the end-to-end tests in `tests/tests/` (and by model-core's parity tests):
//! where the `marquee` binary, the real movie set and the pretrained weights are, and the
//! reference ResNet-50 weights made by a formula.
#![forbid(unsafe_code)]

pub mod reference;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `marquee` binary that `cargo test --workspace` built beside this test executable.
pub fn marquee_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/marquee
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join(format!("marquee{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} is missing: run `cargo test --workspace` (it builds the CLI)", bin.display());
    bin
}

/// Runs `marquee` with `args`, returning its output; panics with its stderr if it fails.
pub fn marquee_ok<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = Command::new(marquee_bin()).args(args).output().expect("run marquee");
    assert!(
        output.status.success(),
        "marquee failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The folder of the package whose tests are running: cargo's `CARGO_MANIFEST_DIR` at run
/// time (right even when a shared target dir reuses a build made from another checkout), else
/// this crate's folder at build time.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The real movie set: `$MARQUEE_DATA`, or `../shared/data/movies` beside the repository.
pub fn movies_dir() -> PathBuf {
    std::env::var_os("MARQUEE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../shared/data/movies"))
}

/// A pretrained file, or a panic telling how to fetch it.
pub fn pretrained(relative: &str) -> PathBuf {
    let path = model_core::models::registry::pretrained_dir().join(relative);
    assert!(path.exists(), "{} is missing: run scripts/fetch-pretrained.sh", path.display());
    path
}

/// The per-epoch metrics a run wrote.
pub fn run_history(run: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(run.join("metrics.json")).expect("metrics.json");
    serde_json::from_slice(&bytes).expect("metrics.json is JSON")
}

/// The arguments of `marquee train --model MODEL` on the first 64 movies of the real set into
/// `out`, followed by `extra`.
pub fn train_args(model: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "--model", model, "--limit", "64", "--data"].iter().map(|s| s.to_string()).collect();
    args.push(movies_dir().display().to_string());
    args.push("--out".into());
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Each genre's probability in `marquee predict --json` output, sorted by genre.
pub fn predicted_probabilities(prediction: &serde_json::Value) -> Vec<(String, f64)> {
    let mut genres: Vec<(String, f64)> = prediction["genres"]
        .as_array()
        .expect("genres")
        .iter()
        .map(|g| (g["genre"].as_str().expect("genre").to_string(), g["probability"].as_f64().expect("probability")))
        .collect();
    genres.sort_by(|a, b| a.0.cmp(&b.0));
    genres
}

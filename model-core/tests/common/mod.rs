//! Helpers of the parity tests: fixtures, pretrained files and error measures. Each test
//! binary uses some of them.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fixture JSON of `tests/fixtures/` (found from cargo's `CARGO_MANIFEST_DIR` at run time, so a
/// test binary reused from a checkout elsewhere reads this checkout's fixtures).
pub fn fixture(name: &str) -> serde_json::Value {
    let package = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = PathBuf::from(package).join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// A file that `scripts/fetch-pretrained.sh` put in the cache, or a panic telling how to get it.
pub fn pretrained(relative: &str) -> PathBuf {
    let cache = std::env::var_os("MARQUEE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache").join("marquee")
    });
    let path = cache.join("pretrained").join(relative);
    assert!(path.exists(), "{} is missing: run scripts/fetch-pretrained.sh", path.display());
    path
}

/// A JSON array of numbers as f32.
pub fn floats(value: &serde_json::Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

/// Relative error `max |a - b| / max |b|`: the largest deviation measured against the
/// reference's scale (element-wise ratios blow up where the reference is near zero).
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let worst = actual.iter().zip(expected).fold(0.0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    worst / scale.max(f64::MIN_POSITIVE)
}

//! Helpers of the parity tests: fixtures and error measures (pretrained files come from
//! `tests`). Each test binary uses some of them.
#![allow(dead_code)]

/// A fixture JSON of `tests/fixtures/` (the folder found at run time, as `tests` does).
pub fn fixture(name: &str) -> serde_json::Value {
    let path = tests::manifest_dir().join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
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

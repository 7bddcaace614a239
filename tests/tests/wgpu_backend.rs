//! The GPU path: `--device wgpu` (burn's wgpu backend; here Mesa's llvmpipe Vulkan device, which
//! .ci/run installs) predicts what the CPU backend predicts for the same bundle.

use tests::{marquee_ok, predicted_probabilities, train_args};

fn probabilities(bundle: &str, device: &str) -> Vec<(String, f64)> {
    let output = marquee_ok([
        "predict",
        "--json",
        "--device",
        device,
        "--bundle",
        bundle,
        "--plot",
        "Two detectives hunt a serial killer through a rain-soaked city.",
    ]);
    predicted_probabilities(&serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn wgpu_predicts_like_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("lstm");
    marquee_ok(train_args("lstm", &run, &["--epochs", "1"]));
    let bundle = run.join("bundle");
    let cpu = probabilities(bundle.to_str().unwrap(), "cpu");
    let gpu = probabilities(bundle.to_str().unwrap(), "wgpu");
    assert_eq!(cpu.len(), gpu.len());
    for ((genre, a), (_, b)) in cpu.iter().zip(&gpu) {
        assert!((a - b).abs() < 1e-4, "{genre}: cpu {a} vs wgpu {b}");
    }
}

//! `--devices N`: data-parallel training splits each batch across devices and sums their
//! gradients with burn's multi-device optimiser step. On the CPU the devices share the cores,
//! but the arithmetic is the same, so the run must match single-device training.

use tests::{marquee_ok, run_history, train_args};

#[test]
fn two_devices_train_like_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    for devices in ["1", "2"] {
        let run = tmp.path().join(format!("lstm-{devices}"));
        marquee_ok(train_args("lstm", &run, &["--epochs", "2", "--devices", devices]));
        losses.push(run_history(&run).iter().map(|r| r["train_loss"].as_f64().unwrap()).collect::<Vec<_>>());
    }
    for (one, two) in losses[0].iter().zip(&losses[1]) {
        assert!((one - two).abs() < 1e-4, "1 device {one} vs 2 devices {two}");
    }
}

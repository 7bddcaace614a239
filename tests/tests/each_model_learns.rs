//! Every architecture trains through the CLI on 64 real movies and its training loss falls.
//! ResNet-50 has no registry-hosted ImageNet weights, so it trains here on a torchvision-named
//! state dict made by the parity test's deterministic formula (the loading path is the same).

use std::path::Path;

use tests::{marquee_ok, run_history, train_args};

fn train_losses(model: &str, out: &Path, extra: &[&str]) -> Vec<f64> {
    let mut extra = extra.to_vec();
    extra.extend(["--patience", "0"]);
    marquee_ok(train_args(model, out, &extra));
    run_history(out).iter().map(|r| r["train_loss"].as_f64().unwrap()).collect()
}

fn assert_falls(model: &str, losses: &[f64]) {
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < first, "{model}: training loss must fall, got {losses:?}");
}

#[test]
fn lstm_baseline_learns() {
    let tmp = tempfile::tempdir().unwrap();
    assert_falls("lstm", &train_losses("lstm", &tmp.path().join("run"), &["--epochs", "4"]));
}

#[test]
fn glove_lstm_learns() {
    let tmp = tempfile::tempdir().unwrap();
    assert_falls("lstm-glove", &train_losses("lstm-glove", &tmp.path().join("run"), &["--epochs", "4"]));
}

#[test]
fn bert_learns() {
    let tmp = tempfile::tempdir().unwrap();
    let losses = train_losses("bert", &tmp.path().join("run"), &["--epochs", "3", "--lr", "1e-4", "--max-len", "64"]);
    assert_falls("bert", &losses);
}

#[test]
fn simple_cnn_learns() {
    let tmp = tempfile::tempdir().unwrap();
    assert_falls("cnn", &train_losses("cnn", &tmp.path().join("run"), &["--epochs", "3", "--max-batches", "1"]));
}

#[test]
fn efficientnet_lite0_learns() {
    let tmp = tempfile::tempdir().unwrap();
    assert_falls(
        "efficientnet-lite0",
        &train_losses("efficientnet-lite0", &tmp.path().join("run"), &["--epochs", "4"]),
    );
}

#[test]
fn resnet50_learns_on_torchvision_named_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("resnet50-formula.safetensors");
    std::fs::write(&weights, tests::reference::safetensors(&tests::reference::resnet50_formula_tensors())).unwrap();
    let losses =
        train_losses("resnet50", &tmp.path().join("run"), &["--epochs", "4", "--weights", weights.to_str().unwrap()]);
    assert_falls("resnet50", &losses);
}

/// The models trained above with settings of their own, and the fusion (trained from its
/// branches in `train_export_predict.rs`).
const TRAINED_ABOVE: &[&str] = &["lstm", "lstm-glove", "bert", "cnn", "efficientnet-lite0", "resnet50", "fusion"];

/// Reads the registry through `marquee models --names`: every model not trained above (a model
/// just added, say) trains here with its recipe for 3 epochs, and every name above must still be
/// in the registry.
#[test]
fn every_other_registry_model_learns() {
    let listed = String::from_utf8(marquee_ok(["models", "--names"]).stdout).unwrap();
    let names: Vec<&str> = listed.lines().filter_map(|line| line.split('\t').next()).collect();
    for model in TRAINED_ABOVE {
        assert!(names.contains(model), "{model} is no longer in the registry ({names:?}): update this file");
    }
    for model in names.iter().filter(|name| !TRAINED_ABOVE.contains(name)) {
        let tmp = tempfile::tempdir().unwrap();
        assert_falls(model, &train_losses(model, &tmp.path().join("run"), &["--epochs", "3"]));
    }
}

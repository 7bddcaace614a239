//! Train -> export -> predict on 64 real movies: a small fusion (LSTM + SimpleCNN) is trained
//! through the CLI, exported in f32, f16 and int8, and must predict what the run's own bundle
//! predicts; a run killed mid-way and resumed must end exactly like an unbroken one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::{marquee_bin, marquee_ok, movies_dir, predicted_probabilities, run_history};

const POSTER: &str = "posters/tt0012349.jpg";
const PLOT: &str = "A tramp cares for a boy after he's abandoned as a newborn by his mother.";

fn train_args(model: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut extra = extra.to_vec();
    extra.extend(["--seed", "7"]);
    tests::train_args(model, out, &extra)
}

fn predict_json(bundle: &Path, poster: Option<&Path>, plot: Option<&str>) -> serde_json::Value {
    let mut args = vec!["predict".to_string(), "--json".into(), "--bundle".into(), bundle.display().to_string()];
    if let Some(poster) = poster {
        args.extend(["--poster".into(), poster.display().to_string()]);
    }
    if let Some(plot) = plot {
        args.extend(["--plot".into(), plot.to_string()]);
    }
    serde_json::from_slice(&marquee_ok(args).stdout).unwrap()
}

fn assert_close(a: &[(String, f64)], b: &[(String, f64)], tolerance: f64) {
    assert_eq!(a.len(), b.len());
    for ((ga, pa), (gb, pb)) in a.iter().zip(b) {
        assert_eq!(ga, gb);
        assert!((pa - pb).abs() <= tolerance, "{ga}: {pa} vs {pb} (tolerance {tolerance})");
    }
}

#[test]
fn fusion_trains_exports_and_predicts_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let lstm = tmp.path().join("lstm");
    let cnn = tmp.path().join("cnn");
    let fusion = tmp.path().join("fusion");
    marquee_ok(train_args("lstm", &lstm, &["--epochs", "2"]));
    // A smaller poster side than the default 224: the bundles must record it and resize to it.
    marquee_ok(train_args("cnn", &cnn, &["--epochs", "1", "--image-size", "96"]));
    let fusion_args = ["--epochs", "5", "--text-model", lstm.to_str().unwrap(), "--image-model", cnn.to_str().unwrap()];
    marquee_ok(train_args("fusion", &fusion, &fusion_args));

    for file in [
        "config.json",
        "genres.json",
        "thresholds.json",
        "metrics.csv",
        "metrics.json",
        "curves.png",
        "genre_f1.png",
        "test_metrics.json",
        "bundle/manifest.json",
        "bundle/model.safetensors",
        "bundle/vocab.json",
    ] {
        assert!(fusion.join(file).is_file(), "the run lacks {file}");
    }
    for bundle in [cnn.join("bundle"), fusion.join("bundle")] {
        assert_eq!(manifest(&bundle)["image"]["size"], 96, "{} forgets --image-size", bundle.display());
    }
    let history = run_history(&fusion);
    let first = history.first().unwrap()["train_loss"].as_f64().unwrap();
    let last = history.last().unwrap()["train_loss"].as_f64().unwrap();
    assert!(last < first, "the fusion head's loss must fall: {first} -> {last}");

    let f32_bundle = tmp.path().join("export-f32");
    let f16_bundle = tmp.path().join("export-f16");
    let int8_bundle = tmp.path().join("export-int8");
    marquee_ok(["export", "--run", fusion.to_str().unwrap(), "--out", f32_bundle.to_str().unwrap()]);
    marquee_ok(["export", "--run", fusion.to_str().unwrap(), "--out", f16_bundle.to_str().unwrap(), "--f16"]);
    marquee_ok(["export", "--run", fusion.to_str().unwrap(), "--out", int8_bundle.to_str().unwrap(), "--int8"]);
    assert_eq!(manifest(&int8_bundle)["dtype"], "int8");
    assert_eq!(manifest(&int8_bundle)["format_version"], 2);

    let poster = movies_dir().join(POSTER);
    let before = predict_json(&fusion.join("bundle"), Some(&poster), Some(PLOT));
    assert_eq!(before["route"], "full");
    let expected = predicted_probabilities(&before);
    assert_close(&predicted_probabilities(&predict_json(&f32_bundle, Some(&poster), Some(PLOT))), &expected, 1e-5);
    assert_close(&predicted_probabilities(&predict_json(&f16_bundle, Some(&poster), Some(PLOT))), &expected, 1e-2);
    assert_close(&predicted_probabilities(&predict_json(&int8_bundle, Some(&poster), Some(PLOT))), &expected, 5e-2);
    let f16_size = std::fs::metadata(f16_bundle.join("model.safetensors")).unwrap().len();
    let f32_size = std::fs::metadata(f32_bundle.join("model.safetensors")).unwrap().len();
    assert!(f16_size * 10 < f32_size * 6, "f16 weights ({f16_size} B) must be about half of f32 ({f32_size} B)");

    // Either input alone: the fusion bundle answers with the branch it has.
    assert_eq!(predict_json(&f32_bundle, None, Some(PLOT))["route"], "text-branch");
    assert_eq!(predict_json(&f32_bundle, Some(&poster), None)["route"], "image-branch");

    stacked_lexical_branch_answers_alike_everywhere(&f32_bundle, tmp.path(), &poster);

    // eval --json on the whole real set carries the contract's keys (the text branch keeps it
    // quick; the fusion bundle reads the same way).
    let lstm_bundle = lstm.join("bundle");
    let eval = marquee_ok([
        "eval",
        "--json",
        "--split",
        "all",
        "--bundle",
        lstm_bundle.to_str().unwrap(),
        "--data",
        movies_dir().to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    for key in ["micro_f1", "macro_f1", "weighted_f1", "samples_f1", "hamming_loss", "subset_accuracy", "per_genre"] {
        assert!(!report[key].is_null(), "eval --json lacks {key}");
    }
    assert_eq!(report["movies"], 6749);
    // The 64-movie model knows fewer genres than the real set has: the rest are reported.
    assert!(!report["unknown_genres"].as_array().unwrap().is_empty());
    assert_eq!(report["per_genre"].as_array().unwrap().len(), report_genres(&lstm_bundle));
}

fn manifest(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

fn report_genres(bundle: &Path) -> usize {
    manifest(bundle)["genres"].as_array().unwrap().len()
}

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let unbroken = tmp.path().join("unbroken");
    let killed = tmp.path().join("killed");
    // One batch per epoch keeps it quick; three epochs leave room to be killed in between.
    let extra = ["--epochs", "3", "--patience", "0", "--max-batches", "1"];
    marquee_ok(train_args("cnn", &unbroken, &extra));

    let mut child = Command::new(marquee_bin()).args(train_args("cnn", &killed, &extra)).spawn().unwrap();
    let state = killed.join("checkpoint/state.json");
    let deadline = Instant::now() + Duration::from_secs(600);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no checkpoint after 10 minutes");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("bundle").exists(), "the run was killed before it finished");

    marquee_ok(["train", "--resume", killed.to_str().unwrap()]);
    let read = |run: &Path, file: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(run.join(file)).unwrap()).unwrap()
    };
    assert_eq!(read(&killed, "thresholds.json"), read(&unbroken, "thresholds.json"));
    let (a, b) = (read(&killed, "test_metrics.json"), read(&unbroken, "test_metrics.json"));
    for key in ["micro_f1", "macro_f1", "weighted_f1", "samples_f1", "hamming_loss"] {
        assert_eq!(a[key], b[key], "{key} differs after resume");
    }
    let losses =
        |run: &Path| -> Vec<f64> { run_history(run).iter().map(|r| r["train_loss"].as_f64().unwrap()).collect() };
    assert_eq!(losses(&killed), losses(&unbroken));
}

/// `marquee stack` on a fusion bundle (the first 400 movies, a small grid): a format-3 bundle
/// with the lexical part and a blend for each route that reads the plot, whose answers are
/// the same through `marquee predict` and `marquee eval`, and which refuses a second stack and
/// an export that would tune its thresholds without the blend.
fn stacked_lexical_branch_answers_alike_everywhere(bundle: &Path, scratch: &Path, poster: &Path) {
    let stacked = scratch.join("stacked");
    let report = scratch.join("stack.json");
    let sources = scratch.join("sources.json");
    let data = movies_dir();
    let stack = |source: &Path, out: &Path| {
        let mut command = Command::new(marquee_bin());
        command.args(["stack", "--limit", "400", "--max-terms", "300,1000", "--l2", "0.001", "--blend-l2", "0.01"]);
        command.args(["--folds", "3", "--data", data.to_str().unwrap()]);
        command.args(["--bundle", source.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        command
            .args(["--report", report.to_str().unwrap(), "--sources-out", sources.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let output = stack(bundle, &stacked);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = manifest(&stacked);
    assert_eq!(written["format_version"], 3);
    assert!(written["parts"]["lexical.safetensors"]["bytes"].as_u64().unwrap() > 1000);
    assert!(written["lexical"]["config"]["max_terms"].as_u64().unwrap() <= 1000);
    assert!(written["lexical"]["text_blend"].is_object(), "a fusion gets a blend for the plot-only route");
    let trials: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let trials = trials["trials"].as_array().unwrap();
    // The bundle alone, two lexicons, four blends of one penalty each with plain and balanced
    // classes, the text branch alone; one lexicon, one blend for the full route and one for the
    // plot-only route kept.
    assert_eq!(trials.len(), 12, "{trials:?}");
    assert_eq!(trials.iter().filter(|t| t["chosen"] == true).count(), 3, "{trials:?}");

    // Every source's logits, for analysis elsewhere: one row of genres per held-out movie.
    let dumped: serde_json::Value = serde_json::from_slice(&std::fs::read(&sources).unwrap()).unwrap();
    let genres = dumped["genres"].as_array().unwrap().len();
    let movies = dumped["folds"].as_array().unwrap().len();
    for source in ["targets", "full", "lexical", "text", "image"] {
        assert_eq!(dumped["validation"][source].as_array().unwrap().len(), movies * genres, "{source}");
    }

    // The blend changes the answers, on both routes that read the plot, and not the image route.
    let plain = predicted_probabilities(&predict_json(bundle, Some(poster), Some(PLOT)));
    let blended = predicted_probabilities(&predict_json(&stacked, Some(poster), Some(PLOT)));
    assert!(plain.iter().zip(&blended).any(|(a, b)| (a.1 - b.1).abs() > 1e-3), "{plain:?} {blended:?}");
    let text_only = predicted_probabilities(&predict_json(&stacked, None, Some(PLOT)));
    assert!(predicted_probabilities(&predict_json(bundle, None, Some(PLOT))) != text_only);
    assert_eq!(
        predicted_probabilities(&predict_json(bundle, Some(poster), None)),
        predicted_probabilities(&predict_json(&stacked, Some(poster), None))
    );

    // `marquee eval` blends each movie as `marquee predict` does: the first test movie's row.
    let csv = scratch.join("predictions.csv");
    marquee_ok([
        "eval",
        "--bundle",
        stacked.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--predictions",
        csv.to_str().unwrap(),
    ]);
    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(|h| h.trim_matches('"').to_string()).collect();
    let first = lines.next().unwrap();
    let id = first.split(',').next().unwrap().trim_matches('"');
    let movies = model_core::data::Dataset::load(&data, Default::default()).unwrap();
    let movie = movies.movies.iter().find(|m| m.id == id).unwrap();
    let predicted = predicted_probabilities(&predict_json(&stacked, Some(&movie.poster), Some(&movie.overview)));
    let values: Vec<f64> = first.rsplit(',').take(header.len() - 4).map(|v| v.parse().unwrap()).collect();
    for (genre, value) in header[4..].iter().zip(values.iter().rev()) {
        let (_, p) = predicted.iter().find(|(g, _)| g == genre).unwrap();
        assert!((p - value).abs() < 1e-4, "{id} {genre}: predict {p}, eval {value}");
    }

    let again = stack(&stacked, &scratch.join("twice"));
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already has a lexical branch"));
    let export = Command::new(marquee_bin())
        .args(["export", "--run", stacked.to_str().unwrap(), "--out", scratch.join("re-export").to_str().unwrap()])
        .args(["--int8", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!export.status.success() && String::from_utf8_lossy(&export.stderr).contains("lexical branch"));
}

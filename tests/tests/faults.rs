//! Faults: `marquee train` killed at random moments, again and again, then resumed, ends exactly
//! like an unbroken run and never leaves a half-written checkpoint; a full disk (a file-size
//! limit, as a full disk answers: "File too large") while saving a checkpoint or exporting a
//! bundle gives a clear error and keeps the previous one.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests::{marquee_bin, marquee_ok, run_history};

/// A quick run: the LSTM baseline on 64 movies, four epochs of two batches.
fn args(out: &Path) -> Vec<String> {
    tests::train_args("lstm", out, &["--epochs", "4", "--patience", "0", "--max-batches", "2", "--seed", "11"])
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The results a finished run must share with an unbroken one.
fn results(run: &Path) -> (serde_json::Value, serde_json::Value, Vec<f64>) {
    let losses = run_history(run).iter().map(|r| r["train_loss"].as_f64().unwrap()).collect();
    (json(&run.join("test_metrics.json")), json(&run.join("thresholds.json")), losses)
}

/// A checkpoint folder is absent or whole.
fn assert_whole_checkpoint(run: &Path) {
    let checkpoint = run.join("checkpoint");
    if checkpoint.exists() {
        for file in ["state.json", "model.bpk", "best.bpk", "optimizer.bpk"] {
            assert!(checkpoint.join(file).is_file(), "checkpoint without {file}");
        }
        let state = json(&checkpoint.join("state.json"));
        assert!(state["epochs_done"].as_u64().unwrap() >= 1);
    }
}

/// A run whose output nobody reads.
fn quiet(command: &mut Command) -> &mut Command {
    command.stdout(Stdio::null()).stderr(Stdio::null())
}

/// A small deterministic generator of kill delays.
struct Delays(u64);

impl Delays {
    fn next(&mut self, max: Duration) -> Duration {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        max.mul_f64((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

#[test]
fn runs_killed_at_random_moments_resume_to_the_unbroken_result() {
    let tmp = tempfile::tempdir().unwrap();
    let unbroken = tmp.path().join("unbroken");
    let started = Instant::now();
    marquee_ok(args(&unbroken));
    let duration = started.elapsed();
    let expected = results(&unbroken);

    let mut delays = Delays(2026);
    let mut kills = 0;
    const RUNS: usize = 5;
    for run_index in 0..RUNS {
        let run = tmp.path().join(format!("killed-{run_index}"));
        // Kill the run, resume it, kill it again... until it finishes on its own.
        for attempt in 0.. {
            assert!(attempt < 50, "run {run_index} never finished");
            let resume = run.join("config.json").is_file();
            let arguments = match resume {
                true => vec!["train".to_string(), "--resume".into(), run.display().to_string()],
                false => args(&run),
            };
            let mut child = quiet(Command::new(marquee_bin()).args(&arguments)).spawn().unwrap();
            let deadline = Instant::now() + delays.next(duration);
            let finished = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "run {run_index} failed on its own");
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            if finished {
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            assert_whole_checkpoint(&run);
        }
        assert_eq!(results(&run), expected, "run {run_index} differs from the unbroken run after its kills");
    }
    println!("{kills} kills survived in {RUNS} runs");
    assert!(kills >= RUNS, "only {kills} kills: the delays missed the runs");
}

/// Runs `marquee` with a file-size limit of `kilobytes`, where writing past it fails as on a
/// full disk (the signal it would raise is ignored, so the write returns "File too large").
fn marquee_on_a_small_disk(kilobytes: u64, arguments: &[String]) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {kilobytes}; exec \"$0\" \"$@\"");
    Command::new("bash").arg("-c").arg(script).arg(marquee_bin()).args(arguments).output().unwrap()
}

#[test]
fn a_full_disk_keeps_the_previous_checkpoint_and_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let unbroken = tmp.path().join("unbroken");
    marquee_ok(args(&unbroken));

    // A run killed after its first checkpoint, then resumed on a full disk: the next checkpoint
    // cannot be written, the error says why, and the first one is still there, whole.
    let run = tmp.path().join("run");
    let mut child = quiet(Command::new(marquee_bin()).args(args(&run))).spawn().unwrap();
    let state = run.join("checkpoint/state.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !state.exists() {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "no first checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(&state).unwrap();
    let resume = ["train".to_string(), "--resume".into(), run.display().to_string()];
    let output = marquee_on_a_small_disk(100, &resume);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a clean failure: {stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "the previous checkpoint is kept");
    assert_whole_checkpoint(&run);
    assert!(!run.join("checkpoint.partial").exists(), "nothing half-written is left");
    // With room again, the run ends as if nothing had happened.
    marquee_ok(&resume);
    assert_eq!(results(&run), results(&unbroken));

    // Exporting over an existing bundle on a full disk keeps the existing one.
    let bundle = tmp.path().join("exported");
    let export = |dtype: &str| -> Vec<String> {
        ["export", "--run", run.to_str().unwrap(), "--out", bundle.to_str().unwrap(), dtype]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    marquee_ok(export("--f16"));
    let manifest = std::fs::read(bundle.join("manifest.json")).unwrap();
    let output = marquee_on_a_small_disk(100, &export("--int8"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a clean failure: {stderr}");
    assert!(stderr.contains("File too large") && stderr.contains("exported"), "{stderr}");
    assert_eq!(std::fs::read(bundle.join("manifest.json")).unwrap(), manifest, "the previous bundle is kept");
    marquee_ok(["predict", "--bundle", bundle.to_str().unwrap(), "--plot", "A detective hunts a killer."]);
}

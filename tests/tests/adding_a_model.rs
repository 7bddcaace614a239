//! README's "Adding a model", followed literally: in a copy of the workspace, the toy model
//! `tests/fixtures/tiny_cnn.rs` goes into `model-core/src/models/` and its one line into the
//! registry's list; nothing else is edited. The copy's CLI then lists it, trains it on 64 real
//! movies (its training loss falls) and predicts with its bundle.
//!
//! The copy builds in the same target folder as the workspace (its dependencies are already
//! built there; only Marquee's own crates compile again, a few minutes), under another binary
//! name so that the workspace's `marquee` is left alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::{manifest_dir, marquee_bin, movies_dir};

/// The registry line README gives for the toy model.
const REGISTRY_LINE: &str = "        tiny_cnn::TinyCnn(TinyCnn, TinyCnnConfig) => [ARCHITECTURE],";

/// Copies the workspace's crates (not its target folder, page or data) into `to`.
fn copy_workspace(from: &Path, to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "target" {
                    copy(&entry.path(), &target);
                }
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    std::fs::create_dir_all(to).unwrap();
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    for member in ["kernels", "model-core", "trainer", "web", "serve", "tests"] {
        copy(&from.join(member), &to.join(member));
    }
}

/// The target folder the workspace's `marquee` was built in (`target/debug/marquee`).
fn target_dir() -> PathBuf {
    marquee_bin().parent().and_then(Path::parent).expect("target/<profile>/marquee").to_path_buf()
}

#[test]
fn a_model_is_one_file_and_one_registry_line() {
    let root = manifest_dir().join("..");
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("workspace");
    copy_workspace(&root, &copy);

    // The one file and the one line.
    std::fs::copy(root.join("tests/fixtures/tiny_cnn.rs"), copy.join("model-core/src/models/tiny_cnn.rs")).unwrap();
    let registry = copy.join("model-core/src/models/mod.rs");
    let source = std::fs::read_to_string(&registry).unwrap();
    let image_list =
        source.find("registry! {").and_then(|at| source[at..].find("    image {").map(|i| at + i)).unwrap();
    let line_end = image_list + source[image_list..].find('\n').unwrap() + 1;
    std::fs::write(&registry, format!("{}{REGISTRY_LINE}\n{}", &source[..line_end], &source[line_end..])).unwrap();
    // Built under another binary name and version, so that neither the workspace's `marquee` nor
    // its crates' artifacts are replaced (cargo names a workspace crate's artifacts by its path
    // inside the workspace and its version, the same in the copy).
    let edit = |file: &str, from: &str, to: &str| {
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("trainer/Cargo.toml", "name = \"marquee\"", "name = \"marquee-tiny-cnn\"");
    edit("Cargo.toml", "version = \"0.1.0\"", "version = \"0.1.0-tiny-cnn\"");

    let target = target_dir();
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "trainer", "--bin", "marquee-tiny-cnn"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the copy with the toy model does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let marquee = target.join("debug/marquee-tiny-cnn");
    let run = |args: &[&str]| {
        let output = Command::new(&marquee).args(args).output().unwrap();
        assert!(output.status.success(), "marquee {args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };

    assert!(run(&["models", "--names"]).lines().any(|l| l.starts_with("tiny-cnn\timage\t")));
    let out = tmp.path().join("run");
    let data = movies_dir();
    let (data, out_arg) = (data.to_str().unwrap(), out.to_str().unwrap());
    let args = ["train", "--model", "tiny-cnn", "--data", data, "--out", out_arg, "--limit", "64", "--epochs", "3"];
    run(&[&args[..], &["--image-size", "64", "--patience", "0", "--seed", "7"]].concat());
    let history: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let losses: Vec<f64> = history.iter().map(|r| r["train_loss"].as_f64().unwrap()).collect();
    assert!(losses.last() < losses.first(), "tiny-cnn's training loss must fall: {losses:?}");
    let poster = Path::new(data).join("posters/tt0012349.jpg");
    let predicted = run(&["predict", "--json", "--bundle", out_arg, "--poster", poster.to_str().unwrap()]);
    let predicted: serde_json::Value = serde_json::from_str(&predicted).unwrap();
    assert!(!predicted["genres"].as_array().unwrap().is_empty());
}

//! The bad-input corpus (`tests/corpus/`, made by `scripts/make-corpus.py`, plus inputs built
//! here): each input and the answer it must get, through the library and through the CLI. Bad
//! input gets an error naming it, never a crash, a hang or a run of foreign code; what is
//! unusual but valid (a 1x1 poster, CMYK, 16 bits, a 1 MB plot, emoji) is classified.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use model_core::preprocess::image::decode_image;
use tests::{manifest_dir, marquee_bin, marquee_ok};

/// What a corpus input must give: accepted, or an error containing this text.
const IMAGES: &[(&str, Option<&str>)] = &[
    ("real-poster.jpg", None),
    ("one-pixel.png", None),
    ("wide-10000x10.png", None),
    ("cmyk.jpg", None),
    ("gray-16bit.png", None),
    ("rgba.webp", None),
    ("truncated.jpg", Some("truncated JPEG")),
    ("corrupt.jpg", Some("corrupt.jpg")),
    ("truncated.png", Some("truncated.png")),
    ("truncated.webp", Some("truncated.webp")),
    ("empty.jpg", Some("the file is empty")),
    ("text.jpg", Some("not a JPEG, PNG or WebP image")),
    ("bomb-20000x20000.png", Some("limit")),
    ("bomb-11000x11000.png", Some("limit")),
];

fn corpus(relative: &str) -> PathBuf {
    manifest_dir().join("corpus").join(relative)
}

fn default_bundle() -> PathBuf {
    manifest_dir().join("../www/models/default")
}

fn marquee(args: &[&str]) -> Output {
    Command::new(marquee_bin()).args(args).output().expect("run marquee")
}

/// The failure's stderr, after checking it failed cleanly (exit status 1, not a signal).
fn failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "a clean failure, not a crash: {stderr}");
    stderr
}

#[test]
fn posters_through_the_library() {
    for &(name, expected) in IMAGES {
        let bytes = std::fs::read(corpus(&format!("images/{name}"))).unwrap();
        match (decode_image(&bytes, name), expected) {
            (Ok(image), None) => assert!(image.width() > 0 && image.height() > 0, "{name}"),
            (Err(error), Some(text)) => {
                let message = error.to_string();
                assert!(message.contains(name) && message.contains(text), "{name}: {message}");
            }
            (Ok(_), Some(text)) => panic!("{name} was accepted; expected an error with '{text}'"),
            (Err(error), None) => panic!("{name} was refused: {error}"),
        }
    }
}

#[test]
fn posters_and_plots_through_the_cli() {
    let bundle = default_bundle();
    let bundle = bundle.to_str().unwrap();
    for &(name, expected) in IMAGES {
        let poster = corpus(&format!("images/{name}"));
        let output = marquee(&["predict", "--bundle", bundle, "--poster", poster.to_str().unwrap(), "--json"]);
        match expected {
            None => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(output.status.success(), "{name} was refused: {stderr}");
                let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
                assert!(!json["genres"].as_array().unwrap().is_empty(), "{name}");
            }
            Some(text) => {
                let stderr = failure(&output);
                assert!(stderr.contains(name) && stderr.contains(text), "{name}: {stderr}");
            }
        }
    }
    // Plots: a megabyte of text is cut to the tokenizer's length; emoji alone are unknown tokens.
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join("long.txt");
    std::fs::write(&long, "A detective hunts a killer through the rain. ".repeat(1 << 20 >> 6)).unwrap();
    for plot in [vec!["--plot-file", long.to_str().unwrap()], vec!["--plot", "🎬🔥💀👻🚀🤖"]] {
        let mut args = vec!["predict", "--bundle", bundle, "--json"];
        args.extend(plot);
        let output = marquee_ok(&args);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["route"], "text-branch", "{json}");
    }
    let stderr = failure(&marquee(&["predict", "--bundle", bundle, "--poster", "/no/such/poster.jpg"]));
    assert!(stderr.contains("/no/such/poster.jpg"), "{stderr}");
}

/// A change that spoils a bundle folder.
type Spoil = Box<dyn FnOnce(&Path)>;

/// Copies the default bundle into `dir` and lets `spoil` change it.
fn spoiled_bundle(dir: &Path, spoil: impl FnOnce(&Path)) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(default_bundle()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    spoil(dir);
    dir.to_path_buf()
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

#[test]
fn spoiled_bundles_are_refused_with_the_part_at_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = "model.safetensors";
    let flip_a_byte = move |dir: &Path| {
        let mut bytes = std::fs::read(dir.join(weights)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(dir.join(weights), bytes).unwrap();
    };
    let truncate = move |dir: &Path| {
        let bytes = std::fs::read(dir.join(weights)).unwrap();
        std::fs::write(dir.join(weights), &bytes[..bytes.len() / 3]).unwrap();
    };
    let cases: Vec<(&str, Spoil, &[&str])> = vec![
        ("checksum", Box::new(flip_a_byte), &["model.safetensors", "sha256", "does not match"]),
        ("truncated", Box::new(truncate), &["model.safetensors", "truncated"]),
        (
            "shapes",
            Box::new(|dir: &Path| edit_manifest(dir, |m| m["model"]["fusion"]["head"]["hidden"] = 64.into())),
            &["model.safetensors", "shape"],
        ),
        (
            "version",
            Box::new(|dir: &Path| edit_manifest(dir, |m| m["format_version"] = 99.into())),
            &["manifest.json", "format version 99 is newer"],
        ),
        (
            "not-json",
            Box::new(|dir: &Path| std::fs::write(dir.join("manifest.json"), "{ nope").unwrap()),
            &["manifest.json", "not JSON"],
        ),
        (
            "missing-part",
            Box::new(|dir: &Path| std::fs::remove_file(dir.join("tokenizer.json")).unwrap()),
            &["tokenizer.json"],
        ),
    ];
    for (name, spoil, expected) in cases {
        let dir = spoiled_bundle(&tmp.path().join(name), spoil);
        let stderr = failure(&marquee(&["predict", "--bundle", dir.to_str().unwrap(), "--plot", "A heist."]));
        for text in expected {
            assert!(stderr.contains(text), "{name}: '{text}' not in {stderr}");
        }
    }
}

#[test]
fn pickles_that_would_run_code_are_refused_without_running_it() {
    let marker = Path::new("/tmp/marquee-pickle-ran");
    let _ = std::fs::remove_file(marker);
    let tmp = tempfile::tempdir().unwrap();
    for file in ["runs-code-legacy.pth", "runs-code-zip.pth"] {
        let weights = corpus(&format!("weights/{file}"));
        let out = tmp.path().join(file);
        let args = tests::train_args("efficientnet-lite0", &out, &["--weights", weights.to_str().unwrap()]);
        let output = Command::new(marquee_bin()).args(&args).output().unwrap();
        let stderr = failure(&output);
        assert!(stderr.contains(file) && stderr.contains("not weights for this model"), "{file}: {stderr}");
        assert!(!marker.exists(), "{file}: unpickling ran its command");
    }
}

#[test]
fn bad_glove_files_name_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("ragged.txt", "the 0.1 0.2\ncat 1\n", "line 2: 1 values, expected 2"),
        ("words.txt", "the 0.1 zero\n", "line 1: invalid float literal"),
        ("empty.txt", "", "no vectors"),
    ];
    for (name, text, expected) in cases {
        let glove = tmp.path().join(name);
        std::fs::write(&glove, text).unwrap();
        let out = tmp.path().join(format!("run-{name}"));
        let args = tests::train_args("lstm-glove", &out, &["--weights", glove.to_str().unwrap()]);
        let stderr = failure(&Command::new(marquee_bin()).args(&args).output().unwrap());
        assert!(stderr.contains(name) && stderr.contains(expected), "{name}: {stderr}");
    }
}

#[test]
fn bad_csv_rows_are_reported_by_data_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let poster = std::fs::read(corpus("images/real-poster.jpg")).unwrap();
    std::fs::create_dir(data.join("posters")).unwrap();
    std::fs::write(data.join("posters/a.jpg"), &poster).unwrap();
    let mut csv = b"id,title,year,overview,genres,poster\n".to_vec();
    csv.extend_from_slice(b"tt1,Good,1999,A plot.,Drama,posters/a.jpg\n");
    csv.extend_from_slice(b"tt2,Fields,1999,A plot.\n");
    csv.extend_from_slice(b"tt3,Bad \xff,1999,A plot.,Drama,posters/a.jpg\n");
    csv.extend_from_slice(b"tt1,Twice,1999,A plot.,Drama,posters/a.jpg\n");
    csv.extend_from_slice(b"tt4,Escape,1999,A plot.,Drama,../../etc/passwd\n");
    csv.extend_from_slice(b"tt5,Quote,1999,\"A plot that never ends,Drama,posters/a.jpg\n");
    std::fs::write(data.join("movies.csv"), csv).unwrap();
    let output = marquee_ok(["data", "stats", "--data", data.to_str().unwrap(), "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["movies"], 1, "{stats}");
    let reasons: Vec<String> =
        stats["bad_rows"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap().to_string()).collect();
    let expected = ["has 4 fields", "not valid UTF-8", "duplicate id", "leaves the data folder", "fields"];
    assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
    for (reason, text) in reasons.iter().zip(expected) {
        assert!(reason.contains(text), "'{text}' not in '{reason}'");
    }
    let strict = marquee(&["data", "stats", "--data", data.to_str().unwrap(), "--strict"]);
    assert!(failure(&strict).contains("movies.csv:3"));
}

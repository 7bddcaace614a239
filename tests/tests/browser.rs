//! The page and the widget in a real browser: headless Chromium (driven by playwright-core from
//! `tests/browser/drive.mjs`) opens the page that `marquee serve` serves with the default
//! bundle, classifies three real test-split movies through the UI, and every probability it
//! shows must equal `marquee predict` on the same bundle within 1e-3, on WebGPU (SwiftShader
//! here) and on the CPU fallback (WebGPU off). It also checks bad inputs, the offline second
//! visit and the widget embedded in a plain page under the server's Content-Security-Policy.
//! On the CPU run the page's explanations must equal `marquee explain`'s within 1e-3, and a
//! genre's bar in the widget must explain it. A second bundle, MiniLM + ResNet-50, proves the
//! other image backbone on both backends.
//!
//! Needs `www/pkg/` (built by `scripts/build-web.sh`), Chromium at `/usr/bin/chromium` (or
//! `$MARQUEE_CHROMIUM`) and `npm ci` (both done by `.ci/run`).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use model_core::preprocess::image::decode_image;
use tests::{marquee_bin, marquee_ok, predicted_probabilities};

fn repo() -> PathBuf {
    tests::manifest_dir().join("..")
}

/// `marquee serve` on a free port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(bundle: &Path) -> Self {
        let mut child = Command::new(marquee_bin())
            .args(["serve", "--port", "0", "--www"])
            .arg(repo().join("www"))
            .arg("--bundle")
            .arg(bundle)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start marquee serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().expect("marquee serve printed its address").expect("utf-8");
            if let Some(rest) = line.strip_prefix("open ") {
                break rest.split_whitespace().next().expect("a URL").to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `count` sample movies the page offers (test-split movies).
fn corpus_dir() -> PathBuf {
    tests::manifest_dir().join("corpus/images")
}

/// The bad-input corpus's posters, for the widget.
fn corpus_posters() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn sample_movies(count: usize) -> Vec<serde_json::Value> {
    let samples: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(repo().join("www/samples/samples.json")).expect("www/samples/samples.json"),
    )
    .expect("samples.json is JSON");
    samples.into_iter().take(count).collect()
}

/// Asserts that `genres` (`[{genre, probability}, ..]` as the browser showed them) holds every
/// genre of `want` (`marquee predict`'s, sorted by genre) within 1e-3; `what` names the run.
fn assert_matches_predict(genres: &serde_json::Value, want: &[(String, f64)], what: &str) {
    let mut got: Vec<(String, f64)> = genres
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["genre"].as_str().unwrap().to_string(), g["probability"].as_f64().unwrap()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), want.len(), "{what}: every genre shown");
    for ((genre, p), (want_genre, q)) in got.iter().zip(want) {
        assert_eq!(genre, want_genre);
        assert!((p - q).abs() < 1e-3, "{what} {genre}: browser {p} vs marquee predict {q}");
    }
}

fn expected(bundle: &Path, poster: &Path, plot: &str) -> Vec<(String, f64)> {
    expected_with(bundle, poster, plot, &[])
}

/// [`expected`] with more arguments of `marquee predict` (`--title`, `--year`).
fn expected_with(bundle: &Path, poster: &Path, plot: &str, more: &[&str]) -> Vec<(String, f64)> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "predict".as_ref(),
        "--bundle".as_ref(),
        bundle.as_os_str(),
        "--poster".as_ref(),
        poster.as_os_str(),
        "--plot".as_ref(),
        plot.as_ref(),
        "--json".as_ref(),
    ];
    args.extend(more.iter().map(|a| std::ffi::OsStr::new(*a)));
    let output = marquee_ok(args);
    predicted_probabilities(&serde_json::from_slice(&output.stdout).expect("predict --json"))
}

/// A plot whose Horror explanation must rank one of its two horror words first.
const HORROR_PLOT: &str = "The family finds a zombie in their haunted house.";

/// What the page explains: the first sample movie (poster and plot; the plot with blanks before
/// it and letters outside ASCII, so that the words' byte offsets must become JavaScript's) for
/// its first true genre, and [`HORROR_PLOT`] alone for Horror.
fn explain_cases(www: &Path) -> Vec<serde_json::Value> {
    let sample = &sample_movies(1)[0];
    let poster = www.join(sample["poster"].as_str().unwrap());
    let plot = format!("  {}  Café noir, 🎬.", sample["plot"].as_str().unwrap());
    vec![
        serde_json::json!({"poster": poster, "plot": plot, "genre": sample["genres"][0]}),
        serde_json::json!({"poster": null, "plot": HORROR_PLOT, "genre": "Horror"}),
    ]
}

/// `marquee explain --json` of one of [`explain_cases`] (a movie and a genre): the shape the
/// page's `explain` returns.
fn expected_explanation(bundle: &Path, case: &serde_json::Value) -> serde_json::Value {
    let (plot, genre) = (case["plot"].as_str().unwrap(), case["genre"].as_str().unwrap());
    let mut args: Vec<OsString> = vec!["explain".into(), "--bundle".into(), bundle.into()];
    if let Some(poster) = case["poster"].as_str() {
        args.extend([OsString::from("--poster"), poster.into()]);
    }
    args.extend([OsString::from("--plot"), plot.into(), "--genre".into(), genre.into(), "--json".into()]);
    serde_json::from_slice(&marquee_ok(args).stdout).expect("explain --json")
}

/// Asserts that the page's explanation of one genre (`got`) equals `marquee explain`'s (`want`)
/// within 1e-3 (relative above 1): the probability, the logit, the sources, every word (its
/// text, its offsets, which index `plot` as JavaScript does, its scores) and every poster cell.
fn assert_matches_explain(got: &serde_json::Value, want: &serde_json::Value, plot: &str, what: &str) {
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("{what}: {v} is not a number"));
    let close = |got: &serde_json::Value, want: &serde_json::Value, name: &str| {
        let (g, w) = (number(got), number(want));
        assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "{what} {name}: browser {g} vs marquee explain {w}");
    };
    for key in ["genre", "predicted", "route", "wordMethod", "posterMethod"] {
        assert_eq!(got[key], want[key], "{what} {key}");
    }
    close(&got["probability"], &want["probability"], "probability");
    close(&got["logit"], &want["logit"], "logit");
    for source in ["text", "image", "lexical", "joint", "bias"] {
        close(&got["sources"][source], &want["sources"][source], source);
    }
    let (got_words, want_words) = (got["words"].as_array().unwrap(), want["words"].as_array().unwrap());
    assert_eq!(got_words.len(), want_words.len(), "{what}: the words");
    assert!(!want_words.is_empty(), "{what}: a plot has words");
    let units: Vec<u16> = plot.encode_utf16().collect();
    for (i, (g, w)) in got_words.iter().zip(want_words).enumerate() {
        for key in ["word", "start", "end", "read"] {
            assert_eq!(g[key], w[key], "{what}: word {i}'s {key}");
        }
        let (start, end) = (g["start"].as_u64().unwrap() as usize, g["end"].as_u64().unwrap() as usize);
        assert_eq!(
            String::from_utf16(&units[start..end]).ok().as_deref(),
            w["word"].as_str(),
            "{what}: plot.slice of {g}"
        );
        close(&g["score"], &w["score"], &format!("word {i} ({})", w["word"]));
        close(&g["lexical"], &w["lexical"], &format!("word {i}'s lexical part"));
    }
    match want["poster"].as_object() {
        None => assert!(got["poster"].is_null(), "{what}: no poster, no grid"),
        Some(poster) => {
            assert_eq!(
                (&got["poster"]["rows"], &got["poster"]["cols"]),
                (&poster["rows"], &poster["cols"]),
                "{what}: the grid"
            );
            let (cells, want_cells) =
                (got["poster"]["scores"].as_array().unwrap(), poster["scores"].as_array().unwrap());
            assert_eq!(cells.len(), want_cells.len(), "{what}: the poster's cells");
            for (i, (g, w)) in cells.iter().zip(want_cells).enumerate() {
                close(g, w, &format!("poster cell {i}"));
            }
        }
    }
}

/// Runs `tests/browser/SCRIPT` with its JSON configuration and returns what it printed.
fn run_node(script: &str, config: &serde_json::Value) -> String {
    let output = Command::new("node")
        .arg(repo().join("tests/browser").join(script))
        .arg(config.to_string())
        .current_dir(repo())
        .output()
        .expect("run node (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Drives the page served with `bundle` through `movies` sample movies; `full` adds the
/// backend-independent UI checks.
fn run_browser(bundle: &Path, webgpu: bool, full: bool, movies: usize) {
    let www = repo().join("www");
    for package in ["cpu", "cpu-relaxed", "cpu-threads", "webgpu", "explain"] {
        assert!(
            www.join("pkg").join(package).join("marquee_web_bg.wasm").is_file(),
            "www/pkg/{package} is not built: run scripts/build-web.sh (the README's test command does)"
        );
    }
    // What a visitor without WebGPU downloads stays within issue 30's 4 MB.
    for package in ["cpu", "cpu-relaxed", "cpu-threads"] {
        let bytes = std::fs::metadata(www.join("pkg").join(package).join("marquee_web_bg.wasm")).unwrap().len();
        assert!(bytes <= 4_000_000, "www/pkg/{package}/marquee_web_bg.wasm is {bytes} bytes, over 4 MB");
    }
    let chromium = std::env::var("MARQUEE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).is_file(), "{chromium} is missing: install Debian's chromium (.ci/run does)");
    assert!(
        repo().join("node_modules/playwright-core").is_dir(),
        "node_modules is missing: run `npm ci` (.ci/run does)"
    );

    let server = Server::start(bundle);
    let scratch = tempfile::tempdir().unwrap();
    let not_an_image = scratch.path().join("notes.txt");
    std::fs::write(&not_an_image, "this is a text file, not a poster").unwrap();
    let huge = scratch.path().join("huge.jpg");
    std::fs::write(&huge, vec![0xAB; 20 * 1000 * 1000]).unwrap();
    let corrupt = scratch.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xFF\xD8\xFF\xE0 not really a JPEG").unwrap();
    let screenshots = repo().join("target/browser-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    let movies: Vec<serde_json::Value> = sample_movies(movies)
        .into_iter()
        .map(|m| {
            let poster = www.join(m["poster"].as_str().unwrap());
            serde_json::json!({"id": m["id"], "poster": poster, "plot": m["plot"], "title": m["title"], "year": m["year"]})
        })
        .collect();
    let explain = explain_cases(&www);
    let config = serde_json::json!({
        "baseUrl": server.url,
        "webgpu": webgpu,
        "chromium": chromium,
        "movies": movies,
        "screenshots": screenshots,
        "full": full,
        "badInputs": {"notAnImage": not_an_image, "hugeImage": huge, "corruptImage": corrupt},
        "corpus": corpus_posters(),
        "explain": explain,
        "explainOnWebgpu": webgpu && bundle == default_bundle(),
    });
    let stdout = run_node("drive.mjs", &config);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("drive.mjs prints JSON");
    assert!(
        report["fatal"].is_null(),
        "the browser run broke off: {}\nconsole: {}",
        report["fatal"],
        report["console"]
    );
    let served = model_core::bundle::Bundle::read_dir(bundle).expect("the bundle").manifest.name;
    assert_eq!(report["name"].as_str(), Some(served.as_str()), "the page loaded the bundle the server serves");
    let backend = if webgpu { "webgpu" } else { "cpu" };
    assert_eq!(report["backend"], backend, "fallback reason: {}", report["fallbackReason"]);
    // The server's pages are cross-origin isolated and Chromium compiles relaxed SIMD, so
    // marquee.js picks the threaded CPU package, with fused multiply-adds.
    assert_eq!(report["crossOriginIsolated"], true, "marquee serve isolates the page (COOP/COEP)");
    let package = if webgpu { "webgpu" } else { "cpu-threads" };
    assert_eq!(report["package"], package, "the wasm package matches the backend");
    if !webgpu {
        assert!(report["threads"].as_u64().is_some_and(|t| t >= 2), "threads: {}", report["threads"]);
    }
    let requests: Vec<&str> = report["packageRequests"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    assert!(requests.iter().any(|r| r.ends_with(&format!("pkg/{package}/marquee_web_bg.wasm"))), "{requests:?}");
    if webgpu {
        let missing = &report["webgpuPackageMissing"];
        assert_eq!((&missing["backend"], &missing["package"]), (&"cpu".into(), &"cpu-threads".into()), "{missing}");
        let reason = missing["fallbackReason"].as_str().unwrap_or_default();
        assert!(reason.contains("the WebGPU package did not start"), "{missing}");
    }
    if !webgpu {
        assert!(report["fallbackReason"].as_str().is_some_and(|r| !r.is_empty()), "the fallback says why");
        assert!(
            requests.iter().all(|r| !r.contains("/pkg/webgpu/")),
            "a visitor without WebGPU downloads no WebGPU code: {requests:?}"
        );
    }
    assert!(report["samplesShown"].as_u64().unwrap() >= 3, "the page offers sample movies");

    // Every shown probability equals `marquee predict` on the same bundle.
    let wants: Vec<Vec<(String, f64)>> = movies
        .iter()
        .map(|movie| expected(bundle, Path::new(movie["poster"].as_str().unwrap()), movie["plot"].as_str().unwrap()))
        .collect();
    for ((movie, shown), want) in movies.iter().zip(report["movies"].as_array().unwrap()).zip(&wants) {
        assert!(shown["error"].is_null(), "{}: {}", movie["id"], shown["error"]);
        assert_matches_predict(&shown["genres"], want, &format!("{} on {backend}", movie["id"]));
        assert!(shown["genres"].as_array().unwrap().iter().any(|g| g["predicted"] == true), "a genre is highlighted");
    }
    // The explain package answers whichever package classifies: the first case explained from
    // this run's other classifiers equals `marquee explain`'s too. Each case's `marquee explain`
    // runs once, where a check needs it.
    let explain_wants: Vec<serde_json::Value> = match (full, webgpu && bundle == default_bundle()) {
        (true, _) => explain.iter().map(|case| expected_explanation(bundle, case)).collect(),
        (false, true) => vec![expected_explanation(bundle, &explain[0])],
        (false, false) => Vec::new(),
    };
    let (first_plot, first_genre) = (explain[0]["plot"].as_str().unwrap(), explain[0]["genre"].as_str().unwrap());
    if webgpu && bundle == default_bundle() {
        let run = &report["webgpuExplanation"];
        assert_eq!(run["backend"], "webgpu", "a WebGPU classifier explained: {run}");
        let what = format!("{first_genre} explained from a WebGPU classifier");
        assert_matches_explain(&run["explanation"], &explain_wants[0], first_plot, &what);
    }
    // The single-thread CPU packages give the same probabilities (the full run loads them too).
    if full {
        let others = report["otherCpuPackages"].as_array().expect("the other CPU packages ran");
        for (run, package) in others.iter().zip(["cpu-relaxed", "cpu"]) {
            assert_eq!((&run["package"], &run["threads"]), (&package.into(), &1.into()), "{run}");
            for ((movie, genres), want) in movies.iter().zip(run["movies"].as_array().unwrap()).zip(&wants) {
                assert_matches_predict(genres, want, &format!("{} on the {package} package", movie["id"]));
            }
            // A title and a year reach the lexical branch as `marquee predict --title --year`'s.
            let first = &movies[0];
            let (title, year) = (first["title"].as_str().unwrap(), first["year"].to_string());
            let poster = Path::new(first["poster"].as_str().unwrap());
            let want =
                expected_with(bundle, poster, first["plot"].as_str().unwrap(), &["--title", title, "--year", &year]);
            assert_matches_predict(&run["withDetails"], &want, &format!("{title} ({year}) on the {package} package"));
            let reads = model_core::bundle::Bundle::read_dir(bundle).unwrap().manifest.lexical.map(|l| l.config);
            assert_eq!(run["reads"]["title"], reads.as_ref().is_some_and(|c| c.reads_title), "{}", run["reads"]);
            assert_eq!(run["reads"]["year"], reads.as_ref().is_some_and(|c| c.reads_year), "{}", run["reads"]);
            let refused = run["badDetails"].as_str().unwrap_or_default();
            assert!(refused.contains("the details must be"), "a year that is not a number: {}", run["badDetails"]);
            let what = format!("{first_genre} explained from the {package} package's classifier");
            assert_matches_explain(&run["explanation"], &explain_wants[0], first_plot, &what);
        }
        // The page's explanations equal `marquee explain`'s; the explain package is fetched on
        // the first `explain` call, not before.
        assert_eq!(report["explainFetchedEarly"], false, "the explain package was fetched before a call: {requests:?}");
        assert!(requests.iter().any(|r| r.ends_with("pkg/explain/marquee_web_bg.wasm")), "{requests:?}");
        let explained = &report["explain"];
        let cases = explained["cases"].as_array().expect("the page explained");
        assert_eq!(cases.len(), explain.len(), "every movie explained");
        for ((case, got), want) in explain.iter().zip(cases).zip(&explain_wants) {
            let (plot, genre) = (case["plot"].as_str().unwrap(), case["genre"].as_str().unwrap());
            assert_matches_explain(&got["explanation"], want, plot, &format!("{genre} explained in the browser"));
        }
        let score = |w: &serde_json::Value| w["score"].as_f64().unwrap();
        let horror = cases[1]["explanation"]["words"].as_array().unwrap();
        let top = horror.iter().max_by(|&a, &b| score(a).total_cmp(&score(b))).expect("words");
        let word = top["word"].as_str().unwrap().to_lowercase();
        assert!(word == "zombie" || word == "haunted", "Horror's first word in \"{HORROR_PLOT}\": {top}");
        let bytes = std::fs::metadata(www.join("pkg/explain/marquee_web_bg.wasm")).unwrap().len();
        assert_eq!(explained["explainPackageBytes"].as_u64(), Some(bytes), "the explain package's size");
        let unknown = explained["unknownGenre"].as_str().expect("an unknown genre is refused");
        assert!(unknown.contains("no genre 'Space Opera'"), "{unknown}");
        assert!(
            explained["afterDispose"].as_str().is_some_and(|e| e.contains("disposed")),
            "{}",
            explained["afterDispose"]
        );
        let _ = writeln!(
            std::io::stderr(),
            "browser explanation: first {:.0} ms (with the explain package's start), then {:.0} ms; every predicted genre of one movie {:.0} ms against classifying it {:.0} ms on {}",
            cases[0]["millis"].as_f64().unwrap(),
            cases[1]["millis"].as_f64().unwrap(),
            explained["explainAllMillis"].as_f64().unwrap(),
            explained["classifyMillis"].as_f64().unwrap(),
            explained["classifyPackage"]
        );
    }
    let first = report["movies"][0]["millis"].as_f64().unwrap();
    let steady = report["repeat"]["millis"].as_f64().unwrap();
    // Written to stderr directly (not through `eprintln!`), so the test log shows it even
    // when the test passes and its output is captured.
    let _ = writeln!(
        std::io::stderr(),
        "browser classification latency on {backend}: first {first:.0} ms, steady {steady:.0} ms (poster + plot, {})",
        report["name"]
    );
    // A second visit loads the bundle from Cache Storage.
    assert_eq!(report["reload"]["fromCache"], true, "second visit: {}", report["reload"]);
    if !full {
        return;
    }
    assert_eq!(report["sampleClick"].as_u64(), Some(20), "one click on a sample classifies it");

    // Bad inputs: clear messages, and the classifier still works afterwards.
    let bad = &report["badInputs"];
    let message = |key: &str| {
        bad[key]["error"].as_str().unwrap_or_else(|| panic!("{key} gave no error: {}", bad[key])).to_string()
    };
    assert!(message("notAnImage").contains("not an image"), "{}", message("notAnImage"));
    assert!(message("emptyForm").contains("Add a poster, a plot, or both"), "{}", message("emptyForm"));
    assert!(message("hugeImage").contains("limit is 10 MB"), "{}", message("hugeImage"));
    assert!(message("corruptImage").contains("poster"), "{}", message("corruptImage"));
    assert!(message("badYear").contains("The year \"3000\" is not a year"), "{}", message("badYear"));
    assert!(
        bad["afterwards"]["genres"].as_array().is_some_and(|g| g.len() == 20),
        "usable after errors: {}",
        bad["afterwards"]
    );
    assert!(message("missingBundle").contains("HTTP 404"), "{}", message("missingBundle"));
    let truncated = bad["truncatedBundle"]["error"].as_str().expect("a truncated bundle is refused");
    assert!(truncated.contains("model.safetensors") && truncated.contains("truncated"), "{truncated}");
    // The bad-input corpus: the widget refuses what the library refuses, shows bars for the rest.
    let corpus = bad["corpus"].as_array().expect("the corpus was tried");
    assert_eq!(corpus.len(), corpus_posters().len());
    for outcome in corpus {
        let file = outcome["file"].as_str().unwrap();
        let refused = !outcome["error"].is_null();
        let should_refuse = decode_image(&std::fs::read(corpus_dir().join(file)).unwrap(), file).is_err();
        assert_eq!(refused, should_refuse, "{file}: {outcome}");
        assert!(refused || outcome["genres"] == 20, "{file}: {outcome}");
    }
    for plot in bad["plots"].as_array().expect("the odd plots were tried") {
        assert!(plot["error"].is_null() && plot["genres"] == 20, "{plot}");
    }
    assert!(bad["slowBundle"]["error"].is_null(), "a slow bundle loads: {}", bad["slowBundle"]);
    assert_eq!(bad["slowBundleClassified"]["genres"].as_array().map(Vec::len), Some(20));
    // Memory stays flat over 100 classifications, and a disposed model's memory is reused.
    let memory = &report["memory"];
    let mb = |when: &str, what: &str| memory[when][what].as_f64().unwrap();
    println!("browser memory (MB), 100 classifications then dispose and reload: {memory}");
    assert!(mb("after", "wasm") <= mb("before", "wasm") + 16.0, "wasm memory grew: {memory}");
    assert!(mb("after", "heap") <= mb("before", "heap") + 16.0, "JS heap grew: {memory}");
    assert!(mb("reloaded", "wasm") <= mb("after", "wasm") + 16.0, "a dispose freed nothing: {memory}");

    // The widget in a plain page, under the CSP.
    let embed = &report["embed"];
    assert!(
        embed["csp"].as_str().is_some_and(|c| c.contains("script-src 'self' 'wasm-unsafe-eval'")),
        "{}",
        embed["csp"]
    );
    assert_eq!(embed["violations"].as_array().map(Vec::len), Some(0), "CSP violations: {}", embed["violations"]);
    assert!(embed["classified"]["genres"].as_array().is_some_and(|g| g.len() == 20), "{}", embed["classified"]);
    // A genre's bar explains it (the CSP check above covers it too) and hides it when pressed again.
    let explained = &embed["explained"];
    assert!(explained["genre"].is_string() && explained["error"] == "", "the bar explains its genre: {explained}");
    let status = explained["statusSeen"].as_array().unwrap();
    assert!(status.iter().any(|s| s.as_str().is_some_and(|s| s.starts_with("Explaining "))), "{status:?}");
    let pressed = explained["pressed"].as_array().unwrap();
    assert!(pressed[0] == "true" && pressed[1..].iter().all(|p| p == "false"), "aria-pressed: {pressed:?}");
    assert!(explained["highlighted"].as_u64().is_some_and(|n| n > 0), "words tinted for or against: {explained}");
    assert_eq!(
        explained["plotText"].as_str(),
        movies[1]["plot"].as_str().map(str::trim),
        "the plot, whole, around the tints"
    );
    assert!(
        explained["sources"]
            .as_str()
            .is_some_and(|s| ["text ", " · image ", " · lexical "].iter().all(|k| s.contains(k))),
        "{}",
        explained["sources"]
    );
    let canvas = &explained["canvas"];
    assert!(canvas["hidden"] == false && canvas["painted"].as_u64().is_some_and(|n| n > 0), "the heat map: {canvas}");
    let hidden = &embed["hidden"];
    assert_eq!(hidden["explanationShown"], false, "pressed again, the explanation hides: {hidden}");
    assert!(hidden["pressed"].as_array().unwrap().iter().all(|p| p == "false"), "{hidden}");
    assert_eq!(hidden["canvas"]["hidden"], true, "{hidden}");
    assert_eq!(
        embed["globals"].as_array().map(Vec::len),
        Some(0),
        "the widget defines no globals: {}",
        embed["globals"]
    );
}

/// The default bundle, or `$MARQUEE_TEST_BUNDLE`.
fn default_bundle() -> PathBuf {
    std::env::var_os("MARQUEE_TEST_BUNDLE").map(PathBuf::from).unwrap_or_else(|| repo().join("www/models/default"))
}

// WebGPU here is SwiftShader, a GPU emulated on the CPU, so the backend-independent UI checks
// run on the CPU fallback only.
#[test]
fn page_and_widget_on_webgpu_match_marquee_predict() {
    run_browser(&default_bundle(), true, false, 3);
}

#[test]
fn page_and_widget_on_the_cpu_fallback_match_marquee_predict() {
    run_browser(&default_bundle(), false, true, 3);
}

/// The other image backbone: a BERT + ResNet-50 fusion bundle (all-MiniLM-L6-v2's real
/// weights and tokenizer; ResNet-50 with formula weights and the heads freshly initialised,
/// since no ImageNet ResNet-50 weights can be fetched here) classifies in the browser like `marquee predict`.
#[test]
fn bert_resnet50_fusion_bundle_matches_marquee_predict_in_the_browser() {
    use model_core::bundle::{write_bundle, Bundle, BundleContents, Manifest, WeightsDType};
    use model_core::models::bert::{self, BertClassifierConfig, BertConfig, BertPooling};
    use model_core::models::fusion::{FusionHeadConfig, FusionMode};
    use model_core::models::head::{ImageHeadConfig, MultiLabelHeadConfig};
    use model_core::models::resnet::{ResNetConfig, RESNET50_FEATURES};
    use model_core::models::{Classifier, FusionConfig, ImageModelConfig, ModelConfig, TextModelConfig};
    use model_core::preprocess::image::{ImagePreprocessing, Normalization};
    use model_core::preprocess::TextSpec;

    let minilm = tests::pretrained("all-MiniLM-L6-v2");
    let genres = Bundle::read_dir(&default_bundle()).expect("the default bundle").manifest.genres;
    let n = genres.len();
    let bert_config =
        BertConfig::from_json(&std::fs::read(minilm.join("config.json")).unwrap(), "config.json").unwrap();
    let hidden = bert_config.hidden_size;
    let config = FusionConfig {
        text: TextModelConfig::Bert(BertClassifierConfig {
            bert: bert_config,
            num_genres: n,
            pooling: BertPooling::Mean,
            dropout: 0.1,
        }),
        image: ImageModelConfig::Resnet50(ResNetConfig::resnet50(ImageHeadConfig::MultiLabel(
            MultiLabelHeadConfig::design(RESNET50_FEATURES, n, 0.5),
        ))),
        head: FusionHeadConfig {
            mode: FusionMode::Features,
            text_input: hidden,
            image_input: RESNET50_FEATURES,
            hidden: 128,
            dropout: 0.3,
            num_genres: n,
        },
    };
    let device = burn::tensor::Device::flex();
    device.seed(7);
    let mut model = ModelConfig::Fusion(config.clone()).init(&device);
    let Classifier::Fusion(fusion) = &mut model else { unreachable!() };
    let model_core::models::TextClassifier::Bert(text) = &mut fusion.text else { unreachable!() };
    bert::load_pretrained(&mut text.bert, &minilm.join("model.safetensors")).unwrap();
    // ResNet-50 gets the parity test's formula weights (no ImageNet weights can be fetched here).
    let model_core::models::ImageClassifier::Resnet50(resnet) = &mut fusion.image else { unreachable!() };
    let tensors = tests::reference::resnet50_formula_tensors();
    let weights = tests::reference::safetensors(&tensors);
    model_core::models::resnet::load_torchvision_safetensors_bytes(resnet, weights, "formula.safetensors").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let bundle = scratch.path().join("bert-resnet50");
    let manifest = Manifest {
        format: String::new(),
        format_version: 0,
        name: "MiniLM + ResNet-50 (untrained heads, browser test)".into(),
        model: ModelConfig::Fusion(config),
        genres,
        thresholds: vec![0.5; n],
        branch_thresholds: None,
        image: Some(ImagePreprocessing::new(Normalization::IMAGENET)),
        text: Some(TextSpec::Bert { file: "tokenizer.json".into(), max_len: 128 }),
        dtype: WeightsDType::F16,
        lexical: None,
        parts: Default::default(),
        info: serde_json::Value::Null,
    };
    let tokenizer = std::fs::read(minilm.join("tokenizer.json")).unwrap();
    write_bundle(
        &model,
        BundleContents { manifest, text_part: Some(("tokenizer.json".into(), tokenizer)), lexical_part: None },
        &bundle,
    )
    .unwrap();
    run_browser(&bundle, false, false, 3);
    // SwiftShader runs ResNet-50 at about a minute a classification: one movie on WebGPU.
    run_browser(&bundle, true, false, 1);
}

/// `www/bench.html`, driven by `tests/browser/bench.mjs` as `scripts/bench-browser.sh` runs it,
/// reports every measure on the CPU fallback: a first visit from the network, a second from
/// Cache Storage, and the real sizes of the `.wasm` and the bundle. (Timings are reported, not
/// asserted: BENCHMARKS.md holds them.)
#[test]
fn bench_page_reports_loads_classifications_and_sizes() {
    let www = repo().join("www");
    let bundle = default_bundle();
    let server = Server::start(&bundle);
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("browser-bench.json");
    let chromium = std::env::var("MARQUEE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let config =
        serde_json::json!({"baseUrl": server.url, "chromium": chromium, "backends": ["cpu"], "runs": 2, "out": out});
    let table = run_node("bench.mjs", &config);
    assert!(table.contains("| cpu (cpu-threads) |"), "a Markdown row for the CPU package: {table}");
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let run = &results[0];
    let wasm_bytes =
        |package: &str| std::fs::metadata(www.join("pkg").join(package).join("marquee_web_bg.wasm")).unwrap().len();
    let manifest = model_core::bundle::Bundle::read_dir(&bundle).unwrap().manifest;
    let bundle_bytes: u64 = manifest.parts.values().map(|p| p.bytes).sum();
    for (visit, from_cache) in [("firstVisit", false), ("secondVisit", true)] {
        let report = &run[visit];
        assert_eq!(report["backend"], "cpu", "{visit}: {report}");
        assert_eq!(report["fromCache"], from_cache, "{visit}: the bundle's source");
        assert_eq!(report["name"].as_str(), Some(manifest.name.as_str()));
        assert_eq!(report["package"], "cpu-threads", "{visit}: the CPU package");
        assert!(report["threads"].as_u64().is_some_and(|t| t >= 2), "{visit}: the threaded package's threads");
        for package in ["cpu", "cpu-relaxed", "cpu-threads", "webgpu"] {
            assert_eq!(
                report["wasmBytes"][package].as_u64(),
                Some(wasm_bytes(package)),
                "{visit}: the {package} .wasm's real size"
            );
        }
        assert_eq!(report["bundleBytes"].as_u64(), Some(bundle_bytes), "{visit}: the bundle's real size");
        assert_eq!(report["steadyMs"].as_array().map(Vec::len), Some(2), "{visit}: one time per run");
        for measure in ["wasmStartMs", "loadMs", "readyMs", "firstMs", "steadyMedianMs"] {
            assert!(
                report[measure].as_f64().is_some_and(|ms| ms > 0.0 && ms.is_finite()),
                "{visit} {measure}: {report}"
            );
        }
    }
}

//! Explanations on the default bundle: the words that make a genre come first, integrated
//! gradients add up, the source terms add up to the logit, the poster's heat map is not flat,
//! bad inputs get clear errors, and `marquee explain` writes its table, JSON and PNG.

use std::path::PathBuf;

use burn::tensor::Device;
use model_core::bundle::Bundle;
use model_core::explain::{mask_cells, ExplainOptions, Explainer, Movie, PosterMethod, WordMethod};
use model_core::inference::Predictor;

fn default_bundle() -> PathBuf {
    tests::manifest_dir().join("../www/models/default")
}

fn explainer() -> Explainer {
    let bundle = Bundle::read_dir(&default_bundle()).expect("the default bundle");
    Explainer::new(Predictor::new(bundle, Device::flex()).expect("a predictor")).expect("an explainer")
}

fn sample_poster() -> (Vec<u8>, String) {
    let path = tests::manifest_dir().join("../www/samples/tt0058382.jpg");
    (std::fs::read(&path).expect("a sample poster"), path.display().to_string())
}

const HORROR_PLOT: &str = "A family moves into a haunted house in a quiet town. At night a zombie rises from \
    the garden and the children hear voices in the walls.";

fn horror(explainer: &Explainer, movie: &Movie, method: WordMethod) -> Vec<(String, f32)> {
    let options = ExplainOptions { genres: vec!["horror".into()], words: method, ..ExplainOptions::default() };
    let explanation = explainer.explain(movie, &options).expect("an explanation");
    let genre = &explanation.genres[0];
    assert_eq!(genre.genre, "Horror");
    assert_eq!(genre.words.len(), explanation.words.len());
    let mut ranked: Vec<(String, f32)> =
        explanation.words.iter().map(|w| w.text.clone()).zip(genre.words.iter().copied()).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

#[test]
fn horror_words_come_first_for_horror_with_every_method() {
    let explainer = explainer();
    let movie = explainer.prepare(None, Some(HORROR_PLOT)).unwrap();
    for method in [WordMethod::Gradient, WordMethod::IntegratedGradients, WordMethod::Occlusion] {
        let ranked = horror(&explainer, &movie, method);
        let first_two: Vec<&str> = ranked[..2].iter().map(|(w, _)| w.as_str()).collect();
        assert!(first_two.iter().any(|w| *w == "zombie" || *w == "haunted"), "{method}: {ranked:?}");
        // Not constant: the scores spread.
        assert!(ranked[0].1 > 0.0 && ranked[0].1 > ranked[ranked.len() - 1].1 + 1e-3, "{method}: {ranked:?}");
    }
}

#[test]
fn scores_sum_where_the_method_promises_it() {
    let explainer = explainer();
    let (bytes, name) = sample_poster();
    let movie = explainer.prepare(Some((&bytes, &name)), Some(HORROR_PLOT)).unwrap();
    let explanation = explainer.explain(&movie, &ExplainOptions::default()).unwrap();
    assert_eq!(explanation.poster_grid, Some([7, 7]));
    for genre in &explanation.genres {
        // The source terms add up to the blended logit exactly (up to rounding).
        let s = genre.sources;
        let sum = s.text + s.image + s.lexical + s.joint + s.bias;
        assert!((sum - genre.logit).abs() < 1e-3 * genre.logit.abs().max(1.0), "{genre:?}");
        assert!(s.text != 0.0 && s.image != 0.0 && s.lexical != 0.0, "{s:?}");
        assert_eq!(genre.poster.len(), 49);
        assert!(genre.poster.iter().any(|&c| c != genre.poster[0]), "a flat heat map");
    }
    // Integrated gradients: the words' scores (model part) sum to the change from the baseline.
    let horror = explainer.predictor().genres().iter().position(|g| g == "Horror").unwrap();
    let (scores, change) = explainer.integrated_gradients_of(&movie, horror, 32);
    let sum: f32 = scores.iter().sum();
    assert!((sum - change).abs() <= 0.05 * change.abs(), "sum {sum} against change {change}");
}

#[test]
fn masking_the_cells_for_a_genre_lowers_it_more_than_masking_those_against() {
    let explainer = explainer();
    let (bytes, name) = sample_poster();
    let movie = explainer.prepare(Some((&bytes, &name)), None).unwrap();
    let options = ExplainOptions { poster: PosterMethod::Occlusion, ..ExplainOptions::default() };
    let explanation = explainer.explain(&movie, &options).unwrap();
    assert!(explanation.words.is_empty());
    let genre = &explanation.genres[0];
    let index = explainer.predictor().genres().iter().position(|g| *g == genre.genre).unwrap();
    let mut order: Vec<usize> = (0..genre.poster.len()).collect();
    order.sort_by(|&a, &b| genre.poster[b].total_cmp(&genre.poster[a]));
    let logit_without = |cells: &[usize]| {
        let masked = mask_cells(movie.poster.as_deref().unwrap(), [7, 7], cells);
        explainer.logits(&explainer.with_poster(&movie, masked))[index]
    };
    let (top, bottom) = (logit_without(&order[..3]), logit_without(&order[order.len() - 3..]));
    assert!(top < genre.logit && genre.logit < bottom, "{top} < {} < {bottom}", genre.logit);
}

#[test]
fn bad_inputs_get_clear_answers() {
    let explainer = explainer();
    let err = explainer.prepare(None, Some("   ")).unwrap_err().to_string();
    assert!(err.contains("needs a poster, a plot, or both"), "{err}");
    let movie = explainer.prepare(None, Some("zombie")).unwrap();
    let explanation = explainer.explain(&movie, &ExplainOptions::default()).unwrap();
    assert_eq!(explanation.words.len(), 1);
    let options = ExplainOptions { genres: vec!["Western Noir".into()], ..ExplainOptions::default() };
    let err = explainer.explain(&movie, &options).unwrap_err().to_string();
    assert!(err.contains("no genre 'Western Noir'") && err.contains("Horror"), "{err}");
    // A 1.5 MB plot: the text model reads its first tokens; the words past them are not read.
    let huge = "the haunted house ".repeat(90_000);
    let started = std::time::Instant::now();
    let movie = explainer.prepare(None, Some(&huge)).unwrap();
    let explanation = explainer.explain(&movie, &ExplainOptions::default()).unwrap();
    assert!(explanation.words.iter().filter(|w| w.read).count() < 130);
    assert!(!explanation.words.last().unwrap().read);
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    // A 1x1 poster is scaled up like any other.
    let mut one = Vec::new();
    image::RgbImage::from_pixel(1, 1, image::Rgb([200, 10, 10]))
        .write_to(&mut std::io::Cursor::new(&mut one), image::ImageFormat::Png)
        .unwrap();
    let movie = explainer.prepare(Some((&one, "one.png")), None).unwrap();
    let explanation = explainer.explain(&movie, &ExplainOptions::default()).unwrap();
    assert_eq!(explanation.genres[0].poster.len(), 49);
}

#[test]
fn the_cli_prints_writes_json_and_draws_the_heat_map() {
    let out = tempfile::tempdir().unwrap();
    let poster = tests::manifest_dir().join("../www/samples/tt0058382.jpg");
    let bundle = default_bundle();
    let args = [
        "explain",
        "--bundle",
        bundle.to_str().unwrap(),
        "--poster",
        poster.to_str().unwrap(),
        "--plot",
        HORROR_PLOT,
        "--genre",
        "Horror",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let table = String::from_utf8(tests::marquee_ok(args).stdout).unwrap();
    assert!(table.contains("Horror") && table.contains("sources: text") && table.contains("for:"), "{table}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("explanation.json")).unwrap()).unwrap();
    assert_eq!(json["genre"], "Horror");
    let words = json["words"].as_array().unwrap();
    assert!(words.iter().any(|w| w["word"] == "zombie" && w["score"].as_f64().unwrap() > 0.0), "{json}");
    assert_eq!(json["poster"]["rows"], 7);
    let png = image::open(out.path().join("poster-horror.png")).unwrap();
    assert!(png.width() > 300 && png.height() > 300);
}

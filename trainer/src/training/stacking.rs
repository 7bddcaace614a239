//! Stacking a lexical branch onto a trained bundle: the lexical branch is fitted on the training
//! split, its settings chosen on validation; the blend of the bundle's logits and the lexical
//! logits is fitted on validation, cross-fitted over folds so that its penalty and the
//! thresholds are chosen on held-out outputs. The test split is only scored. [`stack`] is the
//! whole of `marquee stack` but its printing and writing.

use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use model_core::batch::Batch;
use model_core::bundle::{BundleContents, WEIGHTS};
use model_core::data::{Dataset, GenreVocab, LoadOptions, Movie, PosterCheck, Split, SplitConfig};
use model_core::inference::Predictor;
use model_core::metrics::{evaluate, logit, sigmoid, tune_thresholds, MultiLabelReport};
use model_core::models::fusion::BranchThresholds;
use model_core::stacking::blend::{cross_fit, fold_of, Blend, BlendSettings};
use model_core::stacking::lexical::{
    Details, LexicalConfig, LexicalModel, LexicalSpec, Lexicon, SparseTerms, LEXICAL_PART,
};
use serde::Serialize;

use super::examples::{prepare, Example};
use super::fit::predict_with;
use super::progress;

/// A model's logits (`[movies, genres]`, row-major) on the validation and the test movies.
pub type Outputs = (Vec<f32>, Vec<f32>);

/// Movies of one split: their plots, titles and years, and flat multi-hot targets.
pub struct Labelled<'a> {
    /// The plots.
    pub plots: Vec<&'a str>,
    /// Each plot's movie's title and year.
    pub details: Vec<Details<'a>>,
    /// `[movies, genres]`, row-major.
    pub targets: Vec<f32>,
}

/// One setting tried, with its scores.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// What was tried.
    pub what: String,
    /// Its settings.
    pub setting: String,
    /// Validation micro/macro-F1 (thresholds tuned on validation; for blends, on the
    /// out-of-fold outputs).
    pub validation: (f64, f64),
    /// Test micro/macro-F1 with the validation's thresholds.
    pub test: (f64, f64),
    /// Whether this setting was kept.
    pub chosen: bool,
}

impl Trial {
    /// A trial not chosen (yet) with its scores.
    pub fn new(what: &str, setting: String, validation: &MultiLabelReport, test: &MultiLabelReport) -> Self {
        Self {
            what: what.into(),
            setting,
            validation: (validation.micro_f1, validation.macro_f1),
            test: (test.micro_f1, test.macro_f1),
            chosen: false,
        }
    }
}

/// Which is better on validation: macro-F1 first, then micro-F1.
pub fn better(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.1, a.0) > (b.1, b.0)
}

/// Marks the best trial of `trials` on validation and returns its index.
fn choose(trials: &mut [Trial]) -> usize {
    let best = (0..trials.len())
        .fold(0, |best, i| if better(trials[i].validation, trials[best].validation) { i } else { best });
    trials[best].chosen = true;
    best
}

/// The lexical grid: each lexicon size and each penalty.
pub struct LexicalGrid {
    /// Lexicon sizes (terms).
    pub max_terms: Vec<usize>,
    /// L2 penalties.
    pub l2: Vec<f32>,
    /// Minimum document frequency.
    pub min_df: usize,
    /// Whether the branch reads titles beside the plots.
    pub reads_title: bool,
    /// Whether the branch reads release years (as decade words).
    pub reads_year: bool,
}

/// The lexical branch chosen on validation.
pub struct ChosenLexical {
    /// The model, with its weights as the bundle stores them.
    pub model: LexicalModel,
    /// Its settings.
    pub config: LexicalConfig,
    /// Its logits on the validation and the test movies.
    pub logits: Outputs,
}

/// Fits the lexical branch on `train` for every setting of `grid`, scores each on validation
/// (thresholds tuned there) and test, and keeps the best on validation.
pub fn choose_lexical(
    train: &Labelled,
    validation: &Labelled,
    test: &Labelled,
    grid: &LexicalGrid,
    genres: &[String],
) -> (ChosenLexical, Vec<Trial>) {
    let n = genres.len();
    let bar = progress::bar((grid.max_terms.len() * grid.l2.len()) as u64, "fitting the lexical branch");
    let mut trials = Vec::new();
    let mut fitted = Vec::new();
    for &max_terms in &grid.max_terms {
        let config = LexicalConfig {
            max_terms,
            min_df: grid.min_df,
            reads_title: grid.reads_title,
            reads_year: grid.reads_year,
            ..LexicalConfig::default()
        };
        let documents = |movies: &Labelled| -> Vec<String> {
            movies.plots.iter().zip(&movies.details).map(|(plot, details)| config.document(plot, *details)).collect()
        };
        let training_documents = documents(train);
        let lexicon = Lexicon::build(&training_documents.iter().map(String::as_str).collect::<Vec<_>>(), &config);
        let vectorize = |texts: &[String]| -> Vec<SparseTerms> { texts.iter().map(|t| lexicon.vectorize(t)).collect() };
        let (train_vectors, validation_vectors, test_vectors) =
            (vectorize(&training_documents), vectorize(&documents(validation)), vectorize(&documents(test)));
        for &l2 in &grid.l2 {
            let model = LexicalModel::fit(lexicon.clone(), &train_vectors, &train.targets, n, l2).quantized();
            let logits =
                |vectors: &[SparseTerms]| -> Vec<f32> { vectors.iter().flat_map(|v| model.logits(v)).collect() };
            let (validation_logits, test_logits) = (logits(&validation_vectors), logits(&test_vectors));
            let (validation_report, test_report) =
                score_tuned(&probabilities(&validation_logits), validation, &probabilities(&test_logits), test, genres);
            trials.push(Trial::new(
                "lexical branch alone",
                format!("{} terms, l2 {l2}", model.lexicon.len()),
                &validation_report,
                &test_report,
            ));
            fitted.push(ChosenLexical {
                model,
                config: LexicalConfig { l2, ..config.clone() },
                logits: (validation_logits, test_logits),
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let best = choose(&mut trials);
    (fitted.swap_remove(best), trials)
}

/// A blend chosen on validation, and the thresholds for its outputs.
pub struct ChosenBlend {
    /// Fitted on every validation movie.
    pub blend: Blend,
    /// Tuned on the out-of-fold validation outputs.
    pub thresholds: Vec<f32>,
    /// Validation scores of the out-of-fold outputs.
    pub validation: MultiLabelReport,
    /// Test scores.
    pub test: MultiLabelReport,
}

/// Sources (each `[movies, genres]` logits) on the validation and the test movies.
pub struct Sources<'a> {
    /// On validation.
    pub validation: Vec<&'a [f32]>,
    /// On test.
    pub test: Vec<&'a [f32]>,
}

/// Cross-fits a blend of `sources` on validation (movie `m` in fold `folds[m]`) for each of
/// `settings`, keeps the best on the out-of-fold outputs, fits it on all of validation and
/// scores it on test.
pub fn choose_blend(
    what: &str,
    sources: &Sources,
    validation: &Labelled,
    test: &Labelled,
    folds: &[usize],
    settings: &[BlendSettings],
    genres: &[String],
) -> (ChosenBlend, Vec<Trial>) {
    let n = genres.len();
    let mut trials = Vec::new();
    let mut chosen = Vec::new();
    for &setting in settings {
        let out_of_fold = cross_fit(&sources.validation, &validation.targets, n, setting, folds);
        let thresholds = tune_thresholds(&out_of_fold, &validation.targets, n);
        let validation_report = evaluate(&out_of_fold, &validation.targets, &thresholds, genres);
        let blend = Blend::fit(&sources.validation, &validation.targets, n, setting);
        let movies = test.targets.len() / n;
        let test_probabilities: Vec<f32> = (0..movies)
            .flat_map(|m| {
                let movie: Vec<&[f32]> = sources.test.iter().map(|s| &s[m * n..(m + 1) * n]).collect();
                blend.apply(&movie).into_iter().map(sigmoid)
            })
            .collect();
        let test_report = evaluate(&test_probabilities, &test.targets, &thresholds, genres);
        let count = folds.iter().max().map_or(0, |f| f + 1);
        trials.push(Trial::new(what, format!("{setting}, {count} folds"), &validation_report, &test_report));
        chosen.push(ChosenBlend { blend, thresholds, validation: validation_report, test: test_report });
    }
    let best = choose(&mut trials);
    (chosen.swap_remove(best), trials)
}

/// What `marquee stack` tries.
pub struct StackSettings {
    /// The lexical branch's grid.
    pub grid: LexicalGrid,
    /// The blend's L2 penalties (each with plain and with class-balanced losses).
    pub blend_l2: Vec<f64>,
    /// Folds of the validation split for cross-fitting the blend.
    pub folds: usize,
    /// Use only the first N movies of the data set.
    pub limit: Option<usize>,
    /// The new bundle's name [default: the source's, with "+ lexical"].
    pub name: Option<String>,
}

/// A stacked bundle ready to write, with what was tried on the way.
pub struct Stacked {
    /// The source bundle's weights, unchanged.
    pub weights: Vec<u8>,
    /// The manifest (the blend, thresholds, scores) and the parts, the lexical one included.
    pub contents: BundleContents,
    /// Every setting tried, with its validation and test F1.
    pub trials: Vec<Trial>,
    /// Every source's logits on the validation and test movies, their targets and folds.
    pub sources: serde_json::Value,
    /// Terms in the chosen lexicon.
    pub terms: usize,
    /// The stacked bundle's scores: validation (out-of-fold) and test.
    pub validation: MultiLabelReport,
    /// See `validation`.
    pub test: MultiLabelReport,
}

/// Stacks a lexical branch onto `predictor`'s bundle, trained on `data` (the bundle's own
/// split): fits the lexical branch on the training split, chooses its settings, the blend and
/// the thresholds on validation (the blend cross-fitted over folds), and only scores test.
pub fn stack(predictor: &Predictor, device: &Device, data: &Path, settings: &StackSettings) -> Result<Stacked> {
    anyhow::ensure!(settings.folds >= 2, "--folds must be at least 2 (got {})", settings.folds);
    anyhow::ensure!(
        !settings.grid.max_terms.is_empty() && !settings.grid.l2.is_empty() && !settings.blend_l2.is_empty(),
        "--max-terms, --l2 and --blend-l2 each need at least one value"
    );
    let source = &predictor.bundle.source;
    anyhow::ensure!(predictor.bundle.manifest.lexical.is_none(), "{source} already has a lexical branch");
    anyhow::ensure!(
        predictor.bundle.manifest.text.is_some(),
        "{source} does not read plots: a lexical branch needs them"
    );
    let bundle = &predictor.bundle;
    let split: SplitConfig =
        bundle.manifest.info.get("split").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let genres = GenreVocab { genres: predictor.genres().to_vec() };
    let mut dataset = Dataset::load(data, LoadOptions { strict: false, posters: PosterCheck::Exists })?;
    if let Some(limit) = settings.limit {
        dataset.movies.truncate(limit);
    }
    let movies = |which: Split| dataset.split(which, &split);
    let (train_movies, validation_movies, test_movies) =
        (movies(Split::Train), movies(Split::Validation), movies(Split::Test));
    for (movies, name) in [(&train_movies, "training"), (&validation_movies, "validation"), (&test_movies, "test")] {
        anyhow::ensure!(
            movies.len() >= settings.folds,
            "{} has {} {name} movies: too few",
            data.display(),
            movies.len()
        );
    }
    let (train, validation, test) =
        (labelled(&train_movies, &genres), labelled(&validation_movies, &genres), labelled(&test_movies, &genres));

    // The bundle's own outputs on validation and test, on each route that reads the plot.
    let mut held_out = dataset.clone();
    held_out.movies = validation_movies.iter().chain(&test_movies).map(|m| (*m).clone()).collect();
    let examples = prepare(&held_out, &split, &genres, predictor.text.as_ref(), predictor.image.as_ref())?;
    let same_order =
        |examples: &[Example], movies: &[&Movie]| examples.iter().map(|e| &e.id).eq(movies.iter().map(|m| &m.id));
    anyhow::ensure!(
        same_order(&examples.validation, &validation_movies) && same_order(&examples.test, &test_movies),
        "the prepared movies are not in the data set's order"
    );
    // One pass: a fusion's branches' own logits come after its own (for the plot-only route,
    // and as two more sources of the blend).
    let (text, image) = (predictor.text.as_ref(), predictor.image.as_ref());
    let run = |examples: &[Example], split: &str| -> Vec<Vec<f32>> {
        let forward = |batch: &Batch| predictor.model.forward_with_branches(batch);
        let label = format!("the bundle on {split}");
        let outputs = logits(&predict_with(&forward, examples, text, image, device, 32, &label).0);
        columns(&outputs, examples.len(), genres.len())
    };
    let (validation_outputs, test_outputs) = (run(&examples.validation, "validation"), run(&examples.test, "test"));
    let mut sources: Vec<Outputs> = validation_outputs.into_iter().zip(test_outputs).collect();
    let branches = (sources.len() == 3).then(|| {
        let image_branch = sources.pop().expect("three sources");
        (sources.pop().expect("three sources"), image_branch)
    });
    let full = sources.pop().expect("the bundle's own logits");

    let mut trials = Vec::new();
    let base_thresholds = &predictor.bundle.manifest.thresholds;
    let base_validation = evaluate(&probabilities(&full.0), &validation.targets, base_thresholds, &genres.genres);
    let base_test = evaluate(&probabilities(&full.1), &test.targets, base_thresholds, &genres.genres);
    trials.push(Trial::new(
        "the bundle alone",
        "its thresholds (tuned on validation)".into(),
        &base_validation,
        &base_test,
    ));

    let (lexical, lexical_trials) = choose_lexical(&train, &validation, &test, &settings.grid, &genres.genres);
    trials.extend(lexical_trials);

    let folds: Vec<usize> = validation_movies.iter().map(|m| fold_of(&m.id, settings.folds)).collect();
    let blend_settings: Vec<BlendSettings> = [false, true]
        .into_iter()
        .flat_map(|balanced| settings.blend_l2.iter().map(move |&l2| BlendSettings { l2, balanced }))
        .collect();
    let lexical_outputs = lexical.logits;
    let blend_of = |what: &str, sources: &[&Outputs], trials: &mut Vec<Trial>| {
        let sources = Sources {
            validation: sources.iter().map(|s| &s.0[..]).collect(),
            test: sources.iter().map(|s| &s.1[..]).collect(),
        };
        let (chosen, tried) = choose_blend(what, &sources, &validation, &test, &folds, &blend_settings, &genres.genres);
        trials.extend(tried);
        chosen
    };
    let mut named = vec![("full", &full), ("lexical", &lexical_outputs)];
    if let Some((text_branch, image_branch)) = &branches {
        named.extend([("text", text_branch), ("image", image_branch)]);
    }
    let side = |on_validation: bool, targets: &[f32]| {
        let mut map = serde_json::Map::new();
        map.insert("targets".into(), serde_json::json!(targets));
        for (name, (on_validation_set, on_test_set)) in &named {
            let logits = if on_validation { on_validation_set } else { on_test_set };
            map.insert(name.to_string(), serde_json::json!(logits));
        }
        serde_json::Value::Object(map)
    };
    let sources_logits = serde_json::json!({
        "genres": genres.genres, "folds": folds,
        "validation": side(true, &validation.targets), "test": side(false, &test.targets),
    });
    // Only shipped blends stay marked as chosen.
    let unmark = |trials: &mut Vec<Trial>, what: &str| {
        trials.iter_mut().filter(|t| t.what == what).for_each(|t| t.chosen = false)
    };
    // The bundle recalibrated on held-out movies alone: what cross-fitting gives without new
    // information.
    let scaling = "the bundle, cross-fitted per-genre scaling";
    blend_of(scaling, &[&full], &mut trials);
    unmark(&mut trials, scaling);
    let with_lexical = "the bundle + lexical branch, cross-fitted blend";
    let mut blend = blend_of(with_lexical, &[&full, &lexical_outputs], &mut trials);
    let mut text_blend = None;
    if let Some((text_branch, image_branch)) = &branches {
        let sources = [&full, &lexical_outputs, text_branch, image_branch];
        let with_branches = "the bundle + lexical branch + its two branches' own logits, cross-fitted blend";
        let candidate = blend_of(with_branches, &sources, &mut trials);
        let scores = |b: &ChosenBlend| (b.validation.micro_f1, b.validation.macro_f1);
        match better(scores(&candidate), scores(&blend)) {
            true => {
                blend = candidate;
                unmark(&mut trials, with_lexical);
            }
            false => unmark(&mut trials, with_branches),
        }
        let (alone_validation, alone_test) = score_tuned(
            &probabilities(&text_branch.0),
            &validation,
            &probabilities(&text_branch.1),
            &test,
            &genres.genres,
        );
        let setting = "thresholds tuned on validation".into();
        trials.push(Trial::new("text branch alone (plot only)", setting, &alone_validation, &alone_test));
        let what = "text branch + lexical branch (plot only), cross-fitted blend";
        text_blend = Some(blend_of(what, &[text_branch, &lexical_outputs], &mut trials));
    }

    let mut manifest = predictor.bundle.manifest.clone();
    let name = settings.name.clone().unwrap_or_else(|| format!("{} + lexical", manifest.name));
    manifest.name = name;
    manifest.thresholds = blend.thresholds.clone();
    if let (Some(branches), Some(text_blend)) = (&manifest.branch_thresholds, &text_blend) {
        manifest.branch_thresholds =
            Some(BranchThresholds { text: text_blend.thresholds.clone(), image: branches.image.clone() });
    }
    manifest.lexical = Some(LexicalSpec {
        file: LEXICAL_PART.into(),
        config: lexical.config.clone(),
        blend: blend.blend.clone(),
        text_blend: text_blend.as_ref().map(|b| b.blend.clone()),
    });
    let info = &mut manifest.info;
    info["stacked_on"] = serde_json::json!({
        "bundle": predictor.bundle.manifest.name, "weights_sha256": predictor.bundle.manifest.parts[WEIGHTS].sha256,
        "validation": base_validation.summary(), "test": base_test.summary(),
    });
    info["lexical"] = serde_json::json!({
        "terms": lexical.model.lexicon.len(), "config": lexical.config,
        "blend": {"fitted_on": "validation", "folds": settings.folds, "thresholds_tuned_on": "out-of-fold validation outputs"},
    });
    info["validation"] = blend.validation.summary();
    info["test"] = blend.test.summary();
    let text_part = predictor.bundle.text_part()?;
    Ok(Stacked {
        weights: predictor.bundle.part(WEIGHTS)?.to_vec(),
        contents: BundleContents { manifest, text_part, lexical_part: Some(lexical.model.to_bytes()) },
        trials,
        sources: sources_logits,
        terms: lexical.model.lexicon.len(),
        validation: blend.validation,
        test: blend.test,
    })
}

/// Splits row-major `[movies, k × genres]` values into k `[movies, genres]` blocks.
fn columns(values: &[f32], movies: usize, genres: usize) -> Vec<Vec<f32>> {
    let width = values.len() / movies.max(1);
    (0..width / genres.max(1))
        .map(|block| {
            values.chunks(width).flat_map(|row| row[block * genres..(block + 1) * genres].iter().copied()).collect()
        })
        .collect()
}

fn labelled<'a>(movies: &[&'a Movie], genres: &GenreVocab) -> Labelled<'a> {
    Labelled {
        plots: movies.iter().map(|m| m.overview.as_str()).collect(),
        details: movies.iter().map(|m| Details::from(*m)).collect(),
        targets: movies.iter().flat_map(|m| genres.encode(&m.genres)).collect(),
    }
}

/// Scores probabilities on validation with thresholds tuned there, and on test with the same
/// thresholds.
pub fn score_tuned(
    validation_probabilities: &[f32],
    validation: &Labelled,
    test_probabilities: &[f32],
    test: &Labelled,
    genres: &[String],
) -> (MultiLabelReport, MultiLabelReport) {
    let thresholds = tune_thresholds(validation_probabilities, &validation.targets, genres.len());
    (
        evaluate(validation_probabilities, &validation.targets, &thresholds, genres),
        evaluate(test_probabilities, &test.targets, &thresholds, genres),
    )
}

/// The logistic function of each logit.
pub fn probabilities(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&z| sigmoid(z)).collect()
}

/// The logit of each probability.
pub fn logits(probabilities: &[f32]) -> Vec<f32> {
    probabilities.iter().map(|&p| logit(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_trial_is_chosen_by_validation_macro_then_micro() {
        let trial =
            |validation, test| Trial { what: "x".into(), setting: String::new(), validation, test, chosen: false };
        let mut trials =
            vec![trial((0.6, 0.50), (0.9, 0.9)), trial((0.5, 0.52), (0.1, 0.1)), trial((0.7, 0.52), (0.1, 0.1))];
        assert_eq!(choose(&mut trials), 2, "the test split chooses nothing");
        assert!(trials[2].chosen && !trials[0].chosen);
    }
}

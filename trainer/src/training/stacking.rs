//! Stacking a lexical branch onto a trained bundle: the lexical branch is fitted on the training
//! split, its settings chosen on validation; the blend of the bundle's logits and the lexical
//! logits is fitted on validation, cross-fitted over folds so that its penalty and the
//! thresholds are chosen on held-out outputs. The test split is only scored.

use model_core::metrics::{evaluate, tune_thresholds, MultiLabelReport};
use model_core::metrics::{logit, sigmoid};
use model_core::stacking::blend::{cross_fit, Blend, BlendSettings};
use model_core::stacking::lexical::{LexicalConfig, LexicalModel, Lexicon, SparseTerms};
use serde::Serialize;

use super::progress;

/// A model's logits (`[movies, genres]`, row-major) on the validation and the test movies.
pub type Outputs = (Vec<f32>, Vec<f32>);

/// Movies of one split: their plots and flat multi-hot targets.
pub struct Labelled<'a> {
    /// The plots.
    pub plots: Vec<&'a str>,
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
        let config = LexicalConfig { max_terms, min_df: grid.min_df, ..LexicalConfig::default() };
        let lexicon = Lexicon::build(&train.plots, &config);
        let vectorize = |plots: &[&str]| -> Vec<SparseTerms> { plots.iter().map(|p| lexicon.vectorize(p)).collect() };
        let (train_vectors, validation_vectors, test_vectors) =
            (vectorize(&train.plots), vectorize(&validation.plots), vectorize(&test.plots));
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

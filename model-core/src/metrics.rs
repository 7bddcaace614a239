//! Multi-label metrics (with scikit-learn's definitions and `zero_division=0`) and per-genre
//! threshold tuning.
//!
//! Predictions and targets are flat row-major `[movies, genres]` slices: a target is 1.0 where the
//! movie has the genre, a prediction is a probability that passes the genre's threshold when it is
//! at least that threshold.

use serde::{Deserialize, Serialize};

/// The candidate thresholds that [`tune_thresholds`] tries: 0.01, 0.02, ..., 0.99.
pub fn candidate_thresholds() -> impl Iterator<Item = f32> {
    (1..100).map(|i| i as f32 / 100.0)
}

/// Counts for one genre.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    fn support(self) -> usize {
        self.tp + self.fn_
    }
}

/// `num / den`, or 0 when `den` is 0 (scikit-learn's `zero_division=0`).
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Precision, recall, F1 and support of one genre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenreScore {
    /// The genre's name.
    pub genre: String,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// The number of movies that have the genre.
    pub support: usize,
    /// The decision threshold used.
    pub threshold: f32,
}

/// Every multi-label metric Marquee reports. The field names are the JSON contract of
/// `marquee eval --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelReport {
    /// The number of movies scored.
    pub movies: usize,
    /// F1 over all (movie, genre) decisions pooled.
    pub micro_f1: f64,
    /// Unweighted mean of the per-genre F1s.
    pub macro_f1: f64,
    /// Mean of the per-genre F1s weighted by support.
    pub weighted_f1: f64,
    /// Mean over movies of each movie's F1.
    pub samples_f1: f64,
    /// Pooled precision.
    pub micro_precision: f64,
    /// Pooled recall.
    pub micro_recall: f64,
    /// Unweighted mean of the per-genre precisions.
    pub macro_precision: f64,
    /// Unweighted mean of the per-genre recalls.
    pub macro_recall: f64,
    /// Fraction of wrong (movie, genre) decisions.
    pub hamming_loss: f64,
    /// Fraction of movies whose predicted genre set is exactly right.
    pub subset_accuracy: f64,
    /// Per-genre scores, in the model's genre order.
    pub per_genre: Vec<GenreScore>,
}

impl MultiLabelReport {
    /// The headline numbers, as bundle manifests record them.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "movies": self.movies,
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "samples_f1": self.samples_f1,
            "hamming_loss": self.hamming_loss,
            "subset_accuracy": self.subset_accuracy,
        })
    }
}

/// Scores `probabilities` against `targets` with per-genre `thresholds`.
///
/// # Panics
/// If the slices' lengths do not match `genres.len()` and each other.
pub fn evaluate(probabilities: &[f32], targets: &[f32], thresholds: &[f32], genres: &[String]) -> MultiLabelReport {
    let predictions = binarize(probabilities, thresholds);
    evaluate_predictions(&predictions, targets, thresholds, genres)
}

/// Applies per-genre thresholds: `true` where the probability is at least the threshold.
pub fn binarize(probabilities: &[f32], thresholds: &[f32]) -> Vec<bool> {
    let g = thresholds.len();
    assert!(g > 0 && probabilities.len().is_multiple_of(g), "probabilities do not fit {g} genres");
    probabilities.iter().enumerate().map(|(i, &p)| p >= thresholds[i % g]).collect()
}

/// Scores hard `predictions` against `targets`; `thresholds` are only recorded in the report.
pub fn evaluate_predictions(
    predictions: &[bool],
    targets: &[f32],
    thresholds: &[f32],
    genres: &[String],
) -> MultiLabelReport {
    let g = genres.len();
    assert!(g > 0, "no genres to score");
    assert_eq!(predictions.len(), targets.len(), "predictions and targets differ in length");
    assert_eq!(predictions.len() % g, 0, "predictions do not fit {g} genres");
    assert_eq!(thresholds.len(), g, "one threshold per genre");
    let n = predictions.len() / g;

    let mut per_genre = vec![Counts::default(); g];
    let mut samples_f1 = 0.0;
    let mut exact = 0usize;
    let mut wrong = 0usize;
    for row in 0..n {
        let mut row_counts = Counts::default();
        for col in 0..g {
            let predicted = predictions[row * g + col];
            let actual = targets[row * g + col] >= 0.5;
            let counts = &mut per_genre[col];
            match (predicted, actual) {
                (true, true) => {
                    counts.tp += 1;
                    row_counts.tp += 1;
                }
                (true, false) => {
                    counts.fp += 1;
                    row_counts.fp += 1;
                }
                (false, true) => {
                    counts.fn_ += 1;
                    row_counts.fn_ += 1;
                }
                (false, false) => {}
            }
        }
        samples_f1 += row_counts.f1();
        let row_wrong = row_counts.fp + row_counts.fn_;
        wrong += row_wrong;
        exact += usize::from(row_wrong == 0);
    }
    let total = per_genre.iter().fold(Counts::default(), |a, c| Counts {
        tp: a.tp + c.tp,
        fp: a.fp + c.fp,
        fn_: a.fn_ + c.fn_,
    });
    let mean = |f: fn(Counts) -> f64| per_genre.iter().map(|c| f(*c)).sum::<f64>() / g as f64;
    let support: usize = per_genre.iter().map(|c| c.support()).sum();
    let weighted_f1 = if support == 0 {
        0.0
    } else {
        per_genre.iter().map(|c| c.f1() * c.support() as f64).sum::<f64>() / support as f64
    };
    let n_f = n.max(1) as f64;
    MultiLabelReport {
        movies: n,
        micro_f1: total.f1(),
        macro_f1: mean(Counts::f1),
        weighted_f1,
        samples_f1: samples_f1 / n_f,
        micro_precision: total.precision(),
        micro_recall: total.recall(),
        macro_precision: mean(Counts::precision),
        macro_recall: mean(Counts::recall),
        hamming_loss: wrong as f64 / (n_f * g as f64),
        subset_accuracy: exact as f64 / n_f,
        per_genre: per_genre
            .iter()
            .zip(genres)
            .zip(thresholds)
            .map(|((c, genre), &threshold)| GenreScore {
                genre: genre.clone(),
                precision: c.precision(),
                recall: c.recall(),
                f1: c.f1(),
                support: c.support(),
                threshold,
            })
            .collect(),
    }
}

/// Per-genre thresholds that maximise each genre's F1 on the given (validation) predictions.
/// Ties go to the threshold closest to 0.5; a genre without positives keeps 0.5.
pub fn tune_thresholds(probabilities: &[f32], targets: &[f32], genres: usize) -> Vec<f32> {
    assert!(genres > 0 && probabilities.len().is_multiple_of(genres), "probabilities do not fit {genres} genres");
    assert_eq!(probabilities.len(), targets.len(), "probabilities and targets differ in length");
    let n = probabilities.len() / genres;
    (0..genres)
        .map(|col| {
            let column: Vec<(f32, bool)> =
                (0..n).map(|row| (probabilities[row * genres + col], targets[row * genres + col] >= 0.5)).collect();
            if !column.iter().any(|&(_, positive)| positive) {
                return 0.5;
            }
            let mut best = (f64::NEG_INFINITY, 0.5f32);
            for threshold in candidate_thresholds() {
                let mut counts = Counts::default();
                for &(p, positive) in &column {
                    match (p >= threshold, positive) {
                        (true, true) => counts.tp += 1,
                        (true, false) => counts.fp += 1,
                        (false, true) => counts.fn_ += 1,
                        (false, false) => {}
                    }
                }
                let f1 = counts.f1();
                let closer = (threshold - 0.5).abs() < (best.1 - 0.5).abs();
                if f1 > best.0 + 1e-12 || ((f1 - best.0).abs() <= 1e-12 && closer) {
                    best = (f1, threshold);
                }
            }
            best.1
        })
        .collect()
}

/// One bin of a reliability table: the (movie, genre) pairs whose probability fell in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// The bin's lower edge (included).
    pub from: f64,
    /// Its upper edge (excluded, but for the last bin's 1).
    pub to: f64,
    /// How many pairs fell in it.
    pub pairs: usize,
    /// Their mean predicted probability.
    pub mean_probability: f64,
    /// The fraction of them that have the genre.
    pub frequency: f64,
}

/// How well the probabilities match how often the genres occur: a reliability table over every
/// (movie, genre) pair and its expected calibration error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Equal-width bins of the predicted probability, empty ones included.
    pub bins: Vec<CalibrationBin>,
    /// The mean over pairs of |mean probability - frequency| of their bin (0: calibrated).
    pub expected_calibration_error: f64,
}

/// The reliability table of `probabilities` against `targets` (1.0 where the pair is positive)
/// in `bins` equal-width bins.
pub fn calibration(probabilities: &[f32], targets: &[f32], bins: usize) -> Calibration {
    assert_eq!(probabilities.len(), targets.len(), "probabilities and targets differ in length");
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0.0f64); bins];
    for (&p, &t) in probabilities.iter().zip(targets) {
        let bin = ((f64::from(p) * bins as f64) as usize).min(bins - 1);
        let sum = &mut sums[bin];
        sum.0 += 1;
        sum.1 += f64::from(p);
        sum.2 += f64::from(u8::from(t >= 0.5));
    }
    let total = probabilities.len().max(1) as f64;
    let mut error = 0.0;
    let bins = sums
        .iter()
        .enumerate()
        .map(|(i, &(pairs, probability, positives))| {
            let (mean_probability, frequency) = match pairs {
                0 => (0.0, 0.0),
                n => (probability / n as f64, positives / n as f64),
            };
            error += pairs as f64 / total * (mean_probability - frequency).abs();
            CalibrationBin {
                from: i as f64 / bins as f64,
                to: (i + 1) as f64 / bins as f64,
                pairs,
                mean_probability,
                frequency,
            }
        })
        .collect();
    Calibration { bins, expected_calibration_error: error }
}

/// The logit of a probability (clamped away from 0 and 1).
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// The logistic function.
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_finds_calibrated_and_overconfident_probabilities() {
        // Half the pairs at 0.25 of which a quarter are positive, half at 0.75 of which three
        // quarters are: calibrated.
        let probabilities: Vec<f32> = [[0.25f32; 8], [0.75; 8]].concat();
        let targets: Vec<f32> =
            [[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]].concat();
        let calibrated = calibration(&probabilities, &targets, 10);
        assert_eq!(calibrated.bins.len(), 10);
        assert_eq!((calibrated.bins[2].pairs, calibrated.bins[7].pairs), (8, 8));
        assert!(calibrated.expected_calibration_error < 1e-9);
        // Always 0.95 on pairs that are positive half the time: off by 0.45, in the last bin.
        let overconfident = calibration(&[0.95; 4], &[1.0, 0.0, 1.0, 0.0], 10);
        assert!((overconfident.expected_calibration_error - 0.45).abs() < 1e-6);
        assert_eq!(overconfident.bins[9].pairs, 4);
        assert_eq!(calibration(&[1.0], &[1.0], 10).bins[9].pairs, 1, "a probability of 1 is in the last bin");
    }

    #[test]
    fn logit_inverts_sigmoid_and_stays_finite_at_the_ends() {
        assert!((logit(sigmoid(1.5)) - 1.5).abs() < 1e-4 && logit(0.0).is_finite() && logit(1.0).is_finite());
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("g{i}")).collect()
    }

    fn to_targets(rows: &[[u8; 3]]) -> Vec<f32> {
        rows.iter().flatten().map(|&v| f32::from(v)).collect()
    }

    fn to_predictions(rows: &[[u8; 3]]) -> Vec<bool> {
        rows.iter().flatten().map(|&v| v == 1).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    /// Worked by hand; scikit-learn gives the same numbers:
    /// y_true = [[1,0,1],[0,1,0],[1,1,0],[0,0,0]], y_pred = [[1,0,0],[0,1,1],[1,0,0],[0,0,0]].
    #[test]
    fn hand_worked_case_matches_scikit_learn_definitions() {
        let y_true = to_targets(&[[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]]);
        let y_pred = to_predictions(&[[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]]);
        let report = evaluate_predictions(&y_pred, &y_true, &[0.5; 3], &names(3));
        // Per genre: g0 tp2 fp0 fn0 -> P1 R1 F1 1; g1 tp1 fp0 fn1 -> P1 R.5 F2/3;
        // g2 tp0 fp1 fn1 -> 0 0 0.
        let f: Vec<f64> = report.per_genre.iter().map(|s| s.f1).collect();
        close(f[0], 1.0);
        close(f[1], 2.0 / 3.0);
        close(f[2], 0.0);
        assert_eq!(report.per_genre.iter().map(|s| s.support).collect::<Vec<_>>(), [2, 2, 1]);
        // Micro: tp3 fp1 fn2 -> P 3/4, R 3/5, F1 6/9.
        close(report.micro_precision, 0.75);
        close(report.micro_recall, 0.6);
        close(report.micro_f1, 6.0 / 9.0);
        close(report.macro_f1, (1.0 + 2.0 / 3.0) / 3.0);
        close(report.macro_precision, 2.0 / 3.0);
        close(report.macro_recall, 0.5);
        // Weighted by support 2, 2, 1.
        close(report.weighted_f1, (2.0 + 4.0 / 3.0) / 5.0);
        // Samples: row0 2*1/(2+1)=2/3, row1 2*1/(1+2)=2/3, row2 2/(2+1)=2/3, row3 0/0 -> 0.
        close(report.samples_f1, 2.0 / 4.0);
        // Hamming: wrong cells 1 + 1 + 1 + 0 = 3 of 12.
        close(report.hamming_loss, 0.25);
        // Only the all-negative row is exactly right.
        close(report.subset_accuracy, 0.25);
    }

    #[test]
    fn zero_division_gives_zero_not_nan() {
        let y_true = vec![0.0; 6];
        let y_pred = vec![false; 6];
        let report = evaluate_predictions(&y_pred, &y_true, &[0.5; 3], &names(3));
        for v in [report.micro_f1, report.macro_f1, report.weighted_f1, report.samples_f1] {
            close(v, 0.0);
        }
        close(report.hamming_loss, 0.0);
        close(report.subset_accuracy, 1.0);
    }

    #[test]
    fn thresholds_apply_per_genre() {
        let probabilities = [0.3, 0.7, 0.6, 0.2];
        let targets = [1.0, 1.0, 0.0, 0.0];
        let report = evaluate(&probabilities, &targets, &[0.25, 0.8], &names(2));
        // Genre 0 (threshold .25): row0 .3 -> tp, row1 .6 -> fp. Genre 1 (.8): .7 -> fn, .2 -> tn.
        close(report.per_genre[0].precision, 0.5);
        close(report.per_genre[1].recall, 0.0);
        assert_eq!(report.per_genre[1].threshold, 0.8);
    }

    #[test]
    fn tuned_thresholds_maximise_f1_on_the_given_split() {
        // Genre 0 separates perfectly between 0.35 and 0.6; genre 1 has no positives.
        let probabilities = [0.6, 0.1, 0.9, 0.2, 0.3, 0.3, 0.35, 0.4];
        let targets = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let thresholds = tune_thresholds(&probabilities, &targets, 2);
        assert!(thresholds[0] > 0.35 && thresholds[0] <= 0.6, "{thresholds:?}");
        assert_eq!(thresholds[1], 0.5);
        let tuned = evaluate(&probabilities, &targets, &thresholds, &names(2));
        close(tuned.per_genre[0].f1, 1.0);
        // The tie between 0.36..=0.60 goes to the one closest to 0.5.
        assert_eq!(thresholds[0], 0.5);
    }
}

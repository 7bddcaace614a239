//! A blend of several models' genre logits: for each genre, `bias + Σ weight_s · logit_s`, a
//! logistic regression over the sources' logits for that genre, fitted by Newton's method.
//!
//! A blend is fitted on movies none of its sources trained on (the validation split): a fine-tuned
//! model is over-confident on its own training movies, so a blend fitted there would trust it too
//! much. [`cross_fit`] gives each validation movie the output of a blend fitted on the other
//! folds, so that thresholds and the blend's penalty are chosen on held-out outputs too.

use serde::{Deserialize, Serialize};

use crate::metrics::sigmoid;

/// How a blend is fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendSettings {
    /// The L2 penalty on the weights (the loss is a mean over movies).
    pub l2: f64,
    /// Weigh each genre's positives and negatives to the same total (for rare genres); the
    /// bias is then corrected back to the genre's prior, so probabilities stay calibrated.
    pub balanced: bool,
}

impl std::fmt::Display for BlendSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "l2 {}{}", self.l2, if self.balanced { ", balanced classes" } else { "" })
    }
}

/// Per-genre weights of each source's logits, and a bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    /// `[genre][source]`.
    pub weights: Vec<Vec<f32>>,
    /// One per genre.
    pub bias: Vec<f32>,
}

impl Blend {
    /// The number of genres.
    pub fn genres(&self) -> usize {
        self.bias.len()
    }

    /// The blended logits of one movie from each source's logits (`sources[s][genre]`).
    pub fn apply(&self, sources: &[&[f32]]) -> Vec<f32> {
        (0..self.genres())
            .map(|g| self.bias[g] + self.weights[g].iter().zip(sources).map(|(w, s)| w * s[g]).sum::<f32>())
            .collect()
    }

    /// Fits a blend of `sources` (each `[movies, genres]` logits, row-major) to `targets` (the
    /// same shape, 1.0 where a movie has the genre), minimising the mean (optionally
    /// class-balanced) log loss plus `l2 / 2` times the squared weights (the bias is not
    /// penalised).
    pub fn fit(sources: &[&[f32]], targets: &[f32], genres: usize, settings: BlendSettings) -> Self {
        let movies = targets.len() / genres;
        assert!(sources.iter().all(|s| s.len() == targets.len()), "every source has a row per movie");
        let (weights, bias) = (0..genres)
            .map(|g| {
                let rows: Vec<Vec<f64>> = (0..movies)
                    .map(|m| sources.iter().map(|s| f64::from(s[m * genres + g])).chain([1.0]).collect())
                    .collect();
                let labels: Vec<f64> = (0..movies).map(|m| f64::from(targets[m * genres + g])).collect();
                let positives = labels.iter().sum::<f64>().clamp(1.0, movies as f64 - 1.0);
                let weights: Vec<f64> = labels
                    .iter()
                    .map(|&y| match settings.balanced {
                        false => 1.0,
                        true if y > 0.5 => movies as f64 / (2.0 * positives),
                        true => movies as f64 / (2.0 * (movies as f64 - positives)),
                    })
                    .collect();
                let mut solution = newton(&rows, &labels, &weights, settings.l2);
                let mut bias = solution.pop().expect("a bias");
                if settings.balanced {
                    // Prior correction: balancing multiplies the fitted odds by negatives /
                    // positives; dividing it out keeps the probabilities calibrated (the page
                    // shows them) while the weights keep what balancing taught them.
                    bias -= ((movies as f64 - positives) / positives).ln();
                }
                let bias = bias as f32;
                (solution.into_iter().map(|w| w as f32).collect::<Vec<f32>>(), bias)
            })
            .unzip();
        Self { weights, bias }
    }
}

/// Logistic regression by Newton's method on `rows` (the last column is the constant 1 of the
/// bias), each row's loss times its weight, with an L2 penalty on every other coefficient.
fn newton(rows: &[Vec<f64>], labels: &[f64], weights: &[f64], l2: f64) -> Vec<f64> {
    let dims = rows[0].len();
    let n = rows.len() as f64;
    let mut beta = vec![0.0; dims];
    for _ in 0..50 {
        let mut gradient: Vec<f64> = (0..dims).map(|j| if j + 1 < dims { l2 * beta[j] } else { 0.0 }).collect();
        let mut hessian: Vec<Vec<f64>> =
            (0..dims).map(|j| (0..dims).map(|k| if j == k && j + 1 < dims { l2 } else { 0.0 }).collect()).collect();
        hessian[dims - 1][dims - 1] = 1e-9;
        for ((row, &y), &weight) in rows.iter().zip(labels).zip(weights) {
            let z: f64 = row.iter().zip(&beta).map(|(x, b)| x * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let curvature = weight * (p * (1.0 - p)).max(1e-12) / n;
            for j in 0..dims {
                gradient[j] += weight * (p - y) * row[j] / n;
                for k in 0..dims {
                    hessian[j][k] += curvature * row[j] * row[k];
                }
            }
        }
        let step = solve(hessian, gradient);
        let size = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
        beta.iter_mut().zip(&step).for_each(|(b, s)| *b -= s);
        if size < 1e-9 {
            break;
        }
    }
    beta
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (`a` is small and positive
/// definite here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).expect("a row");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            row.iter_mut().zip(pivot_row).skip(col).for_each(|(x, p)| *x -= factor * p);
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    x
}

/// Out-of-fold probabilities (`[movies, genres]`): each movie's come from a blend fitted on
/// the movies of the other folds (`folds[m]` is movie `m`'s fold).
pub fn cross_fit(
    sources: &[&[f32]],
    targets: &[f32],
    genres: usize,
    settings: BlendSettings,
    folds: &[usize],
) -> Vec<f32> {
    let count = folds.iter().max().map_or(0, |f| f + 1);
    let mut probabilities = vec![0.0f32; targets.len()];
    for fold in 0..count {
        let keep: Vec<usize> = (0..folds.len()).filter(|&m| folds[m] != fold).collect();
        let rows = |values: &[f32]| -> Vec<f32> {
            keep.iter().flat_map(|&m| values[m * genres..(m + 1) * genres].iter().copied()).collect()
        };
        let fitted_sources: Vec<Vec<f32>> = sources.iter().map(|s| rows(s)).collect();
        let refs: Vec<&[f32]> = fitted_sources.iter().map(Vec::as_slice).collect();
        let blend = Blend::fit(&refs, &rows(targets), genres, settings);
        for m in (0..folds.len()).filter(|&m| folds[m] == fold) {
            let movie: Vec<&[f32]> = sources.iter().map(|s| &s[m * genres..(m + 1) * genres]).collect();
            for (g, z) in blend.apply(&movie).into_iter().enumerate() {
                probabilities[m * genres + g] = sigmoid(z);
            }
        }
    }
    probabilities
}

/// A movie's fold among `folds`, from a stable hash of its id (FNV-1a).
pub fn fold_of(id: &str, folds: usize) -> usize {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % folds.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BlendSettings = BlendSettings { l2: 1e-3, balanced: false };

    /// Two genres, 400 movies: a strong source, a weak one and noise in the targets.
    fn data() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut state = 7u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32
        };
        let (mut strong, mut weak, mut targets) = (vec![], vec![], vec![]);
        for _ in 0..400 * 2 {
            let truth = uniform() * 6.0 - 3.0;
            strong.push(truth + uniform() - 0.5);
            weak.push(truth * 0.3 + uniform() * 4.0 - 2.0);
            targets.push(f32::from(sigmoid(truth) > uniform()));
        }
        (strong, weak, targets)
    }

    #[test]
    fn newton_finds_the_penalised_optimum() {
        let (strong, weak, targets) = data();
        let blend = Blend::fit(&[&strong, &weak], &targets, 2, SETTINGS);
        let loss = |blend: &Blend| -> f64 {
            let mut sum = 0.0;
            for m in 0..400 {
                let z = blend.apply(&[&strong[m * 2..m * 2 + 2], &weak[m * 2..m * 2 + 2]]);
                for g in 0..2 {
                    let p = f64::from(sigmoid(z[g])).clamp(1e-12, 1.0 - 1e-12);
                    sum -= if targets[m * 2 + g] > 0.5 { p.ln() } else { (1.0 - p).ln() };
                }
            }
            let penalty: f64 = blend.weights.iter().flatten().map(|w| f64::from(w * w)).sum();
            sum / 400.0 + 0.5e-3 * penalty
        };
        let best = loss(&blend);
        for g in 0..2 {
            for s in 0..2 {
                for delta in [-0.01f32, 0.01] {
                    let mut nudged = blend.clone();
                    nudged.weights[g][s] += delta;
                    assert!(loss(&nudged) >= best - 1e-7, "genre {g} source {s}");
                }
            }
        }
        // The strong source carries the blend.
        assert!(blend.weights.iter().all(|w| w[0] > 3.0 * w[1].abs()), "{blend:?}");
    }

    #[test]
    fn balanced_classes_change_the_weights_and_keep_probabilities_calibrated() {
        let (strong, weak, mut targets) = data();
        // Genre 1 made rare: one movie in ten keeps it.
        targets.iter_mut().enumerate().filter(|(i, _)| i % 2 == 1 && i % 20 != 1).for_each(|(_, t)| *t = 0.0);
        let plain = Blend::fit(&[&strong, &weak], &targets, 2, SETTINGS);
        let balanced = Blend::fit(&[&strong, &weak], &targets, 2, BlendSettings { balanced: true, ..SETTINGS });
        assert!((balanced.weights[1][0] - plain.weights[1][0]).abs() > 1e-3, "{plain:?} {balanced:?}");
        let frequency = (0..400).map(|m| targets[m * 2 + 1]).sum::<f32>() / 400.0;
        let mean = |blend: &Blend| -> f32 {
            (0..400)
                .map(|m| sigmoid(blend.apply(&[&strong[m * 2..m * 2 + 2], &weak[m * 2..m * 2 + 2]])[1]))
                .sum::<f32>()
                / 400.0
        };
        // Without the prior correction a balanced fit's mean probability would be near 0.5.
        assert!((mean(&plain) - frequency).abs() < 0.01, "{} vs {frequency}", mean(&plain));
        assert!((mean(&balanced) - frequency).abs() < 0.05, "{} vs {frequency}", mean(&balanced));
        assert_eq!(BlendSettings { l2: 0.01, balanced: true }.to_string(), "l2 0.01, balanced classes");
    }

    #[test]
    fn cross_fitting_never_uses_a_movies_own_fold() {
        let (strong, weak, targets) = data();
        let folds: Vec<usize> = (0..400).map(|m| fold_of(&format!("movie-{m}"), 5)).collect();
        assert!((0..5).all(|f| folds.iter().filter(|&&x| x == f).count() > 50), "folds are balanced");
        let oof = cross_fit(&[&strong, &weak], &targets, 2, SETTINGS, &folds);
        // Movie 0's probabilities come from the blend fitted without fold folds[0].
        let keep: Vec<usize> = (0..400).filter(|&m| folds[m] != folds[0]).collect();
        let rows = |v: &[f32]| -> Vec<f32> { keep.iter().flat_map(|&m| v[m * 2..m * 2 + 2].to_vec()).collect() };
        let blend = Blend::fit(&[&rows(&strong), &rows(&weak)], &rows(&targets), 2, SETTINGS);
        let expected = blend.apply(&[&strong[0..2], &weak[0..2]]);
        assert!((oof[0] - sigmoid(expected[0])).abs() < 1e-6 && (oof[1] - sigmoid(expected[1])).abs() < 1e-6);
        assert_eq!(fold_of("movie-1", 5), fold_of("movie-1", 5));
    }
}

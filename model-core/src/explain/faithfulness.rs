//! The deletion test: an explanation is faithful when leaving out what it ranks first lowers the
//! explained genre's probability more than leaving out as many random words (or poster cells),
//! and more than another method's first choices.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{mask_cells, without_words, ExplainOptions, Explainer, Movie, PosterMethod, WordMethod};
use crate::error::Result;
use crate::metrics::sigmoid;

/// What is deleted, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionSettings {
    /// How many of the top-ranked words (or cells) are deleted: one row per count.
    pub counts: Vec<usize>,
    /// Steps of integrated gradients.
    pub steps: usize,
    /// Seed of the random baseline.
    pub seed: u64,
}

impl Default for DeletionSettings {
    fn default() -> Self {
        Self { counts: vec![1, 3, 5, 10], steps: ExplainOptions::default().steps, seed: 7 }
    }
}

/// One ranking's mean probability drops, one per deletion count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionRow {
    /// The method, or `random`.
    pub method: String,
    /// The mean drop of the explained genre's probability for each count.
    pub mean_drop: Vec<f64>,
    /// Mean seconds to explain one movie's genre with this method (and the cheapest method for
    /// the other input: gradients for the words, Grad-CAM for the poster).
    pub seconds: f64,
}

/// The deletion test over a set of movies, words and poster cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionReport {
    /// The deletion counts.
    pub counts: Vec<usize>,
    /// Movies whose plot was tested.
    pub plot_movies: usize,
    /// Movies whose poster was tested.
    pub poster_movies: usize,
    /// Rankings of words.
    pub words: Vec<DeletionRow>,
    /// Rankings of poster cells.
    pub poster: Vec<DeletionRow>,
    /// Median seconds to classify one movie.
    pub classify_seconds: f64,
    /// Median seconds to explain every predicted genre of one movie with the default methods.
    pub explain_seconds: f64,
    /// The same with the fastest methods (gradients for the words, Grad-CAM for the poster).
    pub explain_fast_seconds: f64,
    /// For integrated gradients: the mean relative gap between the words' scores' sum and the
    /// model part's change from the baseline (its completeness).
    pub completeness_gap: f64,
    /// The median of those gaps.
    pub completeness_gap_median: f64,
}

/// A small deterministic generator for the random baseline (SplitMix64).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `count` distinct items of `pool`, in random order.
    fn pick(&mut self, pool: &[usize], count: usize) -> Vec<usize> {
        let mut pool = pool.to_vec();
        for i in (1..pool.len()).rev() {
            pool.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
        pool.truncate(count);
        pool
    }
}

/// `pool` ranked by `scores`, highest first.
fn ranked(pool: &[usize], scores: &[f32]) -> Vec<usize> {
    let mut order = pool.to_vec();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the deletion test on `movies` (each explained for its most probable genre), calling
/// `progress` after each movie.
pub fn deletion_test(
    explainer: &Explainer,
    movies: &[Movie],
    settings: &DeletionSettings,
    mut progress: impl FnMut(usize),
) -> Result<DeletionReport> {
    let word_methods = [WordMethod::Gradient, WordMethod::IntegratedGradients, WordMethod::Occlusion];
    let poster_methods = [PosterMethod::GradCam, PosterMethod::Gradient, PosterMethod::Occlusion];
    let counts = &settings.counts;
    let mut random = Random(settings.seed);
    let mut word_drops = vec![vec![0.0f64; counts.len()]; word_methods.len() + 1];
    let mut poster_drops = vec![vec![0.0f64; counts.len()]; poster_methods.len() + 1];
    let mut word_seconds = vec![0.0f64; word_methods.len()];
    let mut poster_seconds = vec![0.0f64; poster_methods.len()];
    let (mut plot_movies, mut poster_movies) = (0, 0);
    let (mut classify, mut explain, mut fast, mut gaps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let fastest =
        ExplainOptions { words: WordMethod::Gradient, poster: PosterMethod::GradCam, ..ExplainOptions::default() };
    for (done, movie) in movies.iter().enumerate() {
        let started = Instant::now();
        let logits = explainer.logits(movie);
        classify.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        explainer.explain(movie, &ExplainOptions::default())?;
        explain.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        explainer.explain(movie, &fastest)?;
        fast.push(started.elapsed().as_secs_f64());
        let genre = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).expect("a genre");
        let name = explainer.predictor().genres()[genre].clone();
        let before = sigmoid(logits[genre]) as f64;
        let drop = |edited: &Movie| before - sigmoid(explainer.logits(edited)[genre]) as f64;

        let words = movie.words();
        let pool: Vec<usize> =
            (0..words.len()).filter(|&w| words[w].read && words[w].text.chars().any(char::is_alphanumeric)).collect();
        if let (Some(plot), true) = (movie.plot.as_deref(), pool.len() >= 2) {
            plot_movies += 1;
            let delete = |order: &[usize], count: usize| {
                let edited = explainer.with_plot(movie, &without_words(plot, &words, &order[..count.min(order.len())]));
                drop(&edited)
            };
            for (m, &method) in word_methods.iter().enumerate() {
                // The poster by the cheapest method, so the time is mostly the words'.
                let options = ExplainOptions {
                    genres: vec![name.clone()],
                    words: method,
                    poster: PosterMethod::GradCam,
                    steps: settings.steps,
                };
                let started = Instant::now();
                let explained = explainer.explain(movie, &options)?;
                word_seconds[m] += started.elapsed().as_secs_f64();
                let order = ranked(&pool, &explained.genres[0].words);
                for (c, &count) in counts.iter().enumerate() {
                    word_drops[m][c] += delete(&order, count);
                }
                if method == WordMethod::IntegratedGradients {
                    let (scores, change) = explainer.integrated_gradients_of(movie, genre, settings.steps);
                    let sum: f32 = scores.iter().sum();
                    gaps.push(((sum - change).abs() / change.abs().max(1e-6)) as f64);
                }
            }
            let order = random.pick(&pool, *counts.iter().max().unwrap_or(&1));
            for (c, &count) in counts.iter().enumerate() {
                word_drops[word_methods.len()][c] += delete(&order, count);
            }
        }

        if let Some(poster) = movie.poster.as_deref() {
            poster_movies += 1;
            let mut grid = [0, 0];
            for (m, &method) in poster_methods.iter().enumerate() {
                // The words by the cheapest method, so the time is mostly the poster's.
                let options = ExplainOptions {
                    genres: vec![name.clone()],
                    words: WordMethod::Gradient,
                    poster: method,
                    ..ExplainOptions::default()
                };
                let started = Instant::now();
                let explained = explainer.explain(movie, &options)?;
                poster_seconds[m] += started.elapsed().as_secs_f64();
                grid = explained.poster_grid.expect("a poster grid");
                let cells: Vec<usize> = (0..grid[0] * grid[1]).collect();
                let order = ranked(&cells, &explained.genres[0].poster);
                for (c, &count) in counts.iter().enumerate() {
                    poster_drops[m][c] +=
                        drop(&explainer.with_poster(movie, mask_cells(poster, grid, &order[..count])));
                }
            }
            let cells: Vec<usize> = (0..grid[0] * grid[1]).collect();
            let order = random.pick(&cells, *counts.iter().max().unwrap_or(&1));
            for (c, &count) in counts.iter().enumerate() {
                poster_drops[poster_methods.len()][c] +=
                    drop(&explainer.with_poster(movie, mask_cells(poster, grid, &order[..count])));
            }
        }
        progress(done + 1);
    }
    let rows = |names: Vec<String>, drops: Vec<Vec<f64>>, seconds: Vec<f64>, movies: usize| -> Vec<DeletionRow> {
        let n = movies.max(1) as f64;
        names
            .into_iter()
            .zip(drops)
            .enumerate()
            .map(|(i, (method, drops))| DeletionRow {
                method,
                mean_drop: drops.iter().map(|d| d / n).collect(),
                seconds: seconds.get(i).map_or(0.0, |s| s / n),
            })
            .collect()
    };
    let word_names = word_methods.iter().map(ToString::to_string).chain(["random".to_string()]).collect();
    let poster_names = poster_methods.iter().map(ToString::to_string).chain(["random".to_string()]).collect();
    Ok(DeletionReport {
        counts: counts.clone(),
        plot_movies,
        poster_movies,
        words: rows(word_names, word_drops, word_seconds, plot_movies),
        poster: rows(poster_names, poster_drops, poster_seconds, poster_movies),
        classify_seconds: median(classify),
        explain_seconds: median(explain),
        explain_fast_seconds: median(fast),
        completeness_gap: gaps.iter().sum::<f64>() / gaps.len().max(1) as f64,
        completeness_gap_median: median(gaps),
    })
}

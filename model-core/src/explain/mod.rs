//! Why the model chose a genre: per word of the plot, per region of the poster and per source
//! (text branch, image branch, lexical branch), each a share of the genre's blended logit.
//!
//! The blended logit is `bias + Σ weight_s · logit_s` over the blend's sources ([`crate::stacking::blend`]);
//! a fusion head that concatenates its two projections splits exactly into a text side and an
//! image side, and the lexical branch is linear in its TF-IDF terms, so the per-source terms and
//! the lexical words' shares are exact. The text and image models' shares come from one of the
//! [`WordMethod`]s and [`PosterMethod`]s, chosen by the deletion test of [`faithfulness`].
//! Gradients are taken with burn's autodiff on a frozen copy of the model.

pub mod faithfulness;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inference::{Predictor, Route};
use crate::metrics::sigmoid;
use crate::models::{Classifier, GenreClassifier};
use crate::preprocess::text::WordSpan;

/// How each word's share of a genre's logit is computed from the text model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WordMethod {
    /// The logit's gradient with respect to each token's word embedding, times the embedding
    /// (one backward pass for all explained genres).
    Gradient,
    /// Integrated gradients from all-zero word embeddings ([`ExplainOptions::steps`] steps);
    /// the scores sum to the logit's change from that baseline.
    IntegratedGradients,
    /// The drop of the logit when the word is left out of the plot (one forward pass a word).
    Occlusion,
}

/// How each poster region's share of a genre's logit is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PosterMethod {
    /// Grad-CAM's gradient times activation on the image model's last feature map (signed;
    /// its cells sum to the first-order change of the logit).
    GradCam,
    /// The logit's gradient with respect to the poster's pixels times the pixels, summed over
    /// each cell of the grid (one backward pass through the image model for all genres).
    Gradient,
    /// The drop of the logit when a cell of the poster is set to the mean colour (one forward
    /// pass a cell).
    Occlusion,
}

macro_rules! named {
    ($type:ty { $($variant:ident = $name:literal),+ }) => {
        impl std::str::FromStr for $type {
            type Err = String;
            fn from_str(name: &str) -> std::result::Result<Self, String> {
                match name {
                    $($name => Ok(<$type>::$variant),)+
                    _ => Err(format!("unknown method '{name}' ({})", [$($name),+].join(", "))),
                }
            }
        }
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { $(<$type>::$variant => $name,)+ })
            }
        }
    };
}
named!(WordMethod { Gradient = "gradient", IntegratedGradients = "integrated-gradients", Occlusion = "occlusion" });
named!(PosterMethod { GradCam = "grad-cam", Gradient = "gradient", Occlusion = "occlusion" });

/// What to explain and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainOptions {
    /// The genres to explain; empty: every predicted genre (the most probable one if none is).
    pub genres: Vec<String>,
    /// The words' method.
    pub words: WordMethod,
    /// The poster's method.
    pub poster: PosterMethod,
    /// Steps of integrated gradients.
    pub steps: usize,
}

impl Default for ExplainOptions {
    /// The methods the deletion test chose (RESULTS.md, "Explanations"): occlusion for the
    /// words and for the poster; 32 steps of integrated gradients where they are asked for.
    fn default() -> Self {
        Self { genres: Vec::new(), words: WordMethod::Occlusion, poster: PosterMethod::Occlusion, steps: 32 }
    }
}

/// One word of the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word as typed.
    pub text: String,
    /// Its first byte in the plot.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Whether the text model read it (words past the tokenizer's length limit are not read).
    pub read: bool,
}

/// A genre's logit split by source; the terms sum to the logit.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceTerms {
    /// From the plot through the text model (its branch and its side of the fusion head).
    pub text: f32,
    /// From the poster through the image model.
    pub image: f32,
    /// From the plot's words through the lexical branch.
    pub lexical: f32,
    /// A gated fusion head's output, which does not split into the two sides.
    pub joint: f32,
    /// The constant part: the blend's and the heads' biases.
    pub bias: f32,
}

impl SourceTerms {
    /// Each source's share of the logit's size: `|term| / Σ |terms|` for text, image, lexical
    /// and joint (the bias left out).
    pub fn shares(&self) -> [f32; 4] {
        let terms = [self.text, self.image, self.lexical, self.joint];
        let total: f32 = terms.iter().map(|t| t.abs()).sum();
        terms.map(|t| if total > 0.0 { t.abs() / total } else { 0.0 })
    }
}

/// Why the model gave one genre its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct GenreExplanation {
    /// The genre.
    pub genre: String,
    /// Its probability (as `marquee predict` gives it).
    pub probability: f32,
    /// Its threshold.
    pub threshold: f32,
    /// Whether it is predicted.
    pub predicted: bool,
    /// The blended logit the scores explain.
    pub logit: f32,
    /// Each word's share of the logit (text model and lexical branch together), one per word.
    pub words: Vec<f32>,
    /// The lexical branch's part of `words` (exact).
    pub lexical_words: Vec<f32>,
    /// Each poster cell's share, row-major over [`Explanation::poster_grid`].
    pub poster: Vec<f32>,
    /// The logit by source.
    pub sources: SourceTerms,
}

/// Why the model answered as it did for one movie ([`Explanation::reports`] gives the shape the
/// CLI prints and the browser returns).
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Which inputs were read.
    pub route: Route,
    /// The plot's words (empty without a plot).
    pub words: Vec<Word>,
    /// Rows and columns of the poster's grid of scores, where a poster was read.
    pub poster_grid: Option<[usize; 2]>,
    /// The words' method.
    pub word_method: WordMethod,
    /// The poster's method.
    pub poster_method: PosterMethod,
    /// The explained genres, most probable first.
    pub genres: Vec<GenreExplanation>,
}

/// One word of the plot in a [`GenreReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordScore {
    /// The word as typed.
    pub word: String,
    /// Its first UTF-16 code unit in the plot as given (a JavaScript string index; the
    /// character index for text without characters beyond the Basic Multilingual Plane).
    pub start: usize,
    /// One past its last.
    pub end: usize,
    /// Its share of the genre's logit: above 0 for the genre, below against.
    pub score: f32,
    /// The lexical branch's part of `score`.
    pub lexical: f32,
    /// Whether the text model read it (words past the tokenizer's length limit are not read).
    pub read: bool,
}

/// A genre's scores over the poster's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosterScores {
    /// Rows of the grid.
    pub rows: usize,
    /// Columns of the grid.
    pub cols: usize,
    /// One score a cell, row-major: above 0 for the genre, below against.
    pub scores: Vec<f32>,
}

/// One explained genre in the shape `marquee explain --json` prints and the browser's `explain`
/// returns (the contract of `DESIGN.md`, with keys added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenreReport {
    /// The genre.
    pub genre: String,
    /// Its probability.
    pub probability: f32,
    /// Its threshold.
    pub threshold: f32,
    /// Whether it is predicted.
    pub predicted: bool,
    /// The blended logit that the scores and the sources split.
    pub logit: f32,
    /// The plot's words and their scores (empty without a plot).
    pub words: Vec<WordScore>,
    /// The poster's grid of scores, where a poster was read.
    pub poster: Option<PosterScores>,
    /// The logit's terms by source.
    pub sources: SourceTerms,
    /// Which inputs were read.
    pub route: Route,
    /// How the words were scored.
    pub word_method: WordMethod,
    /// How the poster was scored.
    pub poster_method: PosterMethod,
}

impl Explanation {
    /// Every explained genre in the reported shape; `plot` is the plot as given (untrimmed), the
    /// one the words' offsets index.
    pub fn reports(&self, plot: &str) -> Vec<GenreReport> {
        let ranges: Vec<(usize, usize)> = self.words.iter().map(|w| (w.start, w.end)).collect();
        let offsets = utf16_ranges(plot, &ranges);
        self.genres
            .iter()
            .map(|g| GenreReport {
                genre: g.genre.clone(),
                probability: g.probability,
                threshold: g.threshold,
                predicted: g.predicted,
                logit: g.logit,
                words: self
                    .words
                    .iter()
                    .zip(&offsets)
                    .enumerate()
                    .map(|(i, (word, &(start, end)))| WordScore {
                        word: word.text.clone(),
                        start,
                        end,
                        score: g.words.get(i).copied().unwrap_or(0.0),
                        lexical: g.lexical_words.get(i).copied().unwrap_or(0.0),
                        read: word.read,
                    })
                    .collect(),
                poster: self.poster_grid.map(|[rows, cols]| PosterScores { rows, cols, scores: g.poster.clone() }),
                sources: g.sources,
                route: self.route,
                word_method: self.word_method,
                poster_method: self.poster_method,
            })
            .collect()
    }
}

/// Where words given as ascending byte ranges into `plot.trim()` (as [`Explanation::words`]
/// gives them) sit in `plot` itself, as UTF-16 code-unit ranges: JavaScript string indices, so
/// that `plot.slice(start, end)` is the word.
pub fn utf16_ranges(plot: &str, ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let lead = plot.len() - plot.trim_start().len();
    let (mut byte, mut unit) = (0, 0);
    let mut at = |offset: usize| {
        let offset = lead + offset;
        if offset < byte {
            (byte, unit) = (0, 0);
        }
        unit += plot[byte..offset].encode_utf16().count();
        byte = offset;
        unit
    };
    ranges
        .iter()
        .map(|&(start, end)| {
            let start = at(start);
            (start, at(end))
        })
        .collect()
}

/// A movie ready to be explained or scored: its preprocessed poster and its plot's words.
#[derive(Debug, Clone)]
pub struct Movie {
    /// The normalised poster, CHW.
    pub poster: Option<Vec<f32>>,
    /// The plot as given (trimmed).
    pub plot: Option<String>,
    /// The plot's token ids.
    ids: Vec<u32>,
    /// The plot's words and their tokens.
    spans: Vec<WordSpan>,
}

impl Movie {
    /// The plot's words.
    pub fn words(&self) -> Vec<Word> {
        let plot = self.plot.as_deref().unwrap_or("");
        self.spans
            .iter()
            .map(|s| Word {
                text: plot[s.start..s.end].to_string(),
                start: s.start,
                end: s.end,
                read: !s.tokens.is_empty(),
            })
            .collect()
    }
}

/// The blend on one route, seen as weights over the model's own outputs and the lexical one.
struct BlendView {
    /// `[genre][source]`, the sources in the blend's order.
    weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
    /// Where the lexical logits sit among the sources.
    lexical: Option<usize>,
}

impl BlendView {
    /// The blend's index of the model's `i`-th output ([`Explainer::outputs`]' order).
    fn slot(&self, i: usize) -> usize {
        match (self.lexical, i) {
            (Some(_), i) if i > 0 => i + 1,
            _ => i,
        }
    }

    /// The blended logits of one movie from the model's outputs and the lexical logits.
    fn apply(&self, outputs: &[Vec<f32>], lexical: Option<&[f32]>) -> Vec<f32> {
        (0..self.bias.len())
            .map(|g| {
                let model: f32 = outputs.iter().enumerate().map(|(i, o)| self.weights[g][self.slot(i)] * o[g]).sum();
                let lexical = match (self.lexical, lexical) {
                    (Some(slot), Some(l)) => self.weights[g][slot] * l[g],
                    _ => 0.0,
                };
                self.bias[g] + model + lexical
            })
            .collect()
    }
}

/// Explains a loaded bundle's answers.
pub struct Explainer {
    predictor: Predictor,
    /// The model again on the autodiff device, frozen: gradients reach the inputs only.
    tracked: Classifier,
    tracked_device: Device,
}

impl Explainer {
    /// Loads the bundle's model a second time on `predictor`'s device with autodiff.
    pub fn new(predictor: Predictor) -> Result<Self> {
        let tracked_device = predictor.device.clone().autodiff();
        let tracked = predictor.bundle.load_model(&tracked_device)?.freeze();
        Ok(Self { predictor, tracked, tracked_device })
    }

    /// The predictor it explains.
    pub fn predictor(&self) -> &Predictor {
        &self.predictor
    }

    /// Decodes the poster and splits the plot into words; errors as [`Predictor::prepare`].
    pub fn prepare(&self, poster: Option<(&[u8], &str)>, plot: Option<&str>) -> Result<Movie> {
        let inputs = self.predictor.prepare(poster, plot)?;
        let plot = inputs.plot.as_ref().and(plot).map(|p| p.trim().to_string());
        let (ids, spans) = match (&plot, &self.predictor.text) {
            (Some(text), Some(pre)) => pre.encode_words(text),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Movie { poster: inputs.poster, plot, ids, spans })
    }

    /// `movie` with another plot (the deletion test's edits).
    pub fn with_plot(&self, movie: &Movie, plot: &str) -> Movie {
        let (ids, spans) = self.predictor.text.as_ref().map(|p| p.encode_words(plot)).unwrap_or_default();
        Movie { poster: movie.poster.clone(), plot: Some(plot.to_string()), ids, spans }
    }

    /// `movie` with another (preprocessed) poster.
    pub fn with_poster(&self, movie: &Movie, poster: Vec<f32>) -> Movie {
        Movie { poster: Some(poster), ..movie.clone() }
    }

    /// The route the predictor takes for a movie.
    pub fn route(&self, movie: &Movie) -> Route {
        match (&self.predictor.model, movie.poster.is_some(), movie.plot.is_some()) {
            (Classifier::Fusion(_), false, true) => Route::TextBranch,
            (Classifier::Fusion(_), true, false) => Route::ImageBranch,
            _ => Route::Full,
        }
    }

    /// The blend that applies on `route` for a movie with or without a plot.
    fn blend(&self, route: Route, has_plot: bool) -> BlendView {
        let genres = self.predictor.genres().len();
        let identity = || BlendView { weights: vec![vec![1.0]; genres], bias: vec![0.0; genres], lexical: None };
        let (Some(_), Some(spec), true) = (&self.predictor.lexical, &self.predictor.bundle.manifest.lexical, has_plot)
        else {
            return identity();
        };
        let blend = match (route, &spec.text_blend) {
            (Route::Full, _) => &spec.blend,
            (Route::TextBranch, Some(blend)) => blend,
            _ => return identity(),
        };
        let outputs = match (route, self.predictor.lexical_reads_branches()) {
            (Route::Full, true) => 3,
            _ => 1,
        };
        match blend.weights.first().is_some_and(|w| w.len() == outputs + 1) {
            true => BlendView { weights: blend.weights.clone(), bias: blend.bias.clone(), lexical: Some(1) },
            false => identity(),
        }
    }

    /// The model's outputs that the blend reads, in its order without the lexical one: on a
    /// fusion's full route the fused logits, then (where the blend reads them) the text and
    /// image branches' own; otherwise the answering model's logits. From pooled features.
    fn outputs(
        &self,
        model: &Classifier,
        route: Route,
        text: Option<Tensor<2>>,
        image: Option<Tensor<2>>,
    ) -> Vec<Tensor<2>> {
        let text_features = || text.clone().expect("the route reads the plot");
        let image_features = || image.clone().expect("the route reads the poster");
        match (model, route) {
            (Classifier::Text(m), _) => vec![m.head_forward(text_features())],
            (Classifier::Image(m), _) => vec![m.head_forward(image_features())],
            (Classifier::Fusion(f), Route::TextBranch) => vec![f.text.head_forward(text_features())],
            (Classifier::Fusion(f), Route::ImageBranch) => vec![f.image.head_forward(image_features())],
            (Classifier::Fusion(f), Route::Full) => {
                let text_logits = f.text.head_forward(text_features());
                let image_logits = f.image.head_forward(image_features());
                let fused = match f.mode().uses_features() {
                    true => f.head.forward(text_features(), image_features()),
                    false => f.head.forward(text_logits.clone(), image_logits.clone()),
                };
                match self.predictor.lexical_reads_branches() {
                    true => vec![fused, text_logits, image_logits],
                    false => vec![fused],
                }
            }
        }
    }

    fn text_model(model: &Classifier) -> Option<&crate::models::TextClassifier> {
        match model {
            Classifier::Text(m) => Some(m),
            Classifier::Fusion(f) => Some(&f.text),
            Classifier::Image(_) => None,
        }
    }

    fn image_model(model: &Classifier) -> Option<&crate::models::ImageClassifier> {
        match model {
            Classifier::Image(m) => Some(m),
            Classifier::Fusion(f) => Some(&f.image),
            Classifier::Text(_) => None,
        }
    }

    /// Token ids `[rows, len]` padded, with their mask, on `device`.
    fn text_input(&self, sequences: &[Vec<u32>], device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
        let pad = self.predictor.text.as_ref().map_or(0, |t| t.pad_id());
        let padded = crate::preprocess::text::pad_batch(sequences, pad);
        let shape = [padded.batch, padded.len];
        (
            Tensor::from_data(TensorData::new(padded.ids, shape), device),
            Tensor::from_data(TensorData::new(padded.mask, shape), device),
        )
    }

    /// Posters `[rows, 3, side, side]` on `device`.
    fn images(&self, posters: &[&[f32]], device: &Device) -> Tensor<4> {
        let side = self.predictor.image.as_ref().map_or(crate::preprocess::image::IMAGE_SIZE, |i| i.size) as usize;
        Tensor::from_data(TensorData::new(posters.concat(), [posters.len(), 3, side, side]), device)
    }

    /// The pooled text features of token sequences (untracked).
    fn text_features(&self, sequences: &[Vec<u32>]) -> Option<Tensor<2>> {
        let model = Self::text_model(&self.predictor.model)?;
        let (ids, mask) = self.text_input(sequences, &self.predictor.device);
        Some(model.features_embedded(model.embed_words(ids), mask))
    }

    /// The image feature maps of posters (untracked).
    fn feature_maps(&self, posters: &[&[f32]]) -> Option<Tensor<4>> {
        let model = Self::image_model(&self.predictor.model)?;
        Some(model.feature_map(&self.images(posters, &self.predictor.device)))
    }

    /// Blended logits `[rows][genres]` for rows of text features, image features and plots
    /// (for the lexical branch), each given once or once per row.
    fn blended_rows(
        &self,
        route: Route,
        text: Option<Tensor<2>>,
        image: Option<Tensor<2>>,
        plots: &[Option<&str>],
    ) -> Vec<Vec<f32>> {
        let rows = text.as_ref().map_or(0, |t| t.dims()[0]).max(image.as_ref().map_or(0, |t| t.dims()[0])).max(1);
        let widen = |t: Option<Tensor<2>>| t.map(|t| if t.dims()[0] == rows { t } else { t.repeat_dim(0, rows) });
        let outputs: Vec<Vec<f32>> = self
            .outputs(&self.predictor.model, route, widen(text), widen(image))
            .into_iter()
            .map(|o| o.into_data().try_to_vec::<f32>().expect("f32 logits"))
            .collect();
        let genres = self.predictor.genres().len();
        // Each plot's blend and lexical logits once, however many rows share it.
        let per_plot: Vec<(BlendView, Option<Vec<f32>>)> = plots
            .iter()
            .map(|plot| {
                let lexical = match (plot, &self.predictor.lexical) {
                    (Some(text), Some(model)) => Some(model.logits(&model.lexicon.vectorize(text))),
                    _ => None,
                };
                (self.blend(route, plot.is_some()), lexical)
            })
            .collect();
        (0..rows)
            .map(|r| {
                let (blend, lexical) = &per_plot[r.min(plots.len() - 1)];
                let row: Vec<Vec<f32>> = outputs.iter().map(|o| o[r * genres..(r + 1) * genres].to_vec()).collect();
                blend.apply(&row, lexical.as_deref())
            })
            .collect()
    }

    /// The blended logits of a movie, possibly edited (words left out, cells masked): what the
    /// deletion test scores.
    pub fn logits(&self, movie: &Movie) -> Vec<f32> {
        let route = self.route(movie);
        let text =
            (route != Route::ImageBranch).then(|| self.text_features(std::slice::from_ref(&movie.ids))).flatten();
        let image = (route != Route::TextBranch)
            .then(|| movie.poster.as_deref().and_then(|p| self.feature_maps(&[p])).map(pool))
            .flatten();
        self.blended_rows(route, text, image, &[movie.plot.as_deref()]).remove(0)
    }

    /// Explains `movie`'s answers.
    pub fn explain(&self, movie: &Movie, options: &ExplainOptions) -> Result<Explanation> {
        let route = self.route(movie);
        let reads_text = route != Route::ImageBranch && !movie.ids.is_empty();
        let reads_image = route != Route::TextBranch && movie.poster.is_some();
        let text = reads_text.then(|| self.text_features(std::slice::from_ref(&movie.ids))).flatten();
        let maps = reads_image.then(|| movie.poster.as_deref().and_then(|p| self.feature_maps(&[p]))).flatten();
        let image = maps.clone().map(pool);
        let logits = self.blended_rows(route, text.clone(), image.clone(), &[movie.plot.as_deref()]).remove(0);
        let genres = self.chosen_genres(&logits, route, &options.genres)?;
        let blend = self.blend(route, movie.plot.is_some());
        let thresholds = self.predictor.thresholds(route);

        let words = match reads_text {
            false => vec![Vec::new(); genres.len()],
            true => match options.words {
                WordMethod::Gradient => self.word_gradients(movie, route, &blend, &genres, image.clone()),
                WordMethod::IntegratedGradients => genres
                    .iter()
                    .map(|&g| self.integrated_gradients(movie, route, &blend, g, image.clone(), options.steps).0)
                    .collect(),
                WordMethod::Occlusion => self.word_occlusion(movie, route, &genres, image.clone(), &logits),
            },
        };
        let lexical_words: Vec<Vec<f32>> = genres.iter().map(|&g| self.lexical_words(movie, &blend, g)).collect();
        let (poster, poster_grid) = match (&maps, movie.poster.as_deref()) {
            (Some(maps), Some(poster)) => {
                let [_, _, rows, cols] = maps.dims();
                let scores = match options.poster {
                    PosterMethod::GradCam => self.grad_cam(maps.clone(), route, &blend, &genres, text.clone()),
                    PosterMethod::Gradient => {
                        self.pixel_gradients(poster, route, &blend, &genres, [rows, cols], text.clone())
                    }
                    PosterMethod::Occlusion => {
                        self.poster_occlusion(movie, poster, route, &genres, [rows, cols], text.clone(), &logits)
                    }
                };
                (scores, Some([rows, cols]))
            }
            _ => (vec![Vec::new(); genres.len()], None),
        };
        let sources = self.source_terms(route, &blend, text, image, movie);
        let explained = genres
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                // Occlusion's drops already include the lexical branch; the gradients' scores
                // get its exact shares added.
                let with_lexical = options.words != WordMethod::Occlusion;
                let words = match words[i].is_empty() {
                    true => Vec::new(),
                    false => words[i]
                        .iter()
                        .zip(&lexical_words[i])
                        .map(|(w, l)| if with_lexical { w + l } else { *w })
                        .collect(),
                };
                GenreExplanation {
                    genre: self.predictor.genres()[g].clone(),
                    probability: sigmoid(logits[g]),
                    threshold: thresholds[g],
                    predicted: sigmoid(logits[g]) >= thresholds[g],
                    logit: logits[g],
                    words,
                    lexical_words: lexical_words[i].clone(),
                    poster: poster[i].clone(),
                    sources: sources[g],
                }
            })
            .collect();
        Ok(Explanation {
            route,
            words: movie.words(),
            poster_grid,
            word_method: options.words,
            poster_method: options.poster,
            genres: explained,
        })
    }

    /// The genres to explain: those asked for (by name, case-insensitive), or every predicted
    /// one, or the most probable; most probable first.
    fn chosen_genres(&self, logits: &[f32], route: Route, asked: &[String]) -> Result<Vec<usize>> {
        let names = self.predictor.genres();
        let mut chosen: Vec<usize> = match asked.is_empty() {
            false => asked
                .iter()
                .map(|name| {
                    names.iter().position(|g| g.eq_ignore_ascii_case(name.trim())).ok_or_else(|| Error::Config {
                        name: self.predictor.bundle.manifest.name.clone(),
                        reason: format!("no genre '{name}' in this bundle (it has {})", names.join(", ")),
                    })
                })
                .collect::<Result<_>>()?,
            true => {
                let thresholds = self.predictor.thresholds(route);
                (0..names.len()).filter(|&g| sigmoid(logits[g]) >= thresholds[g]).collect()
            }
        };
        if chosen.is_empty() {
            chosen.push((0..names.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).expect("a genre"));
        }
        chosen.dedup();
        chosen.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        Ok(chosen)
    }

    /// One weight tensor a model output: `[rows, genres]`, row `r` holding the blend's weight of
    /// that output for genre `genres[r]` in that genre's column, zeros elsewhere.
    fn selectors(&self, blend: &BlendView, outputs: usize, genres: &[usize], device: &Device) -> Vec<Tensor<2>> {
        let width = self.predictor.genres().len();
        (0..outputs)
            .map(|i| {
                let mut values = vec![0.0f32; genres.len() * width];
                for (r, &g) in genres.iter().enumerate() {
                    values[r * width + g] = blend.weights[g][blend.slot(i)];
                }
                Tensor::from_data(TensorData::new(values, [genres.len(), width]), device)
            })
            .collect()
    }

    /// `Σ_rows Σ_outputs selector · output`: row `r`'s part of its genre's blended logit.
    fn selected(&self, blend: &BlendView, outputs: Vec<Tensor<2>>, genres: &[usize]) -> Tensor<1> {
        let device = outputs[0].device();
        let selectors = self.selectors(blend, outputs.len(), genres, &device);
        outputs.into_iter().zip(selectors).map(|(o, s)| (o * s).sum()).reduce(|a, b| a + b).expect("an output")
    }

    /// A tracked leaf of `values` with `shape` on the autodiff device.
    fn leaf<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::<D>::from_data(TensorData::new(values, shape), &self.tracked_device).require_grad()
    }

    /// Constant rows on the autodiff device: `tensor` (one row) repeated `rows` times.
    fn constant(&self, tensor: Option<Tensor<2>>, rows: usize) -> Option<Tensor<2>> {
        tensor.map(|t| Tensor::<2>::from_data(t.into_data(), &self.tracked_device).repeat_dim(0, rows))
    }

    /// The plot's word embeddings `[len, dim]` as values.
    fn embeddings(&self, movie: &Movie) -> (Vec<f32>, usize) {
        let model = Self::text_model(&self.predictor.model).expect("a text model");
        let (ids, _) = self.text_input(std::slice::from_ref(&movie.ids), &self.predictor.device);
        let embedded = model.embed_words(ids);
        let dim = embedded.dims()[2];
        (embedded.into_data().try_to_vec::<f32>().expect("f32 embeddings"), dim)
    }

    /// Per-token scores `[len]` to per-word scores.
    fn to_words(movie: &Movie, tokens: &[f32]) -> Vec<f32> {
        movie.spans.iter().map(|s| s.tokens.clone().map(|t| tokens[t]).sum()).collect()
    }

    /// Gradient times input on the word embeddings, all genres in one backward pass (one row
    /// a genre).
    fn word_gradients(
        &self,
        movie: &Movie,
        route: Route,
        blend: &BlendView,
        genres: &[usize],
        image: Option<Tensor<2>>,
    ) -> Vec<Vec<f32>> {
        let (values, dim) = self.embeddings(movie);
        let (len, rows) = (movie.ids.len(), genres.len());
        let words = self.leaf(values.repeat(rows), [rows, len, dim]);
        let model = Self::text_model(&self.tracked).expect("a text model");
        let mask = Tensor::<2>::ones([rows, len], &self.tracked_device);
        let text = model.features_embedded(words.clone(), mask);
        let outputs = self.outputs(&self.tracked, route, Some(text), self.constant(image, rows));
        let gradients = self.selected(blend, outputs, genres).backward();
        let gradient = words.grad(&gradients).expect("a gradient for the words");
        let scores = gradient.into_data().try_to_vec::<f32>().expect("f32 gradients");
        (0..rows)
            .map(|r| {
                let tokens: Vec<f32> = (0..len)
                    .map(|t| {
                        let at = (r * len + t) * dim;
                        (0..dim).map(|d| scores[at + d] * values[t * dim + d]).sum()
                    })
                    .collect();
                Self::to_words(movie, &tokens)
            })
            .collect()
    }

    /// Integrated gradients of genre `genre` from all-zero embeddings of the plot's tokens
    /// (`[CLS]` and `[SEP]` kept), by the midpoint rule over `steps` steps in one batch. Returns
    /// the per-word scores and the model part's change from the baseline (what they sum to, up
    /// to the rule's error).
    pub fn integrated_gradients_of(&self, movie: &Movie, genre: usize, steps: usize) -> (Vec<f32>, f32) {
        let route = self.route(movie);
        let blend = self.blend(route, movie.plot.is_some());
        let image = (route != Route::TextBranch)
            .then(|| movie.poster.as_deref().and_then(|p| self.feature_maps(&[p])).map(pool))
            .flatten();
        self.integrated_gradients(movie, route, &blend, genre, image, steps)
    }

    fn integrated_gradients(
        &self,
        movie: &Movie,
        route: Route,
        blend: &BlendView,
        genre: usize,
        image: Option<Tensor<2>>,
        steps: usize,
    ) -> (Vec<f32>, f32) {
        let steps = steps.max(1);
        let (values, dim) = self.embeddings(movie);
        let len = movie.ids.len();
        // The baseline: zero vectors for the plot's tokens, the special tokens as they are.
        let plot_token = |t: usize| t > 0 && t + 1 < len;
        let mut scaled = Vec::with_capacity(steps * values.len());
        for step in 0..steps {
            let alpha = (step as f32 + 0.5) / steps as f32;
            for t in 0..len {
                let factor = if plot_token(t) { alpha } else { 1.0 };
                scaled.extend(values[t * dim..(t + 1) * dim].iter().map(|v| v * factor));
            }
        }
        let words = self.leaf(scaled, [steps, len, dim]);
        let model = Self::text_model(&self.tracked).expect("a text model");
        let mask = Tensor::<2>::ones([steps, len], &self.tracked_device);
        let text = model.features_embedded(words.clone(), mask);
        let outputs = self.outputs(&self.tracked, route, Some(text), self.constant(image.clone(), steps));
        let gradients = self.selected(blend, outputs, &vec![genre; steps]).backward();
        let gradient =
            words.grad(&gradients).expect("a gradient for the words").into_data().try_to_vec::<f32>().expect("f32");
        let tokens: Vec<f32> = (0..len)
            .map(|t| match plot_token(t) {
                false => 0.0,
                true => {
                    (0..dim)
                        .map(|d| {
                            (0..steps).map(|s| gradient[(s * len + t) * dim + d]).sum::<f32>() * values[t * dim + d]
                        })
                        .sum::<f32>()
                        / steps as f32
                }
            })
            .collect();
        // The model part's change from the baseline, for the completeness check.
        let model_part = |embedded: Vec<f32>| -> f32 {
            let model = Self::text_model(&self.predictor.model).expect("a text model");
            let words = Tensor::<3>::from_data(TensorData::new(embedded, [1, len, dim]), &self.predictor.device);
            let text = model.features_embedded(words, Tensor::ones([1, len], &self.predictor.device));
            let outputs = self.outputs(&self.predictor.model, route, Some(text), image.clone());
            self.selected(blend, outputs, &[genre]).into_scalar()
        };
        let baseline: Vec<f32> = (0..len)
            .flat_map(|t| values[t * dim..(t + 1) * dim].iter().map(move |v| if plot_token(t) { 0.0 } else { *v }))
            .collect();
        let change = model_part(values.clone()) - model_part(baseline);
        (Self::to_words(movie, &tokens), change)
    }

    /// The drop of each genre's blended logit when each word is left out (its tokens and its
    /// terms).
    fn word_occlusion(
        &self,
        movie: &Movie,
        route: Route,
        genres: &[usize],
        image: Option<Tensor<2>>,
        logits: &[f32],
    ) -> Vec<Vec<f32>> {
        let plot = movie.plot.as_deref().unwrap_or("");
        let read: Vec<usize> = (0..movie.spans.len()).filter(|&w| !movie.spans[w].tokens.is_empty()).collect();
        let mut scores = vec![vec![0.0f32; movie.spans.len()]; genres.len()];
        for chunk in read.chunks(32) {
            let sequences: Vec<Vec<u32>> = chunk
                .iter()
                .map(|&w| {
                    let cut = &movie.spans[w].tokens;
                    movie.ids[..cut.start].iter().chain(&movie.ids[cut.end..]).copied().collect()
                })
                .collect();
            let texts: Vec<String> = chunk
                .iter()
                .map(|&w| format!("{}{}", &plot[..movie.spans[w].start], &plot[movie.spans[w].end..]))
                .collect();
            let plots: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
            let text = self.text_features(&sequences);
            let rows = self.blended_rows(route, text, image.clone(), &plots);
            for (row, &w) in rows.iter().zip(chunk) {
                for (i, &g) in genres.iter().enumerate() {
                    scores[i][w] = logits[g] - row[g];
                }
            }
        }
        scores
    }

    /// The lexical branch's exact share of each word (zero without a lexical blend).
    fn lexical_words(&self, movie: &Movie, blend: &BlendView, genre: usize) -> Vec<f32> {
        let mut shares = vec![0.0f32; movie.spans.len()];
        let (Some(model), Some(slot), Some(plot)) = (&self.predictor.lexical, blend.lexical, movie.plot.as_deref())
        else {
            return shares;
        };
        let weight = blend.weights[genre][slot];
        for (start, share) in model.word_contributions(plot, genre) {
            // The spans are in order: the first that ends after `start` is the only one that can
            // hold it (a search, not a scan: a 1.5 MB plot has 270,000 words).
            let w = movie.spans.partition_point(|s| s.end <= start);
            if movie.spans.get(w).is_some_and(|s| s.start <= start) {
                shares[w] += weight * share;
            }
        }
        shares
    }

    /// Gradient times activation on the image model's feature maps, summed over channels: one
    /// row of cells a genre, in one backward pass.
    fn grad_cam(
        &self,
        maps: Tensor<4>,
        route: Route,
        blend: &BlendView,
        genres: &[usize],
        text: Option<Tensor<2>>,
    ) -> Vec<Vec<f32>> {
        let [_, channels, rows, cols] = maps.dims();
        let values = maps.into_data().try_to_vec::<f32>().expect("f32 feature maps");
        let n = genres.len();
        let leaf = self.leaf(values.repeat(n), [n, channels, rows, cols]);
        let outputs = self.outputs(&self.tracked, route, self.constant(text, n), Some(pool(leaf.clone())));
        let gradients = self.selected(blend, outputs, genres).backward();
        let gradient = leaf
            .grad(&gradients)
            .expect("a gradient for the feature maps")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let cells = rows * cols;
        (0..n)
            .map(|r| {
                (0..cells)
                    .map(|cell| {
                        (0..channels)
                            .map(|c| gradient[(r * channels + c) * cells + cell] * values[c * cells + cell])
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }

    /// Gradient times input on the poster's pixels, summed over each cell of `grid`: one row of
    /// cells a genre, in one backward pass.
    fn pixel_gradients(
        &self,
        poster: &[f32],
        route: Route,
        blend: &BlendView,
        genres: &[usize],
        grid: [usize; 2],
        text: Option<Tensor<2>>,
    ) -> Vec<Vec<f32>> {
        let n = genres.len();
        let side = ((poster.len() / 3) as f64).sqrt() as usize;
        let pixels = self.leaf(poster.repeat(n), [n, 3, side, side]);
        let model = Self::image_model(&self.tracked).expect("an image model");
        let image = pool(model.feature_map(&pixels));
        let outputs = self.outputs(&self.tracked, route, self.constant(text, n), Some(image));
        let gradients = self.selected(blend, outputs, genres).backward();
        let gradient = pixels.grad(&gradients).expect("a gradient for the pixels").into_data();
        let gradient = gradient.try_to_vec::<f32>().expect("f32");
        let plane = side * side;
        (0..n)
            .map(|r| {
                let mut cells = vec![0.0f32; grid[0] * grid[1]];
                for c in 0..3 {
                    for y in 0..side {
                        let row = (y * grid[0] / side) * grid[1];
                        for x in 0..side {
                            let at = c * plane + y * side + x;
                            cells[row + x * grid[1] / side] += gradient[r * 3 * plane + at] * poster[at];
                        }
                    }
                }
                cells
            })
            .collect()
    }

    /// The drop of each genre's blended logit when each cell of a `grid` over the poster is set
    /// to zero (the normalisation's mean colour).
    #[allow(clippy::too_many_arguments)]
    fn poster_occlusion(
        &self,
        movie: &Movie,
        poster: &[f32],
        route: Route,
        genres: &[usize],
        grid: [usize; 2],
        text: Option<Tensor<2>>,
        logits: &[f32],
    ) -> Vec<Vec<f32>> {
        let cells: Vec<usize> = (0..grid[0] * grid[1]).collect();
        let mut scores = vec![vec![0.0f32; cells.len()]; genres.len()];
        for chunk in cells.chunks(16) {
            let masked: Vec<Vec<f32>> = chunk.iter().map(|&c| mask_cells(poster, grid, &[c])).collect();
            let refs: Vec<&[f32]> = masked.iter().map(Vec::as_slice).collect();
            let image = self.feature_maps(&refs).map(pool);
            let rows = self.blended_rows(route, text.clone(), image, &[movie.plot.as_deref()]);
            for (row, &c) in rows.iter().zip(chunk) {
                for (i, &g) in genres.iter().enumerate() {
                    scores[i][c] = logits[g] - row[g];
                }
            }
        }
        scores
    }

    /// Every genre's blended logit split by source.
    fn source_terms(
        &self,
        route: Route,
        blend: &BlendView,
        text: Option<Tensor<2>>,
        image: Option<Tensor<2>>,
        movie: &Movie,
    ) -> Vec<SourceTerms> {
        let genres = self.predictor.genres().len();
        let to_vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32 logits");
        let outputs: Vec<Vec<f32>> =
            self.outputs(&self.predictor.model, route, text.clone(), image.clone()).into_iter().map(to_vec).collect();
        let lexical = match (&self.predictor.lexical, blend.lexical, movie.plot.as_deref()) {
            (Some(model), Some(_), Some(plot)) => Some(model.logits(&model.lexicon.vectorize(plot))),
            _ => None,
        };
        // A fusion head's two sides, where it splits into them.
        let sides = match (&self.predictor.model, route) {
            (Classifier::Fusion(f), Route::Full) => {
                let (t, v) = (text.clone().expect("text"), image.clone().expect("image"));
                let (t, v) = match f.mode().uses_features() {
                    true => (t, v),
                    false => (f.text.head_forward(t), f.image.head_forward(v)),
                };
                f.head.sides(t, v).map(|(t, v, bias)| (to_vec(t), to_vec(v), to_vec(bias)))
            }
            _ => None,
        };
        (0..genres)
            .map(|g| {
                let w = |i: usize| blend.weights[g][blend.slot(i)];
                let mut terms = SourceTerms { bias: blend.bias[g], ..SourceTerms::default() };
                if let (Some(slot), Some(l)) = (blend.lexical, &lexical) {
                    terms.lexical = blend.weights[g][slot] * l[g];
                }
                match (&self.predictor.model, route) {
                    (Classifier::Text(_), _) | (Classifier::Fusion(_), Route::TextBranch) => {
                        terms.text = w(0) * outputs[0][g]
                    }
                    (Classifier::Image(_), _) | (Classifier::Fusion(_), Route::ImageBranch) => {
                        terms.image = w(0) * outputs[0][g]
                    }
                    (Classifier::Fusion(_), Route::Full) => {
                        match &sides {
                            Some((t, v, bias)) => {
                                terms.text = w(0) * t[g];
                                terms.image = w(0) * v[g];
                                terms.bias += w(0) * bias[g];
                            }
                            None => terms.joint = w(0) * outputs[0][g],
                        }
                        if outputs.len() == 3 {
                            terms.text += w(1) * outputs[1][g];
                            terms.image += w(2) * outputs[2][g];
                        }
                    }
                }
                terms
            })
            .collect()
    }
}

/// Pooled features `[rows, channels]`: the spatial mean of feature maps.
fn pool(maps: Tensor<4>) -> Tensor<2> {
    let [rows, channels, _, _] = maps.dims();
    maps.mean_dim(3).mean_dim(2).reshape([rows, channels])
}

/// A CHW poster with the given cells of a `grid` (row-major) set to zero.
pub fn mask_cells(poster: &[f32], grid: [usize; 2], cells: &[usize]) -> Vec<f32> {
    let side = ((poster.len() / 3) as f64).sqrt() as usize;
    let mut masked = poster.to_vec();
    for &cell in cells {
        let (row, col) = (cell / grid[1], cell % grid[1]);
        let (top, bottom) = (row * side / grid[0], (row + 1) * side / grid[0]);
        let (left, right) = (col * side / grid[1], (col + 1) * side / grid[1]);
        for plane in masked.chunks_mut(side * side) {
            for y in top..bottom {
                plane[y * side + left..y * side + right].fill(0.0);
            }
        }
    }
    masked
}

/// The plot with the given words left out.
pub fn without_words(plot: &str, words: &[Word], left_out: &[usize]) -> String {
    let mut kept = String::with_capacity(plot.len());
    let mut at = 0;
    let mut sorted = left_out.to_vec();
    sorted.sort_unstable();
    for &w in &sorted {
        kept.push_str(&plot[at..words[w].start]);
        at = words[w].end;
    }
    kept.push_str(&plot[at..]);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_offsets_become_javascript_indices_into_the_untrimmed_plot() {
        // "é" is two bytes and one UTF-16 unit, "🎬" four bytes and two units.
        let plot = "  Café 🎬 zombie\n";
        let trimmed = plot.trim();
        let words = [(0, 5), (6, 10), (11, 17)];
        assert_eq!(&trimmed[11..17], "zombie");
        let js = utf16_ranges(plot, &words);
        assert_eq!(js, vec![(2, 6), (7, 9), (10, 16)]);
        let units: Vec<u16> = plot.encode_utf16().collect();
        assert_eq!(String::from_utf16(&units[10..16]).unwrap(), "zombie");
        assert_eq!(utf16_ranges("plain", &[(0, 5)]), vec![(0, 5)]);
    }

    #[test]
    fn edits_leave_out_words_and_mask_cells() {
        let plot = "a haunted house, at night";
        let words = vec![
            Word { text: "haunted".into(), start: 2, end: 9, read: true },
            Word { text: "night".into(), start: 20, end: 25, read: true },
        ];
        assert_eq!(without_words(plot, &words, &[1, 0]), "a  house, at ");
        let poster = vec![1.0f32; 3 * 4 * 4];
        let masked = mask_cells(&poster, [2, 2], &[3]);
        assert_eq!(masked.iter().filter(|&&v| v == 0.0).count(), 3 * 4);
        assert_eq!(masked[2 * 4 + 2], 0.0);
        assert_eq!(masked[0], 1.0);
    }
}

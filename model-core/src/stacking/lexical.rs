//! The lexical branch: TF-IDF over a plot's words and word pairs, and one L2-regularised logistic
//! regression per genre (the classical baseline, in Rust, stored in the bundle and run in the
//! browser).
//!
//! - Terms: lower-cased runs of letters and digits of at least two characters, English stop
//!   words removed, then every word and every pair of neighbouring words.
//! - The lexicon: terms in at least `min_df` training plots, the `max_terms` most frequent;
//!   idf `ln((1 + n) / (1 + df)) + 1`.
//! - A plot's vector: `(1 + ln count) * idf` per term, scaled to unit length.
//! - The classifier: one logistic regression per genre, fitted with Nesterov's accelerated
//!   gradient on the full training split, positives and negatives weighted to balance.
//!
//! Its outputs are blended with a bundle's model by [`super::blend::Blend`]. In the bundle it
//! is the part [`LEXICAL_PART`]: the terms, their idf and the weights (int8 in blocks, as the
//! model's large matrices are).

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use burn::tensor::f16;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::blend::Blend;
use crate::data::Movie;
use crate::error::{Error, Result};
use crate::int8::{dequantize_blocks, quantize_blocks, INT8_BLOCK, INT8_SCALES_SUFFIX};
use crate::metrics::sigmoid;

/// The bundle part holding the lexical branch.
pub const LEXICAL_PART: &str = "lexical.safetensors";

/// A plot as a sparse TF-IDF vector: `(term index, value)` by increasing index, unit length.
pub type SparseTerms = Vec<(u32, f32)>;

/// Common English words that carry no genre (left out before pairs are formed).
const STOP_WORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// A movie's optional details besides its poster and plot (the data set's `title` and `year`
/// columns), which a lexical branch made with them reads; a movie without them is still
/// classified, from its plot alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Details<'a> {
    /// The title.
    pub title: Option<&'a str>,
    /// The release year.
    pub year: Option<u16>,
}

/// The release years a movie's details may give (a year outside them is an input error).
pub const YEARS: RangeInclusive<u16> = 1800..=2200;

impl<'a> From<&'a Movie> for Details<'a> {
    /// A data set movie's title and year.
    fn from(movie: &'a Movie) -> Self {
        Self { title: Some(movie.title.as_str()), year: movie.year }
    }
}

/// How the lexicon is chosen and what it reads (the bundle's manifest keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalConfig {
    /// At most this many terms, the most frequent in the training plots.
    pub max_terms: usize,
    /// A term must appear in at least this many training plots.
    pub min_df: usize,
    /// The L2 penalty on the weights (the loss is a mean over movies).
    pub l2: f32,
    /// Whether it reads the title where one is given (its words join the plot's).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reads_title: bool,
    /// Whether it reads the release year where one is given, as a word for its decade
    /// (`decade1960s`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reads_year: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl Default for LexicalConfig {
    fn default() -> Self {
        Self { max_terms: 15_000, min_df: 2, l2: 1e-4, reads_title: false, reads_year: false }
    }
}

impl LexicalConfig {
    /// The text the branch reads for a movie: the title where it reads titles and one is given,
    /// then the plot, then the decade's word where it reads years and one is given.
    pub fn document(&self, plot: &str, details: Details<'_>) -> String {
        let mut text = String::with_capacity(plot.len() + 32);
        if let Some(title) = details.title.map(str::trim).filter(|title| self.reads_title && !title.is_empty()) {
            text.push_str(title);
            text.push_str(" . ");
        }
        text.push_str(plot);
        if let Some(year) = details.year.filter(|_| self.reads_year) {
            text.push_str(&format!(" . decade{}s", year / 10 * 10));
        }
        text
    }
}

/// The lexical branch as the manifest describes it: its part, its config, and how its logits
/// are blended with the model's on each route that reads a plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalSpec {
    /// The part holding terms, idf and weights.
    pub file: String,
    /// How it was made.
    pub config: LexicalConfig,
    /// The blend on the full route, of `[the model's logits, the lexical logits]`, or for a
    /// fusion model possibly `[the model's, the lexical, its text branch's, its image branch's
    /// logits]` ([`LexicalSpec::reads_branches`]).
    pub blend: Blend,
    /// For fusion models: the blend of `[the text branch's logits, the lexical logits]` when
    /// only a plot is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_blend: Option<Blend>,
}

impl LexicalSpec {
    /// Whether the full route's blend also reads a fusion's two branches' own logits.
    pub fn reads_branches(&self) -> bool {
        self.blend.weights.first().is_some_and(|w| w.len() == 4)
    }
}

/// The terms of a text: its words (stop words left out) and each pair of neighbouring words.
pub fn terms(text: &str) -> Vec<String> {
    let words: Vec<String> = kept_words(text).into_iter().map(|(word, _)| word).collect();
    let pairs = words.windows(2).map(|pair| format!("{} {}", pair[0], pair[1]));
    let mut all: Vec<String> = pairs.collect();
    all.extend(words);
    all
}

/// The words a text's terms are made of (lower-cased runs of letters and digits, stop words and
/// single characters left out), each with the byte where it starts in `text`.
fn kept_words(text: &str) -> Vec<(String, usize)> {
    let stop: HashSet<&str> = STOP_WORDS.iter().copied().collect();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| (w.to_lowercase(), w.as_ptr() as usize - text.as_ptr() as usize))
        .filter(|(w, _)| w.chars().count() >= 2 && !stop.contains(w.as_str()))
        .collect()
}

/// The terms the branch knows and their inverse document frequencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexicon {
    terms: Vec<String>,
    idf: Vec<f32>,
    index: HashMap<String, u32>,
}

impl Lexicon {
    /// The lexicon of training `texts` under `config` (terms by decreasing count, ties by name).
    pub fn build(texts: &[&str], config: &LexicalConfig) -> Self {
        let mut counts: HashMap<String, (u64, u32)> = HashMap::new();
        for text in texts {
            let mut seen = HashSet::new();
            for term in terms(text) {
                let entry = counts.entry(term.clone()).or_default();
                entry.0 += 1;
                if seen.insert(term) {
                    entry.1 += 1;
                }
            }
        }
        let mut kept: Vec<(String, u64, u32)> = counts
            .into_iter()
            .filter(|(_, (_, df))| *df as usize >= config.min_df.max(1))
            .map(|(term, (count, df))| (term, count, df))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(config.max_terms);
        let n = texts.len() as f32;
        let idf = kept.iter().map(|(_, _, df)| ((1.0 + n) / (1.0 + *df as f32)).ln() + 1.0).collect();
        Self::new(kept.into_iter().map(|(term, _, _)| term).collect(), idf)
    }

    fn new(terms: Vec<String>, idf: Vec<f32>) -> Self {
        let index = terms.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Self { terms, idf, index }
    }

    /// The number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether it knows no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The unit-length TF-IDF vector of `text` (empty when it has no known term).
    pub fn vectorize(&self, text: &str) -> SparseTerms {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for term in terms(text) {
            if let Some(&i) = self.index.get(&term) {
                *counts.entry(i).or_default() += 1;
            }
        }
        let mut vector: SparseTerms =
            counts.into_iter().map(|(i, c)| (i, (1.0 + (c as f32).ln()) * self.idf[i as usize])).collect();
        vector.sort_by_key(|&(i, _)| i);
        let norm = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        vector
    }
}

/// The lexicon and one logistic regression per genre over it.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalModel {
    /// The terms and their idf.
    pub lexicon: Lexicon,
    /// `[terms, genres]`, row-major.
    weights: Vec<f32>,
    /// One per genre.
    bias: Vec<f32>,
}

impl LexicalModel {
    /// The number of genres.
    pub fn genres(&self) -> usize {
        self.bias.len()
    }

    /// The genre logits of a vectorised plot.
    pub fn logits(&self, vector: &[(u32, f32)]) -> Vec<f32> {
        let genres = self.genres();
        let mut logits = self.bias.clone();
        for &(i, v) in vector {
            let row = &self.weights[i as usize * genres..(i as usize + 1) * genres];
            logits.iter_mut().zip(row).for_each(|(l, w)| *l += v * w);
        }
        logits
    }

    /// What each word of `text` adds to `genre`'s logit: every known term's weight times its
    /// TF-IDF value, a word's share of each occurrence of it (a pair's half to each of its two
    /// words). Returns `(byte where the word starts in text, contribution)`; the contributions
    /// sum to the logit less the bias.
    pub fn word_contributions(&self, text: &str, genre: usize) -> Vec<(usize, f32)> {
        let words = kept_words(text);
        let mut occurrences: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
        for (i, (word, _)) in words.iter().enumerate() {
            occurrences.entry(word.clone()).or_default().push(vec![i]);
        }
        for (i, pair) in words.windows(2).enumerate() {
            occurrences.entry(format!("{} {}", pair[0].0, pair[1].0)).or_default().push(vec![i, i + 1]);
        }
        let mut shares = vec![0.0f32; words.len()];
        let genres = self.genres();
        for (term, value) in self.lexicon.vectorize(text) {
            let Some(places) = occurrences.get(&self.lexicon.terms[term as usize]) else { continue };
            let total = value * self.weights[term as usize * genres + genre];
            let each = total / places.iter().map(Vec::len).sum::<usize>() as f32;
            places.iter().flatten().for_each(|&w| shares[w] += each);
        }
        words.iter().zip(shares).map(|((_, start), share)| (*start, share)).collect()
    }

    /// Fits the per-genre regressions on training `vectors` and flat `targets` (`[movies,
    /// genres]`), with penalty `l2`, on all cores.
    pub fn fit(lexicon: Lexicon, vectors: &[SparseTerms], targets: &[f32], genres: usize, l2: f32) -> Self {
        assert_eq!(vectors.len() * genres, targets.len(), "one row of targets per plot");
        let columns: Vec<usize> = (0..genres).collect();
        let fitted = crate::data::map_parallel(&columns, |&g| {
            let labels: Vec<bool> = (0..vectors.len()).map(|i| targets[i * genres + g] >= 0.5).collect();
            fit_binary(vectors, &labels, lexicon.len(), l2)
        });
        let mut weights = vec![0.0; lexicon.len() * genres];
        let mut bias = vec![0.0; genres];
        for (g, (w, b)) in fitted.into_iter().enumerate() {
            w.iter().enumerate().for_each(|(i, v)| weights[i * genres + g] = *v);
            bias[g] = b;
        }
        Self { lexicon, weights, bias }
    }

    /// The part's bytes: terms (metadata), idf (f16), weights (int8 blocks with f16 scales),
    /// bias (f32). The weights read back from them are what [`LexicalModel::quantized`] gives.
    pub fn to_bytes(&self) -> Vec<u8> {
        let f16_bytes =
            |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect() };
        let (quantised, scales) = quantize_blocks(&self.weights);
        let tensors = [
            ("bias", Dtype::F32, vec![self.genres()], self.bias.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("idf", Dtype::F16, vec![self.lexicon.len()], f16_bytes(&self.lexicon.idf)),
            (
                "weights",
                Dtype::I8,
                vec![self.lexicon.len(), self.genres()],
                quantised.iter().map(|q| *q as u8).collect(),
            ),
            (&format!("weights{INT8_SCALES_SUFFIX}") as &str, Dtype::F16, vec![scales.len()], f16_bytes(&scales)),
        ];
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                (name.to_string(), TensorView::new(*dtype, shape.clone(), bytes).expect("consistent shape"))
            })
            .collect();
        // One metadata entry, so the bytes are the same on every write.
        let metadata = HashMap::from([("terms".to_string(), self.lexicon.terms.join("\n"))]);
        safetensors::serialize(views, Some(metadata)).expect("lexical tensors serialise")
    }

    /// Reads the part written by [`LexicalModel::to_bytes`]; `name` names it in errors.
    pub fn from_bytes(bytes: &[u8], genres: usize, name: &str) -> Result<Self> {
        let fail = |reason: String| Error::Weights { file: name.into(), reason };
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| fail(format!("not a safetensors file: {e}")))?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| fail(format!("not a safetensors file: {e}")))?;
        let terms: Vec<String> = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("terms"))
            .ok_or_else(|| fail("no terms in its metadata".into()))?
            .split('\n')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let tensor = |tensor: &str, dtype: Dtype, len: usize| -> Result<Vec<u8>> {
            let view = file.tensor(tensor).map_err(|_| fail(format!("tensor {tensor} is missing")))?;
            let elements: usize = view.shape().iter().product();
            if view.dtype() != dtype || elements != len {
                return Err(fail(format!(
                    "tensor {tensor} is {:?} {:?}, expected {dtype:?} with {len} values",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view.data().to_vec())
        };
        let halves = |bytes: Vec<u8>| -> Vec<f32> {
            bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        };
        let bias = tensor("bias", Dtype::F32, genres)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let idf = halves(tensor("idf", Dtype::F16, terms.len())?);
        let quantised = tensor("weights", Dtype::I8, terms.len() * genres)?;
        let scales_name = format!("weights{INT8_SCALES_SUFFIX}");
        let scales = halves(tensor(&scales_name, Dtype::F16, quantised.len().div_ceil(INT8_BLOCK))?);
        let weights = dequantize_blocks(&quantised, &scales).map_err(fail)?;
        Ok(Self { lexicon: Lexicon::new(terms, idf), weights, bias })
    }

    /// The model as the bundle stores it: weights and idf rounded as [`LexicalModel::to_bytes`]
    /// stores them.
    pub fn quantized(&self) -> Self {
        Self::from_bytes(&self.to_bytes(), self.genres(), "lexical").expect("own bytes read back")
    }

    /// The terms that raise `genre`'s logit most, strongest first.
    pub fn top_terms(&self, genre: usize, count: usize) -> Vec<(&str, f32)> {
        let genres = self.genres();
        let mut ranked: Vec<(&str, f32)> = self
            .lexicon
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), self.weights[i * genres + genre]))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(count);
        ranked
    }
}

/// One genre's logistic regression: weights over `dims` terms and a bias, fitted by Nesterov's
/// accelerated gradient with a step of 1/L (L bounds the loss's curvature: rows are unit
/// vectors plus the bias's constant 1).
fn fit_binary(vectors: &[SparseTerms], labels: &[bool], dims: usize, l2: f32) -> (Vec<f32>, f32) {
    let n = vectors.len() as f64;
    let positives = labels.iter().filter(|&&y| y).count() as f64;
    if positives == 0.0 || positives == n {
        let bias = if positives == 0.0 { -10.0 } else { 10.0 };
        return (vec![0.0; dims], bias);
    }
    // Balanced weights, as scikit-learn's `class_weight="balanced"`: each class sums to n / 2.
    let weight_of = |y: bool| (n / (2.0 * if y { positives } else { n - positives })) as f32;
    let sample_weight: Vec<f32> = labels.iter().map(|&y| weight_of(y)).collect();
    let curvature: f64 = vectors
        .iter()
        .zip(&sample_weight)
        .map(|(v, s)| f64::from(*s) * (1.0 + v.iter().map(|(_, x)| f64::from(x * x)).sum::<f64>()))
        .sum::<f64>()
        * 0.25
        / n;
    let lipschitz = curvature as f32 + l2;
    let step = 1.0 / lipschitz;
    let kappa = lipschitz / l2.max(1e-12);
    let momentum = (kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0);
    let (mut w, mut b) = (vec![0.0f32; dims], 0.0f32);
    let (mut w_previous, mut b_previous) = (w.clone(), b);
    let mut grad = vec![0.0f32; dims];
    for _ in 0..ITERATIONS {
        // The look-ahead point.
        let look_w: Vec<f32> = w.iter().zip(&w_previous).map(|(x, p)| x + momentum * (x - p)).collect();
        let look_b = b + momentum * (b - b_previous);
        grad.iter_mut().zip(&look_w).for_each(|(g, x)| *g = l2 * x);
        let mut grad_b = 0.0f32;
        for ((vector, &y), &s) in vectors.iter().zip(labels).zip(&sample_weight) {
            let z = look_b + vector.iter().map(|&(i, x)| x * look_w[i as usize]).sum::<f32>();
            let residual = s * (sigmoid(z) - f32::from(u8::from(y))) / n as f32;
            grad_b += residual;
            vector.iter().for_each(|&(i, x)| grad[i as usize] += residual * x);
        }
        w_previous = std::mem::replace(&mut w, look_w.iter().zip(&grad).map(|(x, g)| x - step * g).collect());
        b_previous = std::mem::replace(&mut b, look_b - step * grad_b);
    }
    (w, b)
}

/// Gradient steps per genre. The error shrinks by about `1 - sqrt(l2 / L)` a step (L about
/// 0.5 here), so penalties of 1e-4 and more reach the optimum (the tests nudge a solution);
/// smaller ones stop early, which regularises as well.
const ITERATIONS: usize = 400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_holds_the_details_the_branch_reads() {
        let details = Details { title: Some("Zombieland"), year: Some(2009) };
        let both = LexicalConfig { reads_title: true, reads_year: true, ..LexicalConfig::default() };
        assert_eq!(both.document("Two survivors.", details), "Zombieland . Two survivors. . decade2000s");
        assert!(terms(&both.document("Two survivors.", details)).contains(&"decade2000s".to_string()));
        assert_eq!(both.document("Two survivors.", Details::default()), "Two survivors.");
        assert_eq!(LexicalConfig::default().document("Two survivors.", details), "Two survivors.");
        let json = serde_json::to_string(&LexicalConfig::default()).unwrap();
        assert!(!json.contains("reads"), "an older bundle's manifest stays as it was: {json}");
    }

    #[test]
    fn terms_are_words_and_neighbouring_pairs_without_stop_words() {
        assert_eq!(
            terms("The killer stalks a SMALL town!"),
            ["killer stalks", "stalks small", "small town", "killer", "stalks", "small", "town"]
        );
        assert!(terms("a I of").is_empty());
    }

    #[test]
    fn lexicon_keeps_frequent_terms_and_vectors_have_unit_length() {
        let texts = ["space ship crew", "space ship war", "love story", "love story space"];
        let config = LexicalConfig { max_terms: 3, min_df: 2, l2: 1e-3, ..LexicalConfig::default() };
        let lexicon = Lexicon::build(&texts, &config);
        assert_eq!(lexicon.terms, ["space", "love", "love story"]);
        // idf of a term in 3 of 4 plots: ln(5/4) + 1.
        assert!((lexicon.idf[0] - ((5.0f32 / 4.0).ln() + 1.0)).abs() < 1e-6);
        let vector = lexicon.vectorize("Love story in space, love!");
        let norm: f32 = vector.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{vector:?}");
        assert_eq!(vector.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
        // "love" twice: (1 + ln 2) times its idf, against "space" once.
        let ratio = vector[1].1 / vector[0].1;
        let expected = (1.0 + 2f32.ln()) * lexicon.idf[1] / lexicon.idf[0];
        assert!((ratio - expected).abs() < 1e-5);
        assert!(lexicon.vectorize("nothing known").is_empty());
    }

    fn toy() -> (Lexicon, Vec<SparseTerms>, Vec<f32>) {
        let plots: Vec<String> = (0..60)
            .map(|i| match i % 3 {
                0 => format!("ghost haunts house night {i}"),
                1 => format!("ship crew space planet {i}"),
                _ => format!("ghost ship space crew {i}"),
            })
            .collect();
        let texts: Vec<&str> = plots.iter().map(String::as_str).collect();
        let lexicon = Lexicon::build(&texts, &LexicalConfig::default());
        let vectors: Vec<SparseTerms> = texts.iter().map(|t| lexicon.vectorize(t)).collect();
        // Genre 0 "horror": the ghost plots; genre 1 "science fiction": the space plots.
        let targets = (0..60).flat_map(|i| [f32::from(i % 3 != 1), f32::from(i % 3 != 0)]).collect();
        (lexicon, vectors, targets)
    }

    #[test]
    fn regression_learns_the_words_of_each_genre() {
        let (lexicon, vectors, targets) = toy();
        let model = LexicalModel::fit(lexicon, &vectors, &targets, 2, 1e-3);
        for (i, vector) in vectors.iter().enumerate() {
            let logits = model.logits(vector);
            for g in 0..2 {
                assert_eq!(logits[g] > 0.0, targets[i * 2 + g] > 0.5, "plot {i} genre {g}: {logits:?}");
            }
        }
        assert_eq!(model.top_terms(0, 1)[0].0, "ghost");
        assert!(model
            .top_terms(1, 2)
            .iter()
            .any(|(t, _)| t.contains("space") || t.contains("ship") || t.contains("crew")));
    }

    #[test]
    fn word_contributions_add_up_to_the_logit_and_follow_the_weights() {
        let (lexicon, vectors, targets) = toy();
        let model = LexicalModel::fit(lexicon, &vectors, &targets, 2, 1e-3);
        let plot = "A ghost ship: the ghost haunts the crew at night.";
        for genre in 0..2 {
            let shares = model.word_contributions(plot, genre);
            let logit = model.logits(&model.lexicon.vectorize(plot))[genre];
            let sum: f32 = shares.iter().map(|(_, s)| s).sum();
            assert!((sum - (logit - model.bias[genre])).abs() < 1e-5, "{sum} {logit}");
            let words: Vec<&str> = shares
                .iter()
                .map(|&(start, _)| plot[start..].split(|c: char| !c.is_alphanumeric()).next().unwrap())
                .collect();
            assert_eq!(words, ["ghost", "ship", "ghost", "haunts", "crew", "night"]);
        }
        // A model with one weighted term puts everything on that term's words.
        let mut one = model.clone();
        one.weights.iter_mut().for_each(|w| *w = 0.0);
        let haunts = one.lexicon.index["haunts"] as usize;
        one.weights[haunts * 2] = 2.0;
        let shares = one.word_contributions(plot, 0);
        assert!(shares.iter().all(|&(start, s)| (s != 0.0) == plot[start..].starts_with("haunts")), "{shares:?}");
    }

    #[test]
    fn the_fit_settles_within_its_iterations() {
        let (lexicon, vectors, targets) = toy();
        let labels: Vec<bool> = (0..vectors.len()).map(|i| targets[i * 2] > 0.5).collect();
        // The balanced weights: each class sums to n / 2.
        let n = labels.len() as f64;
        let positives = labels.iter().filter(|&&y| y).count() as f64;
        let weight = |y: bool| n / (2.0 * if y { positives } else { n - positives });
        let objective = |w: &[f32], b: f32| -> f64 {
            let mut sum = 0.0f64;
            for (v, &y) in vectors.iter().zip(&labels) {
                let z = b + v.iter().map(|&(i, x)| x * w[i as usize]).sum::<f32>();
                let p = f64::from(sigmoid(z)).clamp(1e-12, 1.0 - 1e-12);
                sum += weight(y) * if y { -p.ln() } else { -(1.0 - p).ln() };
            }
            sum / vectors.len() as f64 + 0.5e-3 * w.iter().map(|x| f64::from(x * x)).sum::<f64>()
        };
        let (w, b) = fit_binary(&vectors, &labels, lexicon.len(), 1e-3);
        // Nudging the solution anywhere raises the objective (up to rounding).
        let best = objective(&w, b);
        for i in 0..w.len() {
            for delta in [-0.05f32, 0.05] {
                let mut nudged = w.clone();
                nudged[i] += delta;
                assert!(objective(&nudged, b) >= best - 1e-6, "term {i} {delta}");
            }
        }
        assert!(objective(&w, b + 0.05) >= best - 1e-6 && objective(&w, b - 0.05) >= best - 1e-6);
    }

    #[test]
    fn the_part_round_trips_and_refuses_what_it_cannot_read() {
        let (lexicon, vectors, targets) = toy();
        let model = LexicalModel::fit(lexicon, &vectors, &targets, 2, 1e-3);
        let bytes = model.to_bytes();
        assert_eq!(bytes, model.to_bytes(), "deterministic");
        let back = LexicalModel::from_bytes(&bytes, 2, "lexical.safetensors").unwrap();
        assert_eq!(back.lexicon.terms, model.lexicon.terms);
        assert_eq!(back, model.quantized());
        for vector in &vectors {
            let (a, b) = (model.logits(vector), back.logits(vector));
            a.iter().zip(&b).for_each(|(x, y)| assert!((x - y).abs() < 0.05, "{a:?} {b:?}"));
        }
        let err = LexicalModel::from_bytes(&bytes, 3, "lexical.safetensors").unwrap_err().to_string();
        assert!(err.contains("lexical.safetensors") && err.contains("bias"), "{err}");
        let err = LexicalModel::from_bytes(b"not safetensors", 2, "lexical.safetensors").unwrap_err().to_string();
        assert!(err.contains("not a safetensors file"), "{err}");
    }

    #[test]
    fn the_fuzz_seed_is_a_readable_part() {
        // fuzz/seeds/bundle/lexical.safetensors, written by hand, starts the fuzzer on the path
        // that reads a whole part.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/bundle/lexical.safetensors");
        let model = LexicalModel::from_bytes(&std::fs::read(path).unwrap(), 3, "seed").unwrap();
        assert_eq!(model.lexicon.terms, ["ghost", "ship", "sea", "ghost ship"]);
        assert_eq!(model.logits(&model.lexicon.vectorize("ghost ship")).len(), 3);
    }
}

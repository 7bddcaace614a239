//! A training run's settings: `marquee train`'s flags, saved in the run folder as `config.json`
//! so that `--resume` continues the run with them, and turned into the model's options and the
//! fit loop's recipe.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::builder::{PossibleValue, PossibleValuesParser};
use model_core::models::bert::BertPooling;
use model_core::models::fusion::FusionMode;
use model_core::models::registry::{ModelOptions, Optimizer, Recipe, ARCHITECTURES};
use model_core::preprocess::image::IMAGE_SIZE;
use serde::{Deserialize, Serialize};

use super::fit::FitOptions;
use crate::device::DeviceChoice;

/// `--model`: the registry's names, with their descriptions in `--help`.
fn model_names() -> PossibleValuesParser {
    PossibleValuesParser::new(ARCHITECTURES.iter().map(|a| PossibleValue::new(a.name).help(a.about)))
}

/// Everything that defines a run; saved as `config.json` so `--resume` continues it.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// Which model to train.
    #[arg(long, value_parser = model_names())]
    pub model: String,
    /// The data set folder (movies.csv + posters, or MM-IMDb).
    #[arg(long)]
    pub data: PathBuf,
    /// The run folder to create (checkpoints, metrics, plots, bundle).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to train.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Data-parallel training over this many devices of the `--device` kind (GPUs 0..N):
    /// each batch is split across them and burn's optimiser sums their gradients.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Maximum epochs [default: the model's recipe].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Movies per batch [default: the model's recipe].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate [default: the model's recipe].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay [default: the model's recipe].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Optimiser, adam or adamw [default: the model's recipe].
    #[arg(long)]
    pub optimizer: Option<Optimizer>,
    /// Weight each genre's positives by sqrt(negatives / positives) [default: the model's recipe].
    #[arg(long)]
    pub pos_weight: Option<bool>,
    /// Early stopping: epochs without a better validation macro-F1 [default: the model's recipe].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Augment posters during training (random shift and flip).
    #[arg(long)]
    pub augment: bool,
    /// Image models: posters are resized to this square side in pixels (the bundle records
    /// it, so prediction resizes the same way). Smaller trains SimpleCNN faster: 128 costs a
    /// third of 224.
    #[arg(long, default_value_t = IMAGE_SIZE, value_parser = clap::value_parser!(u32).range(32..=1024))]
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    /// Use only the first N usable movies of the data set (quick runs, tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Stop each epoch after N batches (quick runs, tests).
    #[arg(long, default_value_t = 0)]
    pub max_batches: usize,
    /// Drop genres with fewer training movies than this.
    #[arg(long, default_value_t = 1)]
    pub min_genre_count: usize,
    /// Fraction of movies in the training split.
    #[arg(long, default_value_t = 0.70)]
    pub train_fraction: f64,
    /// Fraction of movies in the validation split (the rest is test).
    #[arg(long, default_value_t = 0.15)]
    pub validation_fraction: f64,
    /// Salt of the split hash (another deterministic split).
    #[arg(long, default_value_t = 0)]
    pub split_salt: u64,
    /// Plots are cut to this many tokens [default: 128 for bert, 200 for the LSTMs].
    #[arg(long)]
    pub max_len: Option<usize>,
    /// LSTMs: keep words seen at least this often in training plots.
    #[arg(long, default_value_t = 2)]
    pub min_word_count: usize,
    /// LSTMs: at most this many words in the vocabulary.
    #[arg(long, default_value_t = 30_000)]
    pub max_words: usize,
    /// Pretrained weights in place of the model's default ones: a GloVe text file (lstm-glove),
    /// a BERT folder with config.json, model.safetensors and tokenizer.json (bert), ImageNet
    /// weights as .pth or .safetensors (resnet50, efficientnet-lite0) [default: the fetched
    /// ones, `marquee pretrained` lists them].
    #[arg(long, visible_aliases = LEGACY_WEIGHTS_FLAGS)]
    pub weights: Option<PathBuf>,
    /// GloVe LSTM: keep the GloVe embeddings fixed.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// GloVe LSTM: run the LSTM layers in both directions.
    #[arg(long)]
    pub bidirectional: bool,
    /// BERT: pooling of the token representations, cls or mean.
    #[arg(long, default_value = "mean")]
    pub pooling: BertPooling,
    /// Dropout before the classifier layer(s) [default: per model].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Pretrained image backbones: train the backbone too instead of caching its features.
    #[arg(long)]
    pub unfreeze_backbone: bool,
    /// Fusion: the text branch (a bundle folder or a run folder).
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Fusion: the image branch (a bundle folder or a run folder).
    #[arg(long)]
    pub image_model: Option<PathBuf>,
    /// Fusion: what the head reads from the branches: logits (the design's), features (pooled
    /// features) or gmu (a gated multimodal unit over the pooled features).
    #[arg(long, default_value = "logits")]
    pub fusion_mode: FusionMode,
}

/// The per-model weights flags that `--weights` replaced (still accepted).
const LEGACY_WEIGHTS_FLAGS: [&str; 4] = ["glove", "bert", "resnet-weights", "efficientnet-weights"];

impl TrainConfig {
    /// A run of `model` on `data` into `out` with every other setting at its command-line
    /// default (the defaults live in one place: the `#[arg]` attributes above).
    pub fn new(model: &str, data: PathBuf, out: PathBuf, device: DeviceChoice) -> Self {
        let mut config =
            Self::parse_args(&["--model", "lstm", "--data", ".", "--out", "."]).expect("the defaults parse");
        config.model = model.to_string();
        config.data = data;
        config.out = out;
        config.device = device;
        config
    }

    /// Parses `marquee train`'s arguments (without the program and subcommand names).
    pub fn parse_args(args: &[&str]) -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Arguments {
            #[command(flatten)]
            config: TrainConfig,
        }
        let argv = std::iter::once("marquee").chain(args.iter().copied());
        <Arguments as clap::Parser>::try_parse_from(argv).map(|arguments| arguments.config)
    }

    /// Reads a run's saved `config.json`, also as written before `--weights` replaced the
    /// per-model weights flags.
    pub fn read_saved(bytes: &[u8]) -> Result<Self> {
        let mut saved: serde_json::Value = serde_json::from_slice(bytes).context("reading config.json")?;
        let fields = saved.as_object_mut().context("config.json is not an object")?;
        for legacy in LEGACY_WEIGHTS_FLAGS {
            match fields.remove(&legacy.replace('-', "_")) {
                Some(path) if !path.is_null() => _ = fields.insert("weights".into(), path),
                _ => {}
            }
        }
        serde_json::from_value(saved).context("reading config.json")
    }

    /// The user's choices about the model itself.
    pub fn model_options(&self) -> ModelOptions {
        ModelOptions {
            max_len: self.max_len,
            min_word_count: self.min_word_count,
            max_words: self.max_words,
            dropout: self.dropout,
            weights: self.weights.clone(),
            freeze_embeddings: self.freeze_embeddings,
            bidirectional: self.bidirectional,
            pooling: self.pooling,
            unfreeze_backbone: self.unfreeze_backbone,
            image_size: self.image_size,
            text_model: self.text_model.clone(),
            image_model: self.image_model.clone(),
            fusion_mode: self.fusion_mode,
            seed: self.seed,
        }
    }

    /// The model's recipe with the user's flags applied over it.
    pub fn fit_options(&self, recipe: Recipe) -> FitOptions {
        FitOptions {
            recipe: Recipe {
                epochs: self.epochs.unwrap_or(recipe.epochs),
                batch_size: self.batch_size.unwrap_or(recipe.batch_size),
                lr: self.lr.unwrap_or(recipe.lr),
                weight_decay: self.weight_decay.unwrap_or(recipe.weight_decay),
                optimizer: self.optimizer.unwrap_or(recipe.optimizer),
                pos_weight: self.pos_weight.unwrap_or(recipe.pos_weight),
                patience: self.patience.unwrap_or(recipe.patience),
            },
            seed: self.seed,
            augment: self.augment,
            max_batches: self.max_batches,
        }
    }
}

/// `--image-size` of runs saved before the option existed.
fn default_image_size() -> u32 {
    IMAGE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_core::models::registry::architecture;

    #[test]
    fn runs_saved_before_image_size_existed_resume_at_224() {
        let mut saved =
            serde_json::to_value(TrainConfig::new("cnn", "data".into(), "run".into(), DeviceChoice::Cpu)).unwrap();
        saved.as_object_mut().unwrap().remove("image_size");
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(config.image_size, 224);
    }

    #[test]
    fn weights_take_the_old_flags_and_old_run_configs() {
        let parse = |flag: &str| {
            TrainConfig::parse_args(&["--model", "bert", "--data", ".", "--out", ".", flag, "w"]).unwrap().weights
        };
        for flag in ["--weights", "--glove", "--bert", "--resnet-weights", "--efficientnet-weights"] {
            assert_eq!(parse(flag), Some(PathBuf::from("w")), "{flag}");
        }
        let mut saved =
            serde_json::to_value(TrainConfig::new("resnet50", "d".into(), "r".into(), DeviceChoice::Cpu)).unwrap();
        let fields = saved.as_object_mut().unwrap();
        fields.remove("weights");
        for (key, value) in
            [("glove", None), ("bert", None), ("resnet_weights", Some("r.pth")), ("efficientnet_weights", None)]
        {
            fields.insert(key.into(), serde_json::json!(value));
        }
        fields.insert("batch_size".into(), 32.into());
        let config = TrainConfig::read_saved(&serde_json::to_vec(&saved).unwrap()).unwrap();
        assert_eq!(config.weights, Some(PathBuf::from("r.pth")));
        assert_eq!(config.batch_size, Some(32));
    }

    #[test]
    fn flags_apply_over_the_model_s_recipe() {
        let config =
            TrainConfig::parse_args(&["--model", "bert", "--data", ".", "--out", ".", "--lr", "1e-4"]).unwrap();
        let options = config.fit_options(architecture("bert").unwrap().recipe);
        assert_eq!((options.recipe.lr, options.recipe.epochs, options.recipe.optimizer), (1e-4, 4, Optimizer::Adamw));
        assert!(TrainConfig::parse_args(&["--model", "gpt", "--data", ".", "--out", "."]).is_err());
    }

    #[test]
    fn image_size_is_parsed_and_bounded() {
        let parse = |size: &str| {
            TrainConfig::parse_args(&["--model", "cnn", "--data", ".", "--out", ".", "--image-size", size])
                .map(|c| c.image_size)
        };
        assert_eq!(parse("128").unwrap(), 128);
        assert!(parse("8").is_err(), "a side under 32 pixels is refused");
        assert!(parse("100000").is_err(), "a side over 1024 pixels is refused");
    }
}

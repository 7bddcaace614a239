//! `marquee train`: builds the chosen model (loading pretrained weights), prepares the data,
//! trains with checkpoints, tunes thresholds on validation, reports the test split, and writes
//! the run folder with a ready bundle of the best epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use clap::builder::{PossibleValue, PossibleValuesParser};
use model_core::bundle::{write_bundle, Bundle, BundleContents, Manifest, WeightsDType};
use model_core::data::{Dataset, GenreVocab, LoadOptions, PosterCheck, Split, SplitConfig};
use model_core::metrics::MultiLabelReport;
use model_core::models::bert::BertPooling;
use model_core::models::fusion::{Branch, FusionMode};
use model_core::models::registry::{
    architecture, pretrained_dir, Branches, BuildRequest, Built, ModelOptions, Optimizer, Recipe, ARCHITECTURES,
};
use model_core::models::{Classifier, GenreClassifier};
use model_core::preprocess::image::IMAGE_SIZE;
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::training::examples::{prepare, raw_batch, Example, SplitExamples};
use crate::training::features;
use crate::training::fit::{fit, predict, score, FitInputs, FitOptions};
use model_core::files::write_atomic;

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
    fn parse_args(args: &[&str]) -> Result<Self, clap::Error> {
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
    fn read_saved(bytes: &[u8]) -> Result<Self> {
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
    fn model_options(&self) -> ModelOptions {
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
    fn fit_options(&self, recipe: Recipe) -> FitOptions {
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

/// Arguments of `marquee train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Continue the killed run in this folder from its last complete checkpoint.
    #[arg(long, conflicts_with_all = ["model", "data", "out"])]
    resume: Option<PathBuf>,
    #[command(flatten)]
    config: Option<TrainConfig>,
}

/// Runs `marquee train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let (config, resume) = match (args.resume, args.config) {
        (Some(run), _) => {
            let bytes = std::fs::read(run.join("config.json"))
                .with_context(|| format!("{} is not a run folder (no config.json)", run.display()))?;
            (TrainConfig::read_saved(&bytes)?, true)
        }
        (None, Some(config)) => (config, false),
        (None, None) => bail!("give --model, --data and --out, or --resume RUN_DIR"),
    };
    train(&config, resume).map(|_| ())
}

/// Trains the run `config` describes (continuing it with `resume`) and returns the bundle path:
/// asks the registry for the model, builds it, applies the user's flags over its recipe and
/// calls the fit loop.
pub fn train(config: &TrainConfig, resume: bool) -> Result<PathBuf> {
    let started = Instant::now();
    let architecture = architecture(&config.model)?;
    let run = &config.out;
    if !resume && run.join("config.json").exists() {
        bail!("{} already holds a run: pick another --out, or continue it with --resume", run.display());
    }
    std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
    write_atomic(&run.join("config.json"), &serde_json::to_vec_pretty(config)?)?;

    let all_devices = config.device.devices(config.devices);
    let device = all_devices[0].clone();
    let split =
        SplitConfig { train: config.train_fraction, validation: config.validation_fraction, salt: config.split_salt };
    split.validate()?;
    let posters = if architecture.reads.images() { PosterCheck::Exists } else { PosterCheck::Ignore };
    let mut dataset = Dataset::load(&config.data, LoadOptions { strict: false, posters })?;
    if !dataset.bad_rows.is_empty() {
        eprintln!("skipping {} bad rows (see `marquee data stats`)", dataset.bad_rows.len());
    }
    if let Some(limit) = config.limit {
        dataset.movies.truncate(limit);
    }
    let train_movies = dataset.split(Split::Train, &split);
    let genres = GenreVocab::from_movies(train_movies.iter().copied(), config.min_genre_count);
    if genres.is_empty() {
        bail!("no genres in the training split of {}", config.data.display());
    }
    write_atomic(&run.join("genres.json"), &serde_json::to_vec_pretty(&genres)?)?;
    eprintln!(
        "{} movies ({} train), {} genres, device {:?}",
        dataset.movies.len(),
        train_movies.len(),
        genres.len(),
        config.device
    );

    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let train_plots: Vec<&str> = train_movies.iter().map(|m| m.overview.as_str()).collect();
    let options = config.model_options();
    // A fusion's branches, read here so that the model files stay clear of the bundle format.
    let branch = |path: Option<&Path>| -> Result<Option<Branch>> {
        let Some(path) = path else { return Ok(None) };
        let bundle = Bundle::open(path).with_context(|| format!("reading the branch {}", path.display()))?;
        Ok(Some(bundle.branch(&device)?))
    };
    let (text_branch, image_branch) = (branch(options.text_model.as_deref())?, branch(options.image_model.as_deref())?);
    let built = (architecture.build)(&BuildRequest {
        genres: &genres.genres,
        train_plots: &train_plots,
        options: &options,
        pretrained_dir: &pretrained_dir(),
        device: &device,
        train_device: &train_device,
        branches: Branches { text: text_branch.as_ref(), image: image_branch.as_ref() },
    })?;
    if !built.notes.is_null() {
        eprintln!("{}: {}", architecture.name, built.notes);
    }
    let examples = prepare_examples(&built, &dataset, &split, &genres, &device)?;
    let Built { model, config: model_config, text, text_part, text_spec, image, branch_thresholds, notes, .. } = built;
    if let Some((name, bytes)) = &text_part {
        write_atomic(&run.join(name), bytes)?;
    }
    let options = config.fit_options(architecture.recipe);
    let name = architecture.name.replace('-', "");
    let outcome = fit(
        model,
        FitInputs {
            run,
            examples: &examples,
            genres: &genres.genres,
            text: text.as_ref(),
            image: image.as_ref(),
            device: &device,
            extra_devices: &all_devices[1..],
            name: &name,
        },
        &options,
        resume,
    )?;
    write_atomic(&run.join("thresholds.json"), &serde_json::to_vec_pretty(&outcome.thresholds)?)?;

    // The test split is only reported, never used to choose anything.
    let (probabilities, _) =
        predict(&outcome.best, &examples.test, text.as_ref(), image.as_ref(), &device, 64, "testing");
    let test = score(&probabilities, &examples.test, &outcome.thresholds, &genres.genres);
    let (val_probabilities, _) =
        predict(&outcome.best, &examples.validation, text.as_ref(), image.as_ref(), &device, 64, "validating");
    let validation = score(&val_probabilities, &examples.validation, &outcome.thresholds, &genres.genres);
    write_atomic(&run.join("test_metrics.json"), &serde_json::to_vec_pretty(&test)?)?;
    write_atomic(&run.join("validation_metrics.json"), &serde_json::to_vec_pretty(&validation)?)?;
    let mut bars: Vec<(String, f64, usize)> =
        test.per_genre.iter().map(|g| (g.genre.clone(), g.f1, g.support)).collect();
    bars.sort_by(|a, b| b.1.total_cmp(&a.1));
    crate::training::plots::genre_bars(&bars, &run.join("genre_f1.png"), &format!("{name}: test F1 per genre"))?;

    let info = serde_json::json!({
        "data": config.data,
        "movies": dataset.movies.len(),
        "split": split,
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.history.len(),
        "training_seconds": started.elapsed().as_secs_f64(),
        "commit": source_commit(),
        "validation": summary(&validation),
        "test": summary(&test),
        "notes": notes,
    });
    let manifest = Manifest {
        format: String::new(),
        format_version: 0,
        name: format!("{name} ({})", config.data.file_name().unwrap_or_default().to_string_lossy()),
        model: model_config,
        genres: genres.genres.clone(),
        thresholds: outcome.thresholds.clone(),
        branch_thresholds,
        image,
        text: text_spec,
        dtype: WeightsDType::F32,
        lexical: None,
        parts: Default::default(),
        info,
    };
    let bundle = run.join("bundle");
    write_bundle(&outcome.best, BundleContents { manifest, text_part, lexical_part: None }, &bundle)?;
    println!(
        "test micro-F1 {:.4}, macro-F1 {:.4}, weighted-F1 {:.4}, samples-F1 {:.4}, Hamming {:.4} ({} movies)",
        test.micro_f1, test.macro_f1, test.weighted_f1, test.samples_f1, test.hamming_loss, test.movies
    );
    println!("bundle: {}", bundle.display());
    Ok(bundle)
}

/// Tokenises and decodes the movies the model reads; the outputs of frozen parts (a frozen
/// backbone, a fusion's branches) are computed once per movie, cached on disk under the
/// identity of their weights, and attached in place of the posters.
fn prepare_examples(
    built: &Built,
    dataset: &Dataset,
    split: &SplitConfig,
    genres: &GenreVocab,
    device: &Device,
) -> Result<SplitExamples> {
    let (text, image) = (built.text.as_ref(), built.image.as_ref());
    match (&built.model, &built.frozen.text, &built.frozen.image) {
        (Classifier::Fusion(fusion), Some(text_id), Some(image_id)) => {
            // Posters are decoded only if the image branch's outputs are not cached yet.
            let mut examples = prepare(dataset, split, genres, text, None)?;
            // Each branch's pooled features are cached; the logits that the design's head
            // reads are the branch's own head applied to them, so every fusion mode shares one
            // pass over the posters and plots.
            let text_features = features::cached(
                &format!("fusion text branch features v1\n{text_id}"),
                &examples,
                "text branch",
                |chunk| {
                    let batch = raw_batch(chunk, text, None, device)?;
                    Ok(fusion.text.features(batch.text.as_ref().expect("tokenised")))
                },
            )?;
            let image_features = features::cached(
                &format!("fusion image branch features v1\n{image_id}"),
                &examples,
                "image branch",
                |chunk| {
                    let batch = raw_batch(chunk, None, image, device)?;
                    Ok(fusion.image.features(batch.images.as_ref().expect("decoded")))
                },
            )?;
            let (text_map, image_map) = if fusion.mode().uses_features() {
                (text_features, image_features)
            } else {
                (
                    features::map_rows(&text_features, device, |f| fusion.text.head_forward(f)),
                    features::map_rows(&image_features, device, |f| fusion.image.head_forward(f)),
                )
            };
            for example in examples.all_mut() {
                example.text_cached = Some(text_map[&example.id].clone());
                example.image_cached = Some(image_map[&example.id].clone());
                example.poster = None;
            }
            Ok(examples)
        }
        (Classifier::Image(model), _, Some(weights_id)) => {
            // A frozen backbone reads each poster once, for the feature cache, and only when
            // the cache lacks it.
            let mut examples = prepare(dataset, split, genres, None, None)?;
            let valid = model.valid();
            let description = format!("backbone features v1\n{weights_id}\n{}", serde_json::to_string(&image)?);
            let map = features::cached(&description, &examples, "backbone features", |chunk: &[&Example]| {
                let batch = raw_batch(chunk, None, image, device)?;
                Ok(valid.features(batch.images.as_ref().expect("decoded")))
            })?;
            for example in examples.all_mut() {
                example.image_cached = Some(map[&example.id].clone());
                example.poster = None;
            }
            Ok(examples)
        }
        // Everything else reads raw inputs every epoch: posters are decoded up front.
        _ => prepare(dataset, split, genres, text, image),
    }
}

/// The commit of the source tree the run was started from (`git rev-parse HEAD` in the current
/// folder), or "unknown" outside a git checkout.
fn source_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The headline numbers of a report, for manifests.
pub fn summary(report: &MultiLabelReport) -> serde_json::Value {
    serde_json::json!({
        "movies": report.movies,
        "micro_f1": report.micro_f1,
        "macro_f1": report.macro_f1,
        "weighted_f1": report.weighted_f1,
        "samples_f1": report.samples_f1,
        "hamming_loss": report.hamming_loss,
        "subset_accuracy": report.subset_accuracy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

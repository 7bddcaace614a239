//! `marquee train`: builds the chosen model (loading pretrained weights), prepares the data,
//! trains with checkpoints, tunes thresholds on validation, reports the test split, and writes
//! the run folder with a ready bundle of the best epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use model_core::bundle::{write_bundle, Bundle, BundleContents, Manifest, TextSpec, WeightsDType};
use model_core::data::{Dataset, GenreVocab, LoadOptions, PosterCheck, Split, SplitConfig};
use model_core::metrics::MultiLabelReport;
use model_core::models::bert::{self, BertClassifierConfig, BertConfig, BertPooling};
use model_core::models::efficientnet::{self, EfficientNetConfig};
use model_core::models::fusion::{FusionHeadConfig, FusionMode};
use model_core::models::head::{ImageHeadConfig, MultiLabelHeadConfig};
use model_core::models::lstm::{load_glove, LstmClassifierConfig};
use model_core::models::resnet::{self, ResNetConfig};
use model_core::models::simple_cnn::SimpleCnnConfig;
use model_core::models::{Classifier, FusionClassifier, FusionConfig, ImageModelConfig, ModelConfig, TextModelConfig};
use model_core::preprocess::image::{ImagePreprocessing, Normalization, IMAGE_SIZE};
use model_core::preprocess::text::{BertTokenizer, WordVocab};
use model_core::preprocess::{images_to_tensor, TextPreprocessor};
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::paths::{pretrained_dir, write_atomic};
use crate::train::examples::{poster_chw, prepare, Example, SplitExamples};
use crate::train::features;
use crate::train::fit::{fit, predict, score, FitInputs, FitOptions, OptimizerKind};

/// The models `marquee train` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// LSTM baseline: trainable embeddings, one layer, no dropout.
    Lstm,
    /// LSTM on GloVe embeddings: two layers, dropout 0.5.
    LstmGlove,
    /// A BERT checkpoint (all-MiniLM-L6-v2 by default) fine-tuned with a linear head.
    Bert,
    /// The design's SimpleCNN on posters.
    Cnn,
    /// ResNet-50 on torchvision ImageNet weights with the design's head.
    Resnet50,
    /// EfficientNet-Lite0 on ImageNet weights with the design's head.
    EfficientnetLite0,
    /// Frozen text and image classifiers fused by a small head.
    Fusion,
}

impl ModelKind {
    /// Whether the model reads posters.
    pub fn reads_images(self) -> bool {
        !matches!(self, ModelKind::Lstm | ModelKind::LstmGlove | ModelKind::Bert)
    }
}

/// Everything that defines a run; saved as `config.json` so `--resume` continues it.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// Which model to train.
    #[arg(long, value_enum)]
    pub model: ModelKind,
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
    /// Maximum epochs [default: per model].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Movies per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate [default: per model].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay [default: per model].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Optimiser [default: adamw for bert, adam otherwise].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Weight each genre's positives by sqrt(negatives / positives) [default: on for bert].
    #[arg(long)]
    pub pos_weight: Option<bool>,
    /// Early stopping: epochs without a better validation macro-F1.
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
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
    /// GloVe LSTM: a GloVe text file [default: the fetched glove.6B.50d.txt].
    #[arg(long)]
    pub glove: Option<PathBuf>,
    /// GloVe LSTM: keep the GloVe embeddings fixed.
    #[arg(long)]
    pub freeze_embeddings: bool,
    /// GloVe LSTM: run the LSTM layers in both directions.
    #[arg(long)]
    pub bidirectional: bool,
    /// BERT: a folder with config.json, model.safetensors and tokenizer.json
    /// [default: the fetched all-MiniLM-L6-v2].
    #[arg(long)]
    pub bert: Option<PathBuf>,
    /// BERT: pooling of the token representations.
    #[arg(long, value_enum, default_value = "mean")]
    pub pooling: PoolingChoice,
    /// Dropout before the classifier layer(s) [default: per model].
    #[arg(long)]
    pub dropout: Option<f64>,
    /// ResNet-50: torchvision ImageNet weights (.pth or .safetensors).
    #[arg(long)]
    pub resnet_weights: Option<PathBuf>,
    /// EfficientNet-Lite0: ImageNet weights [default: the fetched efficientnet-lite0-57934424.pth].
    #[arg(long)]
    pub efficientnet_weights: Option<PathBuf>,
    /// Pretrained image backbones: train the backbone too instead of caching its features.
    #[arg(long)]
    pub unfreeze_backbone: bool,
    /// Fusion: the text branch (a bundle folder or a run folder).
    #[arg(long)]
    pub text_model: Option<PathBuf>,
    /// Fusion: the image branch (a bundle folder or a run folder).
    #[arg(long)]
    pub image_model: Option<PathBuf>,
    /// Fusion: what the head reads from the branches.
    #[arg(long, value_enum, default_value = "logits")]
    pub fusion_mode: FusionModeChoice,
}

impl TrainConfig {
    /// A run of `model` on `data` into `out` with every other setting at its command-line
    /// default (the defaults live in one place: the `#[arg]` attributes above).
    pub fn new(model: ModelKind, data: PathBuf, out: PathBuf, device: DeviceChoice) -> Self {
        let mut config =
            Self::parse_args(&["--model", "lstm", "--data", ".", "--out", "."]).expect("the defaults parse");
        config.model = model;
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
}

/// `--image-size` of runs saved before the option existed.
fn default_image_size() -> u32 {
    IMAGE_SIZE
}

/// `--pooling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PoolingChoice {
    /// The [CLS] token.
    Cls,
    /// Masked mean over tokens.
    Mean,
}

/// `--fusion-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FusionModeChoice {
    /// The branches' logits (the design's).
    Logits,
    /// The branches' pooled features.
    Features,
    /// A gated multimodal unit over the pooled features.
    Gmu,
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

/// A model ready to train, with what it needs around it.
struct Prepared {
    model: Classifier,
    config: ModelConfig,
    text: Option<TextPreprocessor>,
    text_part: Option<(String, Vec<u8>)>,
    text_spec: Option<TextSpec>,
    image: Option<ImagePreprocessing>,
    examples: SplitExamples,
    branch_thresholds: Option<model_core::bundle::BranchThresholds>,
    defaults: FitOptions,
    notes: serde_json::Value,
}

/// Runs `marquee train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let (config, resume) = match (args.resume, args.config) {
        (Some(run), _) => {
            let bytes = std::fs::read(run.join("config.json"))
                .with_context(|| format!("{} is not a run folder (no config.json)", run.display()))?;
            let config: TrainConfig = serde_json::from_slice(&bytes).context("reading config.json")?;
            (config, true)
        }
        (None, Some(config)) => (config, false),
        (None, None) => bail!("give --model, --data and --out, or --resume RUN_DIR"),
    };
    train(&config, resume).map(|_| ())
}

/// Trains the run `config` describes (continuing it with `resume`) and returns the bundle path.
pub fn train(config: &TrainConfig, resume: bool) -> Result<PathBuf> {
    let started = Instant::now();
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
    let posters = if config.model.reads_images() { PosterCheck::Exists } else { PosterCheck::Ignore };
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

    let prepared = prepare_model(config, &dataset, &split, &genres, &device)?;
    let Prepared {
        model,
        config: model_config,
        text,
        text_part,
        text_spec,
        image,
        examples,
        branch_thresholds,
        defaults,
        notes,
    } = prepared;
    if let Some((name, bytes)) = &text_part {
        write_atomic(&run.join(name), bytes)?;
    }
    let options = FitOptions {
        epochs: config.epochs.unwrap_or(defaults.epochs),
        batch_size: config.batch_size,
        lr: config.lr.unwrap_or(defaults.lr),
        weight_decay: config.weight_decay.unwrap_or(defaults.weight_decay),
        optimizer: config.optimizer.unwrap_or(defaults.optimizer),
        pos_weight: config.pos_weight.unwrap_or(defaults.pos_weight),
        patience: config.patience,
        seed: config.seed,
        augment: config.augment,
        max_batches: config.max_batches,
    };
    let name = format!("{:?}", config.model).to_lowercase();
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
    crate::train::plots::genre_bars(&bars, &run.join("genre_f1.png"), &format!("{name}: test F1 per genre"))?;

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
        parts: Default::default(),
        info,
    };
    let bundle = run.join("bundle");
    write_bundle(&outcome.best, BundleContents { manifest, text_part }, &bundle)?;
    println!(
        "test micro-F1 {:.4}, macro-F1 {:.4}, weighted-F1 {:.4}, samples-F1 {:.4}, Hamming {:.4} ({} movies)",
        test.micro_f1, test.macro_f1, test.weighted_f1, test.samples_f1, test.hamming_loss, test.movies
    );
    println!("bundle: {}", bundle.display());
    Ok(bundle)
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

fn fit_defaults(epochs: usize, lr: f64, weight_decay: f64, optimizer: OptimizerKind, pos_weight: bool) -> FitOptions {
    FitOptions {
        epochs,
        batch_size: 32,
        lr,
        weight_decay,
        optimizer,
        pos_weight,
        patience: 3,
        seed: 42,
        augment: false,
        max_batches: 0,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!("{}: cannot read it (run scripts/fetch-pretrained.sh for the default weights)", path.display())
    })
}

fn prepare_model(
    config: &TrainConfig,
    dataset: &Dataset,
    split: &SplitConfig,
    genres: &GenreVocab,
    device: &Device,
) -> Result<Prepared> {
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let n = genres.len();
    let max_len = config.max_len;
    let train_plots = || dataset.split(Split::Train, split).into_iter().map(|m| m.overview.as_str());
    match config.model {
        ModelKind::Lstm | ModelKind::LstmGlove => {
            let vocab =
                WordVocab::build(train_plots(), config.min_word_count, config.max_words, max_len.unwrap_or(200));
            let mut notes = serde_json::json!({"vocabulary": vocab.len()});
            let (model_config, model) = if config.model == ModelKind::Lstm {
                let c = LstmClassifierConfig::baseline(n, vocab.len());
                let model = c.init(&train_device);
                (c, model)
            } else {
                let path = config.glove.clone().unwrap_or_else(|| pretrained_dir().join("glove/glove.6B.50d.txt"));
                let (table, coverage) = load_glove(&path, &vocab, config.seed)?;
                eprintln!(
                    "GloVe {}: {}d, covers {}/{} vocabulary words ({:.1}%)",
                    path.display(),
                    coverage.dim,
                    coverage.found,
                    coverage.words,
                    100.0 * coverage.fraction()
                );
                notes["glove"] = serde_json::json!({"file": path, "coverage": coverage});
                let mut c = LstmClassifierConfig::glove(n, vocab.len(), coverage.dim);
                c.bidirectional = config.bidirectional;
                c.freeze_embeddings = config.freeze_embeddings;
                if let Some(d) = config.dropout {
                    c.dropout = d;
                }
                let model = c.init(&train_device).with_embeddings(table, c.freeze_embeddings)?;
                (c, model)
            };
            let text = TextPreprocessor::Words(vocab.clone());
            let examples = prepare(dataset, split, genres, Some(&text), None)?;
            Ok(Prepared {
                model: Classifier::Text(model_core::models::TextClassifier::Lstm(model)),
                config: ModelConfig::Text(TextModelConfig::Lstm(model_config)),
                text_part: Some(("vocab.json".into(), serde_json::to_vec(&vocab)?)),
                text_spec: Some(TextSpec::Words { file: "vocab.json".into() }),
                text: Some(text),
                image: None,
                examples,
                branch_thresholds: None,
                // Both LSTMs: Adam 2e-3 with sqrt(neg/pos) positive weights, up to 20 epochs
                // (chosen on validation; RESULTS.md compares it with Adam 1e-3 unweighted).
                defaults: fit_defaults(20, 2e-3, 0.0, OptimizerKind::Adam, true),
                notes,
            })
        }
        ModelKind::Bert => {
            let dir = config.bert.clone().unwrap_or_else(|| pretrained_dir().join("all-MiniLM-L6-v2"));
            let bert_config = BertConfig::from_json(&read_file(&dir.join("config.json"))?, "config.json")?;
            let tokenizer_bytes = read_file(&dir.join("tokenizer.json"))?;
            let max_len = max_len.unwrap_or(128).min(bert_config.max_position_embeddings);
            let tokenizer = BertTokenizer::from_bytes(&tokenizer_bytes, max_len, "tokenizer.json")?;
            let pooling = match config.pooling {
                PoolingChoice::Cls => BertPooling::Cls,
                PoolingChoice::Mean => BertPooling::Mean,
            };
            let c = BertClassifierConfig {
                bert: bert_config,
                num_genres: n,
                pooling,
                dropout: config.dropout.unwrap_or(0.1),
            };
            let mut model = c.init(&train_device);
            bert::load_pretrained(&mut model.bert, &dir.join("model.safetensors"))?;
            let text = TextPreprocessor::Bert(tokenizer);
            let examples = prepare(dataset, split, genres, Some(&text), None)?;
            Ok(Prepared {
                model: Classifier::Text(model_core::models::TextClassifier::Bert(model)),
                config: ModelConfig::Text(TextModelConfig::Bert(c)),
                text_part: Some(("tokenizer.json".into(), tokenizer_bytes)),
                text_spec: Some(TextSpec::Bert { file: "tokenizer.json".into(), max_len }),
                text: Some(text),
                image: None,
                examples,
                branch_thresholds: None,
                defaults: fit_defaults(4, 5e-5, 0.01, OptimizerKind::Adamw, true),
                notes: serde_json::json!({"pretrained": dir}),
            })
        }
        ModelKind::Cnn => {
            let mut c = SimpleCnnConfig::new(n);
            if let Some(d) = config.dropout {
                c.dropout = d;
            }
            let image = ImagePreprocessing { size: config.image_size, ..ImagePreprocessing::new(Normalization::HALF) };
            let examples = prepare(dataset, split, genres, None, Some(&image))?;
            Ok(Prepared {
                model: Classifier::Image(model_core::models::ImageClassifier::SimpleCnn(c.init(&train_device))),
                config: ModelConfig::Image(ImageModelConfig::SimpleCnn(c)),
                text: None,
                text_part: None,
                text_spec: None,
                image: Some(image),
                examples,
                branch_thresholds: None,
                defaults: fit_defaults(10, 1e-3, 1e-4, OptimizerKind::Adam, false),
                notes: serde_json::Value::Null,
            })
        }
        ModelKind::Resnet50 | ModelKind::EfficientnetLite0 => {
            let dropout = config.dropout.unwrap_or(0.5);
            let freeze_backbone = !config.unfreeze_backbone;
            let (weights, model_config) = if config.model == ModelKind::Resnet50 {
                let weights = config
                    .resnet_weights
                    .clone()
                    .unwrap_or_else(|| pretrained_dir().join("resnet50/resnet50-11ad3fa6.pth"));
                let head =
                    ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(resnet::RESNET50_FEATURES, n, dropout));
                (weights, ImageModelConfig::Resnet50(ResNetConfig { freeze_backbone, ..ResNetConfig::resnet50(head) }))
            } else {
                let weights = config
                    .efficientnet_weights
                    .clone()
                    .unwrap_or_else(|| pretrained_dir().join("efficientnet-lite0/efficientnet-lite0-57934424.pth"));
                let head = ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(
                    efficientnet::EFFICIENTNET_FEATURES,
                    n,
                    dropout,
                ));
                (weights, ImageModelConfig::EfficientnetLite0(EfficientNetConfig { head, freeze_backbone }))
            };
            let mut model = model_config.init(&train_device);
            match &mut model {
                model_core::models::ImageClassifier::Resnet50(m) => resnet::load_torchvision(m, &weights)?,
                model_core::models::ImageClassifier::EfficientnetLite0(m) => {
                    efficientnet::load_pretrained(m, &weights)?
                }
                model_core::models::ImageClassifier::SimpleCnn(_) => {
                    unreachable!("a pretrained backbone")
                }
            }
            let image =
                ImagePreprocessing { size: config.image_size, ..ImagePreprocessing::new(Normalization::IMAGENET) };
            // A frozen backbone reads each poster once, for the feature cache, and only when
            // the cache lacks it; a trained one reads them every epoch, so decode them up front.
            let decode_now = (!model_config.frozen_backbone()).then_some(&image);
            let mut examples = prepare(dataset, split, genres, None, decode_now)?;
            if model_config.frozen_backbone() {
                let weights_id = model_core::bundle::sha256_hex(&read_file(&weights)?);
                let kind = serde_json::to_string(&config.model)?;
                cache_image_features(&model, &image, &mut examples, device, &format!("{kind} {weights_id}"))?;
            }
            Ok(Prepared {
                model: Classifier::Image(model),
                config: ModelConfig::Image(model_config),
                text: None,
                text_part: None,
                text_spec: None,
                image: Some(image),
                examples,
                branch_thresholds: None,
                defaults: fit_defaults(20, 3e-4, 1e-4, OptimizerKind::Adam, false),
                notes: serde_json::json!({"pretrained": weights}),
            })
        }
        ModelKind::Fusion => prepare_fusion(config, dataset, split, genres, device),
    }
}

/// Computes a frozen backbone's features once per movie (cached on disk) and attaches them.
fn cache_image_features(
    model: &model_core::models::ImageClassifier,
    image: &ImagePreprocessing,
    examples: &mut SplitExamples,
    device: &Device,
    weights_id: &str,
) -> Result<()> {
    let valid = model.valid();
    let description = format!("backbone features v1\n{weights_id}\n{}", serde_json::to_string(image)?);
    let map = features::cached(&description, examples, "backbone features", |chunk: &[&Example]| {
        let chw = chunk.iter().map(|e| poster_chw(e, image)).collect::<Result<Vec<_>>>()?;
        Ok(valid.features(images_to_tensor(&chw, image, device)))
    })?;
    for example in examples.all_mut() {
        example.image_cached = Some(map[&example.id].clone());
        example.poster = None;
    }
    Ok(())
}

/// Reads a branch: a bundle folder, or a run folder holding one in `bundle/`.
fn read_branch(path: &Path) -> Result<Bundle> {
    let dir = if path.join("bundle").join(model_core::bundle::MANIFEST).is_file() {
        path.join("bundle")
    } else {
        path.to_path_buf()
    };
    Ok(Bundle::read_dir(&dir)?)
}

fn prepare_fusion(
    config: &TrainConfig,
    dataset: &Dataset,
    split: &SplitConfig,
    genres: &GenreVocab,
    device: &Device,
) -> Result<Prepared> {
    let text_path = config.text_model.as_ref().context("fusion needs --text-model (a text bundle or run)")?;
    let image_path = config.image_model.as_ref().context("fusion needs --image-model (an image bundle or run)")?;
    let text_bundle = read_branch(text_path)?;
    let image_bundle = read_branch(image_path)?;
    for (bundle, what) in [(&text_bundle, "text"), (&image_bundle, "image")] {
        if bundle.manifest.genres != genres.genres {
            bail!(
                "the {what} branch {} predicts other genres ({}) than this data's training split ({}): train the branches on the same data and split",
                bundle.source,
                bundle.manifest.genres.join(", "),
                genres.genres.join(", ")
            );
        }
    }
    let (ModelConfig::Text(text_config), Classifier::Text(text_model)) =
        (text_bundle.manifest.model.clone(), text_bundle.load_model(device)?)
    else {
        bail!("--text-model {} is not a text model", text_bundle.source)
    };
    let (ModelConfig::Image(image_config), Classifier::Image(image_model)) =
        (image_bundle.manifest.model.clone(), image_bundle.load_model(device)?)
    else {
        bail!("--image-model {} is not an image model", image_bundle.source)
    };
    let mode = match config.fusion_mode {
        FusionModeChoice::Logits => FusionMode::Logits,
        FusionModeChoice::Features => FusionMode::Features,
        FusionModeChoice::Gmu => FusionMode::Gmu,
    };
    let n = genres.len();
    let (text_width, image_width) = match mode {
        FusionMode::Logits => (n, n),
        _ => (text_model.feature_dim(), image_model.feature_dim()),
    };
    let head_config = FusionHeadConfig {
        mode,
        text_input: text_width,
        image_input: image_width,
        hidden: 128,
        dropout: config.dropout.unwrap_or(0.3),
        num_genres: n,
    };
    let train_device = device.clone().autodiff();
    let fusion = FusionClassifier::new(text_model, image_model, head_config.init(&train_device), mode);

    let text = text_bundle.text_preprocessor()?.context("the text branch has no tokenizer")?;
    let image = image_bundle.manifest.image.context("the image branch has no image preprocessing")?;
    // Posters are decoded only if the image branch's outputs are not cached yet.
    let mut examples = prepare(dataset, split, genres, Some(&text), None)?;
    // Each branch's pooled features are computed once per movie and cached (keyed by the
    // branch's weights); the logits that the design's head reads are the branch's own head
    // applied to them, so every fusion mode shares one pass over the posters and plots.
    let text_features = features::cached(
        &format!("fusion text branch features v1\n{}", text_bundle.manifest.parts[model_core::bundle::WEIGHTS].sha256),
        &examples,
        "text branch",
        |chunk: &[&Example]| {
            let sequences: Vec<Vec<u32>> = chunk.iter().map(|e| e.tokens.clone().expect("tokenised")).collect();
            Ok(fusion.text.features(&text.to_input(&sequences, device)))
        },
    )?;
    let image_features = features::cached(
        &format!(
            "fusion image branch features v1\n{}",
            image_bundle.manifest.parts[model_core::bundle::WEIGHTS].sha256
        ),
        &examples,
        "image branch",
        |chunk: &[&Example]| {
            let chw = chunk.iter().map(|e| poster_chw(e, &image)).collect::<Result<Vec<_>>>()?;
            Ok(fusion.image.features(images_to_tensor(&chw, &image, device)))
        },
    )?;
    let (text_map, image_map) = if mode.uses_features() {
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
    let text_spec = text_bundle.manifest.text.clone();
    let text_part = match &text_spec {
        Some(TextSpec::Words { file }) | Some(TextSpec::Bert { file, .. }) => {
            Some((file.clone(), text_bundle.part(file)?.to_vec()))
        }
        None => None,
    };
    Ok(Prepared {
        model: Classifier::Fusion(fusion),
        config: ModelConfig::Fusion(FusionConfig { text: text_config, image: image_config, head: head_config }),
        text: Some(text),
        text_part,
        text_spec,
        image: Some(image),
        examples,
        branch_thresholds: Some(model_core::bundle::BranchThresholds {
            text: text_bundle.manifest.thresholds.clone(),
            image: image_bundle.manifest.thresholds.clone(),
        }),
        defaults: fit_defaults(30, 1e-3, 0.0, OptimizerKind::Adam, false),
        notes: serde_json::json!({"text_branch": text_bundle.manifest.name, "image_branch": image_bundle.manifest.name}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_saved_before_image_size_existed_resume_at_224() {
        let mut saved =
            serde_json::to_value(TrainConfig::new(ModelKind::Cnn, "data".into(), "run".into(), DeviceChoice::Cpu))
                .unwrap();
        saved.as_object_mut().unwrap().remove("image_size");
        let config: TrainConfig = serde_json::from_value(saved).unwrap();
        assert_eq!(config.image_size, 224);
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

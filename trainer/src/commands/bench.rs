//! `marquee bench`: inference latency (batch 1), throughput (batch 32), one training step
//! (batch 32), peak memory and achieved GFLOP/s of every model on a device, as a Markdown table
//! and JSON; with `--pytorch PYTHON`, the same rows measured by `bench/pytorch_reference.py` in
//! PyTorch eager with the same shapes and threads, and the ratio Marquee / PyTorch.
//!
//! Weights are freshly initialised (speed does not depend on their values), except the fusion,
//! which is the default bundle when it is there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use model_core::bundle::Bundle;
use model_core::flops::forward_macs;
use model_core::models::bert::{BertClassifierConfig, BertConfig, BertPooling};
use model_core::models::efficientnet::{EfficientNetConfig, EFFICIENTNET_FEATURES};
use model_core::models::fusion::{FusionHeadConfig, FusionMode};
use model_core::models::head::{ImageHeadConfig, MultiLabelHeadConfig};
use model_core::models::lstm::LstmClassifierConfig;
use model_core::models::resnet::{ResNetConfig, RESNET50_FEATURES};
use model_core::models::simple_cnn::SimpleCnnConfig;
use model_core::models::{Batch, Classifier, FusionConfig, ImageModelConfig, ModelConfig, TextInput, TextModelConfig};
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::train::fit::bce_with_logits;

const GENRES: usize = 20;
/// Plot length of the inference rows (the BERT models' maximum).
const INFERENCE_TOKENS: usize = 128;
/// Plot length of the training-step rows (the PyTorch reference figure's).
const TRAIN_TOKENS: usize = 96;
const BATCH: usize = 32;

/// A benchmarked model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BenchModel {
    /// all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) with a linear head, 128 tokens.
    Minilm,
    /// ResNet-50 with the design's head.
    Resnet50,
    /// EfficientNet-Lite0 with the design's head.
    EfficientnetLite0,
    /// The design's SimpleCNN.
    Cnn,
    /// The GloVe LSTM (50d, 2 layers of 128), 128 tokens.
    LstmGlove,
    /// The default fusion (MiniLM + EfficientNet-Lite0), a poster and a 128-token plot.
    Fusion,
}

/// Arguments of `marquee bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Models to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "minilm,resnet50,efficientnet-lite0,cnn,lstm-glove,fusion"
    )]
    models: Vec<BenchModel>,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Threads of the CPU backend [default: every core].
    #[arg(long)]
    threads: Option<usize>,
    /// Timed runs of each batch-1 measurement, after warm-up (batch-32 rows use a quarter).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Skip the training steps.
    #[arg(long)]
    no_train: bool,
    /// The fusion's bundle.
    #[arg(long, default_value = "www/models/default")]
    bundle: PathBuf,
    /// A Python with PyTorch: also run bench/pytorch_reference.py (same models, shapes and
    /// threads) and print the ratio Marquee / PyTorch of each number.
    #[arg(long)]
    pytorch: Option<PathBuf>,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One model's measurements (times in milliseconds or seconds, memory in MB).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// The model.
    pub model: String,
    /// Median latency of one movie (batch 1), ms.
    pub latency_ms: f64,
    /// Movies per second at batch 32.
    pub throughput: f64,
    /// Median time of one training step at batch 32 (forward, backward, AdamW), s.
    pub train_step_s: Option<f64>,
    /// Peak resident memory while measuring this model, MB.
    pub peak_mb: f64,
    /// Achieved GFLOP/s at batch 32 (2 FLOPs per multiply-accumulate).
    pub gflops: f64,
    /// Multiply-accumulates of one movie's forward pass, G.
    pub gmacs: f64,
}

/// What the PyTorch reference script prints.
#[derive(Debug, Deserialize)]
struct Reference {
    torch: String,
    threads: usize,
    rows: Vec<Row>,
}

/// Runs `marquee bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("setting the CPU backend's thread count")?;
    let device = args.device.device();
    let mut rows = Vec::new();
    for &model in &args.models {
        eprintln!("measuring {model:?} on {:?} ({threads} threads)...", args.device);
        rows.push(measure(model, &args, &device)?);
    }
    let reference = match &args.pytorch {
        Some(python) => Some(run_reference(python, &args, threads)?),
        None => None,
    };
    print_table(&rows, reference.as_ref(), &args, threads);
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "device": format!("{:?}", args.device).to_lowercase(),
            "threads": threads,
            "rows": rows,
            "pytorch": reference.as_ref().map(|r| serde_json::json!({"torch": r.torch, "threads": r.threads, "rows": r.rows})),
        });
        crate::paths::write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(())
}

/// The model's configuration (backbones trainable, for the training step); for the fusion,
/// MiniLM + EfficientNet-Lite0 on pooled features, the default bundle's shape.
fn config_of(model: BenchModel) -> ModelConfig {
    let minilm = || {
        TextModelConfig::Bert(BertClassifierConfig {
            bert: BertConfig::minilm_l6(),
            num_genres: GENRES,
            pooling: BertPooling::Mean,
            dropout: 0.1,
        })
    };
    let head = |features| ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(features, GENRES, 0.5));
    let efficientnet = || {
        ImageModelConfig::EfficientnetLite0(EfficientNetConfig {
            head: head(EFFICIENTNET_FEATURES),
            freeze_backbone: false,
        })
    };
    match model {
        BenchModel::Minilm => ModelConfig::Text(minilm()),
        BenchModel::LstmGlove => {
            ModelConfig::Text(TextModelConfig::Lstm(LstmClassifierConfig::glove(GENRES, 30_000, 50)))
        }
        BenchModel::Resnet50 => ModelConfig::Image(ImageModelConfig::Resnet50(ResNetConfig {
            freeze_backbone: false,
            ..ResNetConfig::resnet50(head(RESNET50_FEATURES))
        })),
        BenchModel::EfficientnetLite0 => ModelConfig::Image(efficientnet()),
        BenchModel::Cnn => ModelConfig::Image(ImageModelConfig::SimpleCnn(SimpleCnnConfig::new(GENRES))),
        BenchModel::Fusion => ModelConfig::Fusion(FusionConfig {
            text: minilm(),
            image: efficientnet(),
            head: FusionHeadConfig {
                mode: FusionMode::Features,
                text_input: 384,
                image_input: EFFICIENTNET_FEATURES,
                hidden: 128,
                dropout: 0.3,
                num_genres: GENRES,
            },
        }),
    }
}

fn text_input(config: &ModelConfig, batch: usize, tokens: usize, device: &Device) -> Option<TextInput> {
    let vocab = match config {
        ModelConfig::Text(TextModelConfig::Bert(c))
        | ModelConfig::Fusion(FusionConfig { text: TextModelConfig::Bert(c), .. }) => c.bert.vocab_size,
        ModelConfig::Text(TextModelConfig::Lstm(c))
        | ModelConfig::Fusion(FusionConfig { text: TextModelConfig::Lstm(c), .. }) => c.vocab_size,
        ModelConfig::Image(_) => return None,
    };
    // Token ids spread over the vocabulary, like real text; every token real (no padding).
    let ids: Vec<i64> = (0..batch * tokens).map(|i| (1000 + (i * 7919) % (vocab - 1000)) as i64).collect();
    Some(TextInput {
        ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, tokens]), device),
        mask: Tensor::<2>::ones([batch, tokens], device),
    })
}

fn inputs(config: &ModelConfig, batch: usize, tokens: usize, device: &Device) -> Batch {
    let images = (!matches!(config, ModelConfig::Text(_)))
        .then(|| Tensor::<4>::random([batch, 3, 224, 224], Distribution::Normal(0.0, 1.0), device));
    Batch { text: text_input(config, batch, tokens, device), images, ..Batch::default() }
}

/// Median of `runs` timings of `work` (seconds), after `warmup` untimed runs.
fn median_seconds(warmup: usize, runs: usize, mut work: impl FnMut()) -> f64 {
    (0..warmup).for_each(|_| work());
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn measure(which: BenchModel, args: &BenchArgs, device: &Device) -> Result<Row> {
    reset_peak_memory();
    // Only the fusion reads the bundle, once: the other rows' peak memory must not include it.
    let bundle = (which == BenchModel::Fusion)
        .then(|| Bundle::read_dir(&args.bundle).ok())
        .flatten()
        .filter(|b| matches!(b.manifest.model, ModelConfig::Fusion(_)));
    let (config, model): (ModelConfig, Classifier) = match bundle {
        Some(bundle) => (bundle.manifest.model.clone(), bundle.load_model(device)?),
        None => {
            let config = config_of(which);
            let model = config.init(device).valid();
            (config, model)
        }
    };
    let forward = |batch: &Batch| {
        let _ = model.forward(batch).into_data();
    };
    let one = inputs(&config, 1, INFERENCE_TOKENS, device);
    let latency = median_seconds(2, args.repeats, || forward(&one));
    let many = inputs(&config, BATCH, INFERENCE_TOKENS, device);
    let batch_time = median_seconds(1, (args.repeats / 4).max(2), || forward(&many));
    let macs = forward_macs(&config, INFERENCE_TOKENS) as f64;
    let train_step_s = match which {
        // The fusion trains its head on cached branch outputs: nothing to time here.
        BenchModel::Fusion => None,
        _ if args.no_train => None,
        _ => Some(train_step_seconds(&config, device)),
    };
    Ok(Row {
        model: serde_json::to_value(which)?.as_str().unwrap_or_default().to_string(),
        latency_ms: latency * 1e3,
        throughput: BATCH as f64 / batch_time,
        train_step_s,
        peak_mb: peak_memory_mb(),
        gflops: 2.0 * macs * BATCH as f64 / batch_time / 1e9,
        gmacs: macs / 1e9,
    })
}

fn train_step_seconds(config: &ModelConfig, device: &Device) -> f64 {
    let train_device = device.clone().autodiff();
    let mut model = Some(config.init(&train_device));
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.01).init();
    let batch = inputs(config, BATCH, TRAIN_TOKENS, &train_device);
    let targets = Tensor::<2>::random([BATCH, GENRES], Distribution::Bernoulli(0.15), &train_device);
    median_seconds(1, 3, || {
        let current = model.take().expect("a model");
        let loss = bce_with_logits(current.forward(&batch), targets.clone(), None);
        let grads = GradientsParams::from_grads(loss.backward(), &current);
        model = Some(optimizer.step(5e-5, current, grads));
        // Wait for the update to finish before the clock stops.
        let _ = loss_sync(&train_device);
    })
}

/// A tiny read-back that waits for the queued work on `device`.
fn loss_sync(device: &Device) -> f32 {
    Tensor::<1>::zeros([1], device).into_scalar()
}

/// Resets the peak resident memory that [`peak_memory_mb`] reads (Linux; elsewhere a no-op),
/// after returning the memory earlier models freed, which the allocator keeps for reuse.
fn reset_peak_memory() {
    crate::memory::release_free_memory();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MB (Linux `VmHWM`; 0 elsewhere).
fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run_reference(python: &Path, args: &BenchArgs, threads: usize) -> Result<Reference> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/pytorch_reference.py");
    let models: Vec<String> =
        args.models.iter().map(|m| serde_json::to_value(m).unwrap().as_str().unwrap().to_string()).collect();
    eprintln!("running the PyTorch reference ({})...", script.display());
    let mut command = std::process::Command::new(python);
    command
        .arg(&script)
        .args([
            "--threads",
            &threads.to_string(),
            "--repeats",
            &args.repeats.to_string(),
            "--models",
            &models.join(","),
        ])
        .stderr(std::process::Stdio::inherit());
    if args.no_train {
        command.arg("--no-train");
    }
    let output = command.output().with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(output.status.success(), "the PyTorch reference failed ({})", output.status);
    serde_json::from_slice(&output.stdout).context("reading the PyTorch reference's JSON")
}

fn print_table(rows: &[Row], reference: Option<&Reference>, args: &BenchArgs, threads: usize) {
    let find = |model: &str| reference.and_then(|r| r.rows.iter().find(|row| row.model == model));
    let ratio = |ours: f64, theirs: Option<f64>| match theirs {
        Some(t) if t > 0.0 => format!(" ({:.2}x)", ours / t),
        _ => String::new(),
    };
    println!(
        "Marquee on {:?}, {threads} thread(s){}; times are medians; (x) = Marquee / PyTorch, below 1 is faster for times\n",
        args.device,
        reference.map(|r| format!(", PyTorch {} eager with {} thread(s) beside it", r.torch, r.threads)).unwrap_or_default()
    );
    println!("| model | latency b1 (ms) | throughput b32 (movies/s) | train step b32 (s) | peak RSS (MB) | GMAC/movie | GFLOP/s b32 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let theirs = find(&row.model);
        let train = match row.train_step_s {
            Some(s) => format!("{s:.2}{}", ratio(s, theirs.and_then(|t| t.train_step_s))),
            None => "-".into(),
        };
        println!(
            "| {} | {:.1}{} | {:.1}{} | {} | {:.0}{} | {:.2} | {:.1} |",
            row.model,
            row.latency_ms,
            ratio(row.latency_ms, theirs.map(|t| t.latency_ms)),
            row.throughput,
            ratio(row.throughput, theirs.map(|t| t.throughput)),
            train,
            row.peak_mb,
            ratio(row.peak_mb, theirs.map(|t| t.peak_mb)),
            row.gmacs,
            row.gflops
        );
    }
    if let Some(reference) = reference {
        println!("\nPyTorch {} eager, {} thread(s):\n", reference.torch, reference.threads);
        println!("| model | latency b1 (ms) | throughput b32 (movies/s) | train step b32 (s) | peak RSS (MB) |");
        println!("|---|---:|---:|---:|---:|");
        for row in &reference.rows {
            let train = row.train_step_s.map_or("-".into(), |s| format!("{s:.2}"));
            println!(
                "| {} | {:.1} | {:.1} | {train} | {:.0} |",
                row.model, row.latency_ms, row.throughput, row.peak_mb
            );
        }
    }
}

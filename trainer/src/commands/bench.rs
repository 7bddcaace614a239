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
use burn::tensor::{Device, Distribution, Tensor};
use clap::builder::PossibleValuesParser;
use model_core::batch::{Batch, BatchItem, Batcher};
use model_core::bundle::Bundle;
use model_core::models::registry::{architecture, names, Architecture, Reads};
use model_core::models::{Classifier, ModelConfig};
use model_core::ops::product_kernel;
use model_core::preprocess::image::IMAGE_SIZE;
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::training::fit::bce_with_logits;

const GENRES: usize = 20;
/// Plot length of the inference rows (the BERT models' maximum).
const INFERENCE_TOKENS: usize = 128;
/// Plot length of the training-step rows (the PyTorch reference figure's).
const TRAIN_TOKENS: usize = 96;
const BATCH: usize = 32;

/// Arguments of `marquee bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Models to measure, by their registry names [default: every model].
    #[arg(long, value_delimiter = ',', value_parser = PossibleValuesParser::new(names()))]
    models: Vec<String>,
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
    /// Only print the kernel that runs the CPU's matrix products (library and core), and stop.
    #[arg(long)]
    kernel: bool,
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
    /// Registry models the reference has no PyTorch twin of.
    #[serde(default)]
    skipped: Vec<String>,
}

/// Runs `marquee bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let kernel = product_kernel::product_kernel();
    if args.kernel {
        println!("{kernel}");
        return Ok(());
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("setting the CPU backend's thread count")?;
    let device = args.device.device();
    let models = match args.models.is_empty() {
        true => names().into_iter().map(String::from).collect(),
        false => args.models.clone(),
    };
    let mut rows = Vec::new();
    for model in &models {
        eprintln!("measuring {model} on {:?} ({threads} threads)...", args.device);
        rows.push(measure(architecture(model)?, &args, &device)?);
    }
    let reference = match &args.pytorch {
        Some(python) => Some(run_reference(python, &models, &args, threads)?),
        None => None,
    };
    print_table(&rows, reference.as_ref(), &args, threads);
    println!("\nMatrix products on the CPU: {kernel}");
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "device": format!("{:?}", args.device).to_lowercase(),
            "threads": threads,
            "product_kernel": kernel.to_string(),
            "rows": rows,
            "pytorch": reference.as_ref().map(|r| serde_json::json!({"torch": r.torch, "threads": r.threads, "rows": r.rows})),
        });
        model_core::files::write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    }
    Ok(())
}

/// A batch of `batch` movies for `config`: plots of `tokens` token ids spread over the
/// vocabulary like real text (no padding) and posters of normal noise, through the one batcher.
fn inputs(config: &ModelConfig, batch: usize, tokens: usize, device: &Device) -> Batch {
    let ids: Option<Vec<u32>> = config
        .vocab_size()
        .map(|vocab| (0..batch * tokens).map(|i| (1000 + (i * 7919) % (vocab - 1000)) as u32).collect());
    let side = IMAGE_SIZE as usize;
    let posters: Option<Vec<f32>> = config.reads().images().then(|| {
        let noise = Tensor::<1>::random([batch * 3 * side * side], Distribution::Normal(0.0, 1.0), device);
        noise.into_data().try_to_vec().expect("f32 noise")
    });
    let items: Vec<BatchItem> = (0..batch)
        .map(|i| BatchItem {
            tokens: ids.as_ref().map(|ids| &ids[i * tokens..(i + 1) * tokens]),
            poster: posters.as_ref().map(|p| p[i * 3 * side * side..(i + 1) * 3 * side * side].into()),
            ..BatchItem::default()
        })
        .collect();
    Batcher { pad_id: 0, image_size: IMAGE_SIZE, device: device.clone() }.batch(&items)
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

fn measure(which: &Architecture, args: &BenchArgs, device: &Device) -> Result<Row> {
    reset_peak_memory();
    // Only the fusion reads the bundle, once: the other rows' peak memory must not include it.
    let bundle = (which.reads == Reads::Both)
        .then(|| Bundle::open(&args.bundle).ok())
        .flatten()
        .filter(|b| matches!(b.manifest.model, ModelConfig::Fusion(_)));
    let (config, model): (ModelConfig, Classifier) = match bundle {
        Some(bundle) => (bundle.manifest.model.clone(), bundle.load_model(device)?),
        None => {
            let config = (which.bench)(GENRES);
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
    let macs = config.forward_macs(INFERENCE_TOKENS) as f64;
    let train_step_s = match which.reads {
        // The fusion trains its head on cached branch outputs: nothing to time here.
        Reads::Both => None,
        _ if args.no_train => None,
        _ => Some(train_step_seconds(&config, device)),
    };
    Ok(Row {
        model: which.name.to_string(),
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

fn run_reference(python: &Path, models: &[String], args: &BenchArgs, threads: usize) -> Result<Reference> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/pytorch_reference.py");
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
        if !reference.skipped.is_empty() {
            println!(
                "\nNo PyTorch reference (bench/pytorch_reference.py has no twin of them): {}",
                reference.skipped.join(", ")
            );
        }
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

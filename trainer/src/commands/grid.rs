//! `marquee grid`: the design's grid search for a pretrained image backbone, dropout {0.3, 0.5}
//! x learning rate {1e-4, 3e-4} x weight decay {1e-4, 1e-5} x frozen backbone {true, false},
//! scored by validation macro-F1 (never the test split). The best run is kept as `OUT/best`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;

use model_core::models::registry::{architecture, Reads};

use crate::device::DeviceChoice;
use crate::training::config::TrainConfig;
use crate::training::run::train;
use crate::training::run_dir::RunDir;
use model_core::files::write_atomic;

/// Arguments of `marquee grid`.
#[derive(clap::Args)]
pub struct GridArgs {
    /// The backbone: a pretrained image model of the registry (resnet50, efficientnet-lite0).
    #[arg(long)]
    model: String,
    /// The data set folder.
    #[arg(long)]
    data: PathBuf,
    /// The folder for the grid's runs, its table and the best run.
    #[arg(long)]
    out: PathBuf,
    /// Where to train. Unfrozen configurations train the whole backbone: they run only on a GPU
    /// device unless `--unfrozen-on-cpu` is given.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Run the unfrozen configurations even on the CPU (slow: hours per configuration).
    #[arg(long)]
    unfrozen_on_cpu: bool,
    /// Epochs per configuration.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Pretrained weights in place of the model's default ones.
    #[arg(long, visible_alias = "resnet-weights")]
    weights: Option<PathBuf>,
    /// Use only the first N movies (quick runs, tests).
    #[arg(long)]
    limit: Option<usize>,
}

/// One row of the grid's table.
#[derive(Debug, Clone, Serialize)]
struct GridRow {
    run: String,
    dropout: f64,
    lr: f64,
    weight_decay: f64,
    frozen: bool,
    /// Validation macro-F1 of the run's best epoch, or `None` when skipped.
    validation_macro_f1: Option<f64>,
    validation_micro_f1: Option<f64>,
    note: String,
}

/// Runs `marquee grid`.
pub fn run(args: GridArgs) -> Result<()> {
    let backbone = architecture(&args.model)?;
    if backbone.reads != Reads::Image || backbone.pretrained.is_none() {
        bail!("grid searches a pretrained image backbone (--model resnet50 or efficientnet-lite0), not {}", args.model);
    }
    std::fs::create_dir_all(&args.out)?;
    let on_gpu = args.device != DeviceChoice::Cpu;
    let mut rows = Vec::new();
    for frozen in [true, false] {
        for dropout in [0.3, 0.5] {
            for lr in [1e-4, 3e-4] {
                for weight_decay in [1e-4, 1e-5] {
                    let name = format!(
                        "{}-d{dropout}-lr{lr:e}-wd{weight_decay:e}",
                        if frozen { "frozen" } else { "unfrozen" }
                    );
                    let mut row = GridRow {
                        run: name.clone(),
                        dropout,
                        lr,
                        weight_decay,
                        frozen,
                        validation_macro_f1: None,
                        validation_micro_f1: None,
                        note: String::new(),
                    };
                    if !frozen && !on_gpu && !args.unfrozen_on_cpu {
                        row.note = "skipped on CPU (fine-tuning the whole backbone needs a GPU: --device wgpu)".into();
                        eprintln!("{name}: {}", row.note);
                        rows.push(row);
                        continue;
                    }
                    let run = RunDir::new(args.out.join(&name));
                    if !run.finished() {
                        let _ = std::fs::remove_dir_all(run.path());
                        let config = TrainConfig {
                            epochs: Some(args.epochs),
                            lr: Some(lr),
                            weight_decay: Some(weight_decay),
                            dropout: Some(dropout),
                            unfreeze_backbone: !frozen,
                            ..TrainConfig::new(&args.model, args.data.clone(), run.path().to_path_buf(), args.device)
                        };
                        let config = TrainConfig { limit: args.limit, weights: args.weights.clone(), ..config };
                        eprintln!("== {name}");
                        train(&config, false)?;
                    }
                    let validation = run.validation_metrics()?;
                    row.validation_macro_f1 = validation["macro_f1"].as_f64();
                    row.validation_micro_f1 = validation["micro_f1"].as_f64();
                    rows.push(row);
                }
            }
        }
    }
    let best = rows
        .iter()
        .filter(|r| r.validation_macro_f1.is_some())
        .max_by(|a, b| a.validation_macro_f1.unwrap().total_cmp(&b.validation_macro_f1.unwrap()))
        .cloned();
    let table = markdown(&rows, best.as_ref());
    println!("{table}");
    write_atomic(&args.out.join("grid.md"), table.as_bytes())?;
    write_atomic(&args.out.join("grid.json"), &serde_json::to_vec_pretty(&rows)?)?;
    if let Some(best) = best {
        let target = args.out.join("best");
        let _ = std::fs::remove_dir_all(&target);
        copy_dir(&args.out.join(&best.run), &target)?;
        println!(
            "best: {} (validation macro-F1 {:.4}) kept as {}",
            best.run,
            best.validation_macro_f1.unwrap(),
            target.display()
        );
    }
    Ok(())
}

fn markdown(rows: &[GridRow], best: Option<&GridRow>) -> String {
    let mut out = String::from("| run | frozen | dropout | lr | weight decay | val macro-F1 | val micro-F1 | note |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let mark = if best.is_some_and(|b| b.run == r.run) { " (best)" } else { "" };
        out.push_str(&format!(
            "| {}{mark} | {} | {} | {:e} | {:e} | {} | {} | {} |\n",
            r.run,
            r.frozen,
            r.dropout,
            r.lr,
            r.weight_decay,
            f(r.validation_macro_f1),
            f(r.validation_micro_f1),
            r.note
        ));
    }
    out
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

//! `marquee compare`: several runs' test metrics side by side, as a Markdown table and two
//! charts (F1 per model, per-genre F1 heat map). External results (the scikit-learn baseline's
//! JSON) join with `--reference NAME=FILE`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::training::plots;
use crate::training::run_dir::RunDir;

/// Arguments of `marquee compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Run folders (each with test_metrics.json), as NAME=RUN or RUN (named after its folder).
    #[arg(long = "run", required = true)]
    runs: Vec<String>,
    /// Results from elsewhere, as NAME=FILE: a JSON with a "test" object of the same keys.
    #[arg(long = "reference")]
    references: Vec<String>,
    /// Folder for models.png and per_genre_f1.png.
    #[arg(long)]
    out: PathBuf,
}

/// One model's test metrics.
struct Entry {
    name: String,
    metrics: serde_json::Value,
}

fn split_name(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once('=') {
        Some((name, path)) => (Some(name), path),
        None => (None, spec),
    }
}

fn read_json(path: &std::path::Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

/// Runs `marquee compare`.
pub fn run(args: CompareArgs) -> Result<()> {
    let mut entries = Vec::new();
    for spec in &args.runs {
        let (name, path) = split_name(spec);
        let run = RunDir::new(path);
        let metrics = run.test_metrics()?;
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| run.path().file_name().map_or(path.to_string(), |n| n.to_string_lossy().into()));
        entries.push(Entry { name, metrics });
    }
    for spec in &args.references {
        let (Some(name), path) = split_name(spec) else { bail!("--reference takes NAME=FILE, not {spec}") };
        let json = read_json(std::path::Path::new(path))?;
        let metrics = json.get("test").cloned().with_context(|| format!("{path} has no \"test\" object"))?;
        entries.push(Entry { name: name.into(), metrics });
    }
    let value = |e: &Entry, key: &str| e.metrics[key].as_f64().unwrap_or(f64::NAN);
    println!("| model | micro-F1 | macro-F1 | weighted-F1 | samples-F1 | Hamming loss | subset accuracy |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for e in &entries {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.3} |",
            e.name,
            value(e, "micro_f1"),
            value(e, "macro_f1"),
            value(e, "weighted_f1"),
            value(e, "samples_f1"),
            value(e, "hamming_loss"),
            value(e, "subset_accuracy")
        );
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let bars: Vec<(String, [f64; 4])> = entries
        .iter()
        .map(|e| {
            let pick = |key| value(e, key).max(0.0);
            (e.name.clone(), [pick("micro_f1"), pick("macro_f1"), pick("weighted_f1"), pick("samples_f1")])
        })
        .collect();
    plots::model_comparison(&bars, &args.out.join("models.png"), "Test F1 by model")?;
    // Genres in the first entry's order (the training split's, most frequent first).
    let genres: Vec<String> = entries[0].metrics["per_genre"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["genre"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    let per_genre: Vec<(String, Vec<f64>)> = entries
        .iter()
        .map(|e| {
            let f1 = |genre: &String| {
                e.metrics["per_genre"]
                    .as_array()
                    .and_then(|a| a.iter().find(|g| g["genre"].as_str() == Some(genre.as_str())))
                    .and_then(|g| g["f1"].as_f64())
                    .unwrap_or(0.0)
            };
            (e.name.clone(), genres.iter().map(f1).collect())
        })
        .collect();
    plots::genre_heatmap(&genres, &per_genre, &args.out.join("per_genre_f1.png"), "Test F1 per genre")?;
    eprintln!("wrote {} and {}", args.out.join("models.png").display(), args.out.join("per_genre_f1.png").display());
    Ok(())
}

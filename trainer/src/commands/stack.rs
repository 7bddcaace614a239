//! `marquee stack`: adds a lexical branch (TF-IDF words and word pairs, a logistic regression per
//! genre) to a trained bundle that reads plots, blended with the bundle's own outputs. The
//! lexical branch trains on the training split; its settings, the blend and the thresholds are
//! chosen on validation (the blend cross-fitted over folds); the test split is only scored.

use std::path::PathBuf;

use anyhow::{Context, Result};
use model_core::bundle::{bundle_dir, write_bundle_with_weights, Bundle};
use model_core::inference::Predictor;
use model_core::stacking::lexical::LEXICAL_PART;
use serde::Serialize;

use crate::device::DeviceChoice;
use crate::training::stacking::{stack, LexicalGrid, StackSettings, Trial};

/// Arguments of `marquee stack`.
#[derive(clap::Args)]
pub struct StackArgs {
    /// The bundle to add the lexical branch to (a bundle folder, or a run folder with one).
    #[arg(long)]
    bundle: PathBuf,
    /// The data set it was trained on (its split is the bundle's).
    #[arg(long)]
    data: PathBuf,
    /// The bundle folder to write (replaced atomically if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Lexicon sizes to try (terms; each term adds 21 bytes or so to the bundle).
    #[arg(long, value_delimiter = ',', default_value = "5000,10000,15000")]
    max_terms: Vec<usize>,
    /// L2 penalties of the lexical regressions to try.
    #[arg(long, value_delimiter = ',', default_value = "0.00003,0.0001,0.0003,0.001")]
    l2: Vec<f32>,
    /// A term must appear in at least this many training plots.
    #[arg(long, default_value_t = 2)]
    min_df: usize,
    /// What the lexical branch reads beside the plot: the data set's titles, years (as decade
    /// words), both, or `none`. Those it reads are optional at prediction: a movie without them
    /// is classified from its plot.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "title,year")]
    details: Vec<Detail>,
    /// L2 penalties of the blend to try (each with plain and with class-balanced losses).
    #[arg(long, value_delimiter = ',', default_value = "0.0001,0.001,0.01,0.1")]
    blend_l2: Vec<f64>,
    /// Folds of the validation split for cross-fitting the blend.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// The new bundle's name [default: the source's, with "+ lexical"].
    #[arg(long)]
    name: Option<String>,
    /// Use only the first N movies of the data set (quick checks).
    #[arg(long)]
    limit: Option<usize>,
    /// Also write every setting tried, with its validation and test F1, as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write every source's logits on the validation and test movies, their targets and
    /// folds, as JSON (for analysis outside Marquee, e.g. scripts/reference/blend_reference.py).
    #[arg(long)]
    sources_out: Option<PathBuf>,
    /// Where the bundle's model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
}

#[derive(Serialize)]
struct Report<'a> {
    source: String,
    out: &'a PathBuf,
    trials: &'a [Trial],
}

/// A movie's detail the lexical branch may read beside its plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Detail {
    /// The title.
    Title,
    /// The release year.
    Year,
    /// Neither: the plot alone.
    None,
}

/// Runs `marquee stack`.
pub fn run(args: StackArgs) -> Result<()> {
    let source = bundle_dir(&args.bundle);
    let bundle = Bundle::read_dir(&source).with_context(|| format!("{} holds no bundle", args.bundle.display()))?;
    let device = args.device.device();
    let predictor = Predictor::new(bundle, device.clone())?;
    let settings = StackSettings {
        grid: LexicalGrid {
            max_terms: args.max_terms,
            l2: args.l2,
            min_df: args.min_df,
            reads_title: args.details.contains(&Detail::Title),
            reads_year: args.details.contains(&Detail::Year),
        },
        blend_l2: args.blend_l2,
        folds: args.folds,
        limit: args.limit,
        name: args.name,
    };
    let stacked = stack(&predictor, &device, &args.data, &settings)?;
    print_trials(&stacked.trials);
    if let Some(path) = &args.sources_out {
        model_core::files::write_atomic(path, stacked.sources.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let written = write_bundle_with_weights(stacked.weights, stacked.contents, &args.out)?;
    let bytes: u64 = written.parts.values().map(|p| p.bytes).sum();
    println!(
        "wrote {} ({:.2} MB; the lexical part {:.2} MB, {} terms): validation (out-of-fold) micro-F1 {:.4}, macro-F1 {:.4}; test micro-F1 {:.4}, macro-F1 {:.4}",
        args.out.display(),
        bytes as f64 / 1e6,
        written.parts[LEXICAL_PART].bytes as f64 / 1e6,
        stacked.terms,
        stacked.validation.micro_f1,
        stacked.validation.macro_f1,
        stacked.test.micro_f1,
        stacked.test.macro_f1
    );
    if let Some(path) = &args.report {
        let report = Report { source: source.display().to_string(), out: &args.out, trials: &stacked.trials };
        let json = serde_json::to_vec_pretty(&report)?;
        model_core::files::write_atomic(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_trials(trials: &[Trial]) {
    println!("{:<62} {:<34} {:>15} {:>15}", "", "setting", "val micro/macro", "test micro/macro");
    for t in trials {
        println!(
            "{:<62} {:<34} {:>7.4}/{:.4} {:>7.4}/{:.4}{}",
            t.what,
            t.setting,
            t.validation.0,
            t.validation.1,
            t.test.0,
            t.test.1,
            if t.chosen { "  <- chosen" } else { "" }
        );
    }
}

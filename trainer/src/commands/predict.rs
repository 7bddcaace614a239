//! `marquee predict`: one movie's genres from a bundle.

use std::path::PathBuf;

use anyhow::Result;
use model_core::bundle::Bundle;
use model_core::inference::Predictor;
use model_core::stacking::lexical::{Details, YEARS};

use crate::device::DeviceChoice;

/// Arguments of `marquee predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// The bundle folder.
    #[arg(long)]
    bundle: PathBuf,
    /// The poster (JPEG, PNG or WebP).
    #[arg(long)]
    poster: Option<PathBuf>,
    /// The plot.
    #[arg(long, conflicts_with = "plot_file")]
    plot: Option<String>,
    /// A file holding the plot.
    #[arg(long)]
    plot_file: Option<PathBuf>,
    /// The title, where known (read by a bundle whose lexical branch was made with titles).
    #[arg(long)]
    title: Option<String>,
    /// The release year, where known (read by a bundle whose lexical branch was made with years).
    #[arg(long, value_parser = clap::value_parser!(u16).range(i64::from(*YEARS.start())..=i64::from(*YEARS.end())))]
    year: Option<u16>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
}

/// Runs `marquee predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    let (poster, plot) = super::read_movie(args.poster.as_deref(), args.plot.as_deref(), args.plot_file.as_deref())?;
    let details = Details { title: args.title.as_deref(), year: args.year };
    let predictor = Predictor::new(Bundle::open(&args.bundle)?, args.device.device())?;
    let (answers, route) =
        predictor.predict(poster.as_ref().map(|(b, n)| (b.as_slice(), n.as_str())), plot.as_deref(), details)?;
    if args.json {
        let out = serde_json::json!({
            "model": predictor.bundle.manifest.name,
            "route": route,
            "genres": answers,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} ({route:?})", predictor.bundle.manifest.name);
    let widest = answers.iter().map(|a| a.genre.len()).max().unwrap_or(0);
    for answer in &answers {
        let bar = "█".repeat((answer.probability * 30.0).round() as usize);
        let mark = if answer.predicted { "✔" } else { " " };
        println!(
            "{mark} {:<widest$}  {:>5.1}%  (threshold {:>4.0}%)  {bar}",
            answer.genre,
            answer.probability * 100.0,
            answer.threshold * 100.0
        );
    }
    Ok(())
}

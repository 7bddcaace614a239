//! `marquee eval`: any bundle on any data folder, on its test split or on everything.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use model_core::bundle::Bundle;
use model_core::data::{Dataset, GenreVocab, LoadOptions, Movie, PosterCheck, Split, SplitConfig};
use model_core::inference::{Predictor, Route};
use model_core::metrics::{calibration, Calibration};
use model_core::stacking::lexical::Details;
use serde::Serialize;

use crate::device::DeviceChoice;
use crate::training::examples::{prepare, Example};
use crate::training::fit::{predict_with, score, targets};

/// Which movies to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    /// The test split (by the split the bundle was trained with).
    Test,
    /// The validation split.
    Validation,
    /// Every usable movie.
    All,
}

/// Bins of the reliability table.
const CALIBRATION_BINS: usize = 10;

/// Arguments of `marquee eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The bundle folder.
    #[arg(long)]
    bundle: PathBuf,
    /// The data set folder.
    #[arg(long)]
    data: PathBuf,
    /// Which movies.
    #[arg(long, value_enum, default_value = "test")]
    split: EvalSplit,
    /// Print JSON (keys micro_f1, macro_f1, weighted_f1, samples_f1, hamming_loss,
    /// subset_accuracy, per_genre with each genre's support, precision, recall, F1 and threshold,
    /// calibration with the reliability table and the expected calibration error, ...).
    #[arg(long)]
    json: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Movies per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Also write each movie's true and predicted genres and probabilities to this CSV file.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Score the movies as if they came without title and year (a lexical branch made with
    /// them then reads the plot alone, as for a visitor who gives neither).
    #[arg(long)]
    without_details: bool,
}

#[derive(Serialize)]
struct EvalOutput<'a> {
    model: &'a str,
    data: &'a PathBuf,
    split: String,
    #[serde(flatten)]
    report: &'a model_core::metrics::MultiLabelReport,
    calibration: &'a Calibration,
    unknown_genres: Vec<String>,
    bad_rows: usize,
}

/// Runs `marquee eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let bundle = Bundle::open(&args.bundle)?;
    let split: SplitConfig =
        bundle.manifest.info.get("split").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let device = args.device.device();
    let predictor = Predictor::new(bundle, device.clone())?;
    let mut dataset = Dataset::load(&args.data, LoadOptions { strict: false, posters: PosterCheck::Exists })?;
    // Only the evaluated split's posters are decoded and its plots tokenised.
    let wanted = match args.split {
        EvalSplit::Test => Some(Split::Test),
        EvalSplit::Validation => Some(Split::Validation),
        EvalSplit::All => None,
    };
    if let Some(wanted) = wanted {
        dataset.movies = dataset.split(wanted, &split).into_iter().cloned().collect();
    }
    let genres = GenreVocab { genres: predictor.genres().to_vec() };
    let unknown: BTreeSet<String> =
        dataset.movies.iter().flat_map(|m| m.genres.iter()).filter(|g| genres.index_of(g).is_none()).cloned().collect();
    if !unknown.is_empty() {
        eprintln!(
            "genres the bundle does not know (ignored): {}",
            unknown.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let examples = prepare(&dataset, &split, &genres, predictor.text.as_ref(), predictor.image.as_ref())?;
    let selected = match args.split {
        EvalSplit::Test => examples.test,
        EvalSplit::Validation => examples.validation,
        EvalSplit::All => examples.all().cloned().collect(),
    };
    if selected.is_empty() {
        anyhow::bail!("no movies in the {:?} split of {}", args.split, args.data.display());
    }
    // A lexical blend that reads a fusion's branches gets their logits from the same pass.
    let (probabilities, _) = predict_with(
        &|batch| predictor.forward(batch),
        &selected,
        predictor.text.as_ref(),
        predictor.image.as_ref(),
        &device,
        args.batch_size,
        "evaluating",
    );
    let probabilities = blend_lexical(&predictor, &dataset, &selected, probabilities, !args.without_details);
    let report = score(&probabilities, &selected, &predictor.bundle.manifest.thresholds, &genres.genres);
    let calibration = calibration(&probabilities, &targets(&selected), CALIBRATION_BINS);
    if let Some(path) = &args.predictions {
        write_predictions(path, &dataset, &selected, &probabilities, &predictor)?;
        eprintln!("wrote {} movies' predictions to {}", selected.len(), path.display());
    }
    if args.json {
        let output = EvalOutput {
            model: &predictor.bundle.manifest.name,
            data: &args.data,
            split: format!("{:?}", args.split).to_lowercase(),
            report: &report,
            calibration: &calibration,
            unknown_genres: unknown.into_iter().collect(),
            bad_rows: dataset.bad_rows.len(),
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(());
    }
    println!(
        "{} on {} ({:?} split, {} movies)",
        predictor.bundle.manifest.name,
        args.data.display(),
        args.split,
        report.movies
    );
    println!(
        "micro-F1 {:.4}  macro-F1 {:.4}  weighted-F1 {:.4}  samples-F1 {:.4}  Hamming {:.4}  subset accuracy {:.4}",
        report.micro_f1,
        report.macro_f1,
        report.weighted_f1,
        report.samples_f1,
        report.hamming_loss,
        report.subset_accuracy
    );
    println!("\n{:<18} {:>8} {:>9} {:>7} {:>6} {:>9}", "genre", "support", "precision", "recall", "F1", "threshold");
    for g in &report.per_genre {
        let row = (g.support, g.precision, g.recall, g.f1, g.threshold);
        println!("{:<18} {:>8} {:>9.3} {:>7.3} {:>6.3} {:>9.3}", g.genre, row.0, row.1, row.2, row.3, row.4);
    }
    println!(
        "\nreliability of the probabilities (every movie and genre; expected calibration error {:.4})",
        calibration.expected_calibration_error
    );
    println!("{:<11} {:>7} {:>16} {:>10}", "probability", "pairs", "mean probability", "frequency");
    for bin in calibration.bins.iter().filter(|b| b.pairs > 0) {
        let range = format!("{:.1}-{:.1}", bin.from, bin.to);
        println!("{range:<11} {:>7} {:>16.3} {:>10.3}", bin.pairs, bin.mean_probability, bin.frequency);
    }
    Ok(())
}

/// The model's probabilities blended with the bundle's lexical branch, where it has one (each
/// movie's plot, and with `details` its title and year, found by its id).
fn blend_lexical(
    predictor: &Predictor,
    dataset: &Dataset,
    examples: &[Example],
    probabilities: Vec<f32>,
    details: bool,
) -> Vec<f32> {
    if predictor.lexical.is_none() || examples.is_empty() {
        return probabilities;
    }
    let movies: std::collections::HashMap<&str, &Movie> = dataset.movies.iter().map(|m| (m.id.as_str(), m)).collect();
    let width = probabilities.len() / examples.len().max(1);
    examples
        .iter()
        .zip(probabilities.chunks(width))
        .flat_map(|(example, row)| {
            let terms = movies.get(example.id.as_str()).and_then(|movie| {
                let given = if details { Details::from(*movie) } else { Details::default() };
                predictor.lexical_terms(&movie.overview, given)
            });
            predictor.blended(row, terms.as_deref(), Route::Full).into_owned()
        })
        .collect()
}

/// One row per movie: id, title, true genres, predicted genres, then each genre's probability.
fn write_predictions(
    path: &std::path::Path,
    dataset: &Dataset,
    examples: &[Example],
    probabilities: &[f32],
    predictor: &Predictor,
) -> Result<()> {
    let titles: std::collections::HashMap<&str, &str> =
        dataset.movies.iter().map(|m| (m.id.as_str(), m.title.as_str())).collect();
    let genres = predictor.genres();
    let thresholds = &predictor.bundle.manifest.thresholds;
    let mut csv = String::from("id,title,genres,predicted");
    genres.iter().for_each(|g| csv.push_str(&format!(",{}", quote(g))));
    csv.push('\n');
    for (example, row) in examples.iter().zip(probabilities.chunks(genres.len())) {
        let named = |keep: &dyn Fn(usize) -> bool| {
            (0..genres.len()).filter(|&i| keep(i)).map(|i| genres[i].as_str()).collect::<Vec<_>>().join("|")
        };
        let truth = named(&|i| example.target[i] > 0.5);
        let predicted = named(&|i| row[i] >= thresholds[i]);
        let title = titles.get(example.id.as_str()).copied().unwrap_or("");
        csv.push_str(&format!("{},{},{},{}", quote(&example.id), quote(title), quote(&truth), quote(&predicted)));
        row.iter().for_each(|p| csv.push_str(&format!(",{p:.6}")));
        csv.push('\n');
    }
    model_core::files::write_atomic(path, csv.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

fn quote(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

//! `marquee explain`: why a bundle gave one movie its genres (words, poster regions, sources),
//! or with `--data` the deletion test of the explanation methods on a split's movies.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use model_core::bundle::Bundle;
use model_core::data::{Dataset, LoadOptions, PosterCheck, Split, SplitConfig};
use model_core::explain::faithfulness::{deletion_test, DeletionReport, DeletionRow, DeletionSettings};
use model_core::explain::{ExplainOptions, Explainer, Explanation, PosterMethod, WordMethod};
use model_core::inference::Predictor;

use crate::device::DeviceChoice;
use crate::training::{plots, progress};

/// Arguments of `marquee explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
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
    /// Explain this genre (repeatable); by default every predicted genre.
    #[arg(long = "genre")]
    genres: Vec<String>,
    /// How words are scored: gradient, integrated-gradients or occlusion.
    #[arg(long, default_value = "occlusion")]
    words: WordMethod,
    /// How poster regions are scored: grad-cam, gradient or occlusion.
    #[arg(long, default_value = "occlusion")]
    regions: PosterMethod,
    /// Words listed per genre and direction.
    #[arg(long, default_value_t = 8)]
    top: usize,
    /// Print JSON: per genre `{genre, probability, words: [{word, start, end, score}], poster:
    /// {rows, cols, scores}, sources: {text, image, lexical}, ...}`, one object for one
    /// `--genre`, else a list.
    #[arg(long)]
    json: bool,
    /// Write `poster-<genre>.png` (the heat map over the poster) and `explanation.json` here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the deletion test on this data set's movies instead of explaining one movie.
    #[arg(long, conflicts_with_all = ["poster", "plot", "plot_file"])]
    data: Option<PathBuf>,
    /// Movies of the test split the deletion test reads (the first by id).
    #[arg(long, default_value_t = 200, requires = "data")]
    movies: usize,
    /// Where to run.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
}

/// Runs `marquee explain`.
pub fn run(args: ExplainArgs) -> Result<()> {
    let predictor = Predictor::new(Bundle::open(&args.bundle)?, args.device.device())?;
    let explainer = Explainer::new(predictor)?;
    if let Some(data) = &args.data {
        return faithfulness(&explainer, data, &args);
    }
    let (poster, plot) = super::read_movie(args.poster.as_deref(), args.plot.as_deref(), args.plot_file.as_deref())?;
    let movie = explainer.prepare(poster.as_ref().map(|(b, n)| (b.as_slice(), n.as_str())), plot.as_deref())?;
    let options = ExplainOptions {
        genres: args.genres.clone(),
        words: args.words,
        poster: args.regions,
        ..ExplainOptions::default()
    };
    let explanation = explainer.explain(&movie, &options)?;
    let reports = explanation.reports(plot.as_deref().unwrap_or(""));
    let json = match args.genres.len() {
        1 => serde_json::to_string_pretty(&reports[0])?,
        _ => serde_json::to_string_pretty(&reports)?,
    };
    if let Some(out) = &args.out {
        write_out(out, &explanation, &json, poster.as_ref().map(|(bytes, _)| bytes.as_slice()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print_table(&explanation, args.top);
    }
    Ok(())
}

/// The explanation as a table: per genre its sources and its strongest words each way.
fn print_table(explanation: &Explanation, top: usize) {
    println!(
        "{:?} route; words by {}, poster by {}",
        explanation.route, explanation.word_method, explanation.poster_method
    );
    for genre in &explanation.genres {
        let mark = if genre.predicted { "predicted" } else { "not predicted" };
        println!(
            "\n{} {:.1}% ({mark}, threshold {:.0}%), logit {:+.2}",
            genre.genre,
            genre.probability * 100.0,
            genre.threshold * 100.0,
            genre.logit
        );
        let s = genre.sources;
        let [text, image, lexical, joint] = s.shares();
        let mut line = format!(
            "  sources: text {:+.2} ({:.0}%), image {:+.2} ({:.0}%), lexical {:+.2} ({:.0}%)",
            s.text,
            text * 100.0,
            s.image,
            image * 100.0,
            s.lexical,
            lexical * 100.0
        );
        if s.joint != 0.0 {
            line += &format!(", fused {:+.2} ({:.0}%)", s.joint, joint * 100.0);
        }
        println!("{line}, bias {:+.2}", s.bias);
        if genre.words.is_empty() {
            continue;
        }
        let mut order: Vec<usize> = (0..genre.words.len()).collect();
        order.sort_by(|&a, &b| genre.words[b].total_cmp(&genre.words[a]));
        let listed = |words: &mut dyn Iterator<Item = &usize>| -> String {
            words
                .take(top)
                .map(|&w| format!("{} {:+.3}", explanation.words[w].text, genre.words[w]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("  for:     {}", listed(&mut order.iter().filter(|&&w| genre.words[w] > 0.0)));
        println!("  against: {}", listed(&mut order.iter().rev().filter(|&&w| genre.words[w] < 0.0)));
    }
}

/// `explanation.json` (what `--json` prints) and one heat map PNG per genre (where a poster was
/// read).
fn write_out(out: &Path, explanation: &Explanation, json: &str, poster: Option<&[u8]>) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("explanation.json");
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let (Some(bytes), Some(grid)) = (poster, explanation.poster_grid) else { return Ok(()) };
    let picture = image::load_from_memory(bytes).context("decoding the poster for the heat map")?.to_rgb8();
    for genre in &explanation.genres {
        let name: String =
            genre.genre.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let path = out.join(format!("poster-{name}.png"));
        let title = format!(
            "{} {:.0}%: the poster's regions ({})",
            genre.genre,
            genre.probability * 100.0,
            explanation.poster_method
        );
        plots::poster_heat_map(&picture, grid, &genre.poster, &title, &path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The deletion test on the first `--movies` test-split movies of `data`.
fn faithfulness(explainer: &Explainer, data: &Path, args: &ExplainArgs) -> Result<()> {
    let predictor = explainer.predictor();
    let split: SplitConfig = predictor
        .bundle
        .manifest
        .info
        .get("split")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let dataset = Dataset::load(data, LoadOptions { strict: false, posters: PosterCheck::Exists })?;
    let mut test = dataset.split(Split::Test, &split);
    test.sort_by(|a, b| a.id.cmp(&b.id));
    test.truncate(args.movies);
    if test.is_empty() {
        bail!("no movies in the test split of {}", data.display());
    }
    let mut movies = Vec::with_capacity(test.len());
    for movie in &test {
        let bytes = std::fs::read(&movie.poster).with_context(|| format!("reading {}", movie.poster.display()))?;
        let name = movie.poster.display().to_string();
        movies.push(explainer.prepare(Some((&bytes, &name)), Some(&movie.overview))?);
    }
    let bar = progress::bar(movies.len() as u64, "deletion test");
    let report = deletion_test(explainer, &movies, &DeletionSettings::default(), |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let path = out.join("deletion-test.json");
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &predictor.bundle.manifest.name);
    }
    Ok(())
}

/// The deletion test's tables in Markdown.
fn print_report(report: &DeletionReport, model: &str) {
    let table = |what: &str, movies: usize, rows: &[DeletionRow]| {
        println!("\n{what}: mean drop of the explained genre's probability ({movies} test movies, {model})\n");
        let counts: Vec<String> = report.counts.iter().map(|k| format!("top {k}")).collect();
        println!("| method | {} | seconds a movie |", counts.join(" | "));
        println!("|---|{}---:|", "---:|".repeat(report.counts.len()));
        for row in rows {
            let drops: Vec<String> = row.mean_drop.iter().map(|d| format!("{d:.4}")).collect();
            println!("| {} | {} | {:.3} |", row.method, drops.join(" | "), row.seconds);
        }
    };
    table("Words deleted", report.plot_movies, &report.words);
    table("Poster cells masked", report.poster_movies, &report.poster);
    println!(
        "\nintegrated gradients' completeness: |sum - change| / |change| = {:.4} mean, {:.4} median",
        report.completeness_gap, report.completeness_gap_median
    );
    println!(
        "medians: one classification {:.1} ms; one explanation of every predicted genre {:.1} ms ({:.2}x) with the \
         default methods, {:.1} ms ({:.2}x) with gradients and Grad-CAM",
        report.classify_seconds * 1e3,
        report.explain_seconds * 1e3,
        report.explain_seconds / report.classify_seconds.max(1e-9),
        report.explain_fast_seconds * 1e3,
        report.explain_fast_seconds / report.classify_seconds.max(1e-9)
    );
}

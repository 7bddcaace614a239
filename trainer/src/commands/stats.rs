//! `marquee data stats`: what a data set holds, and which of its rows cannot be used.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use model_core::data::{Dataset, LoadOptions, PosterCheck, Split, SplitConfig};
use serde::Serialize;

/// Arguments of `marquee data stats`.
#[derive(clap::Args)]
pub struct StatsArgs {
    /// The data set folder (movies.csv + posters, or MM-IMDb).
    #[arg(long)]
    data: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Fail on the first bad row instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// Only check that posters exist instead of decoding each one.
    #[arg(long)]
    quick: bool,
    /// Write each usable movie's split (the one `marquee train` uses by default) to this CSV
    /// file (`id,split`), for tools outside Marquee such as the scikit-learn baseline.
    #[arg(long)]
    write_split: Option<PathBuf>,
}

/// The JSON printed by `--json`.
#[derive(Serialize)]
struct Stats {
    data: PathBuf,
    format: model_core::data::DatasetFormat,
    movies: usize,
    num_genres: usize,
    genres: BTreeMap<String, usize>,
    labels_per_movie: LabelStats,
    splits: BTreeMap<&'static str, usize>,
    bad_rows: Vec<model_core::data::BadRow>,
    unknown_columns: Vec<String>,
}

#[derive(Serialize)]
struct LabelStats {
    mean: f64,
    min: usize,
    max: usize,
    /// Movies by number of genres: `histogram[k]` movies have `k` genres.
    histogram: Vec<usize>,
}

/// Runs `marquee data stats`.
pub fn run(args: StatsArgs) -> Result<()> {
    let posters = if args.quick { PosterCheck::Exists } else { PosterCheck::Decode };
    let dataset = Dataset::load(&args.data, LoadOptions { strict: args.strict, posters })?;
    let stats = collect(&args, &dataset);
    if let Some(path) = &args.write_split {
        let config = SplitConfig::default();
        let mut csv = String::from("id,split\n");
        for movie in &dataset.movies {
            csv.push_str(&format!("{},{}\n", movie.id, dataset.split_of(movie, &config).name()));
        }
        model_core::files::write_atomic(path, csv.as_bytes())?;
        eprintln!("wrote the split of {} movies to {}", dataset.movies.len(), path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_table(&stats);
    }
    Ok(())
}

fn collect(args: &StatsArgs, dataset: &Dataset) -> Stats {
    let labels: Vec<usize> = dataset.movies.iter().map(|m| m.genres.len()).collect();
    let max = labels.iter().copied().max().unwrap_or(0);
    let mut histogram = vec![0; max + 1];
    for &count in &labels {
        histogram[count] += 1;
    }
    let config = SplitConfig::default();
    let splits = Split::ALL.iter().map(|&s| (s.name(), dataset.split(s, &config).len())).collect();
    let genres = dataset.genre_counts();
    Stats {
        data: args.data.clone(),
        format: dataset.format,
        movies: dataset.movies.len(),
        num_genres: genres.len(),
        genres,
        labels_per_movie: LabelStats {
            mean: labels.iter().sum::<usize>() as f64 / labels.len().max(1) as f64,
            min: labels.iter().copied().min().unwrap_or(0),
            max,
            histogram,
        },
        splits,
        bad_rows: dataset.bad_rows.clone(),
        unknown_columns: dataset.unknown_columns.clone(),
    }
}

fn print_table(stats: &Stats) {
    println!("Data set   {} ({:?})", stats.data.display(), stats.format);
    println!("Movies     {} usable, {} bad rows skipped", stats.movies, stats.bad_rows.len());
    println!(
        "Splits     train {} / validation {} / test {}",
        stats.splits["train"], stats.splits["validation"], stats.splits["test"]
    );
    let labels = &stats.labels_per_movie;
    println!("Genres     {} per movie on average (min {}, max {})", fmt2(labels.mean), labels.min, labels.max);
    println!();
    println!("{} genres:", stats.num_genres);
    let mut genres: Vec<(&String, &usize)> = stats.genres.iter().collect();
    genres.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let widest = genres.iter().map(|(g, _)| g.len()).max().unwrap_or(0);
    let top = genres.first().map_or(1, |(_, c)| **c).max(1);
    for (genre, count) in genres {
        let bar = "█".repeat((count * 40).div_ceil(top));
        println!("  {genre:<widest$}  {count:>6}  {bar}");
    }
    if !stats.unknown_columns.is_empty() {
        println!("\nUnknown columns (ignored): {}", stats.unknown_columns.join(", "));
    }
    if !stats.bad_rows.is_empty() {
        println!("\nBad rows (skipped; --strict fails on them):");
        for bad in &stats.bad_rows {
            println!("  {bad}");
        }
    }
}

fn fmt2(value: f64) -> String {
    format!("{value:.2}")
}

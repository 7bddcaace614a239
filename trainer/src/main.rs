//! `marquee`: the command line over `model-core`. This file parses arguments and dispatches;
//! the work lives in `commands/`.
#![warn(clippy::undocumented_unsafe_blocks)]

mod commands;
mod device;
mod memory;
mod training;

use clap::{Parser, Subcommand};

/// Marquee tells a movie's genres from its poster and its plot.
#[derive(Parser)]
#[command(name = "marquee", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Inspect a data set.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a model and write a run folder (checkpoints, metrics, plots, bundle).
    Train(commands::train::TrainArgs),
    /// Evaluate a bundle on a data set.
    Eval(commands::eval::EvalArgs),
    /// Classify one movie with a bundle.
    Predict(commands::predict::PredictArgs),
    /// Why a bundle chose a movie's genres: its words, its poster's regions, its sources.
    Explain(commands::explain::ExplainArgs),
    /// Write a run's best model as a bundle (f32 or f16).
    Export(commands::export::ExportArgs),
    /// Add a lexical branch (TF-IDF + logistic regression) to a bundle, blended on validation.
    Stack(commands::stack::StackArgs),
    /// Grid-search a pretrained image backbone's head (dropout, lr, weight decay, freezing).
    Grid(commands::grid::GridArgs),
    /// Compare finished runs' test metrics: a Markdown table and charts.
    Compare(commands::compare::CompareArgs),
    /// Measure every model's speed and memory (optionally beside PyTorch).
    Bench(commands::bench::BenchArgs),
    /// List the registry's models: what each reads, its recipe, whether it can train now.
    Models(commands::models::ModelsArgs),
    /// List the pretrained files each model starts from, and whether they are in the cache.
    Pretrained(commands::pretrained::PretrainedArgs),
    /// Serve the page and the widget with a bundle (http://127.0.0.1:8080 by default).
    Serve(commands::serve::ServeArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Movie count, genres with counts, labels per movie, splits and bad rows.
    Stats(commands::stats::StatsArgs),
}

fn main() -> std::process::ExitCode {
    memory::keep_freed_memory();
    // Before any product and any other thread: OpenBLAS's AVX2/AVX-512 kernels where it detected
    // an older core.
    model_core::ops::product_kernel::use_fastest();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(DataCommand::Stats(args)) => commands::stats::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Stack(args) => commands::stack::run(args),
        Command::Grid(args) => commands::grid::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::Pretrained(args) => commands::pretrained::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Compare(args) => commands::compare::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

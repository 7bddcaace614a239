//! `marquee train`: a new run from the flags, or `--resume RUN` from a run folder's saved
//! settings; the run itself is [`crate::training::run::train`].

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::training::config::TrainConfig;
use crate::training::run::train;
use crate::training::run_dir::RunDir;

/// Arguments of `marquee train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Continue the killed run in this folder from its last complete checkpoint.
    #[arg(long, conflicts_with_all = ["model", "data", "out"])]
    resume: Option<PathBuf>,
    #[command(flatten)]
    config: Option<TrainConfig>,
}

/// Runs `marquee train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let (config, resume) = match (args.resume, args.config) {
        (Some(run), _) => (RunDir::new(run).config()?, true),
        (None, Some(config)) => (config, false),
        (None, None) => bail!("give --model, --data and --out, or --resume RUN_DIR"),
    };
    train(&config, resume).map(|_| ())
}

//! One module per subcommand, each a thin layer over `model-core` and `training`.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod explain;
pub mod export;
pub mod grid;
pub mod models;
pub mod predict;
pub mod pretrained;
pub mod serve;
pub mod stack;
pub mod stats;
pub mod train;

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A poster file's bytes and its name.
pub type PosterFile = (Vec<u8>, String);

/// The movie a command reads: the poster, and the plot (given, or read from `plot_file`); an
/// error naming the file that cannot be read, or when neither is given.
pub fn read_movie(
    poster: Option<&Path>,
    plot: Option<&str>,
    plot_file: Option<&Path>,
) -> Result<(Option<PosterFile>, Option<String>)> {
    let plot = match (plot, plot_file) {
        (Some(plot), _) => Some(plot.to_string()),
        (None, Some(file)) => {
            Some(std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?)
        }
        (None, None) => None,
    };
    if poster.is_none() && plot.is_none() {
        bail!("give --poster, --plot (or --plot-file), or both");
    }
    let poster = match poster {
        Some(path) => Some((
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        )),
        None => None,
    };
    Ok((poster, plot))
}

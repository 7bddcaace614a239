//! Training machinery: a run's settings and folder, the run from settings to bundle, examples and
//! batches, the loop with checkpoints and resume, the feature cache, progress bars, metric
//! history and plots, and stacking a lexical branch onto a bundle.

pub mod config;
pub mod examples;
pub mod features;
pub mod fit;
pub mod history;
pub mod plots;
pub mod progress;
pub mod rng;
pub mod run;
pub mod run_dir;
pub mod stacking;

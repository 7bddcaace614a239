//! Training machinery: examples and batches, the loop with checkpoints and resume, the feature
//! cache, progress bars, metric history and plots.

pub mod examples;
pub mod features;
pub mod fit;
pub mod history;
pub mod plots;
pub mod progress;
pub mod rng;
pub mod stacking;

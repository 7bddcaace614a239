//! Marquee's library: every architecture, the data pipeline, preprocessing, metrics and the model
//! bundle format. The trainer CLI and the browser crate are thin layers over this crate.

pub mod batch;
pub mod bundle;
pub mod data;
pub mod error;
#[cfg(feature = "train")]
pub mod explain;
pub mod files;
pub mod inference;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod preprocess;

pub use error::{Error, Result};

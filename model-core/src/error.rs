//! The one error type of `model-core`: every variant names the input it is about.

use std::path::PathBuf;

/// Everything that can go wrong while reading data, weights or bundles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data set is malformed as a whole (not a single bad row).
    #[error("data set {path}: {reason}")]
    Dataset {
        /// The data set folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image could not be decoded, or was refused.
    #[error("image {name}: {reason}")]
    Image {
        /// The file name, or a description of the bytes' origin.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tokenizer could not be loaded or could not encode a text.
    #[error("tokenizer {name}: {reason}")]
    Tokenizer {
        /// The tokenizer file or its role.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A weights file is missing, truncated, or has a wrong tensor.
    #[error("weights {file}: {reason}")]
    Weights {
        /// The weights file.
        file: String,
        /// What is wrong, naming the tensor where there is one.
        reason: String,
    },
    /// A model configuration is invalid.
    #[error("config {name}: {reason}")]
    Config {
        /// The configuration file or model name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A model bundle is missing a part, or a part is corrupt or incompatible.
    #[error("bundle {bundle}, part {part}: {reason}")]
    Bundle {
        /// The bundle's path or URL.
        bundle: String,
        /// The part at fault (manifest, a weights file, the tokenizer...).
        part: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// The result type of `model-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

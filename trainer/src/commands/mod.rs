//! One module per subcommand, each a thin layer over `model-core` and `training`.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod export;
pub mod grid;
pub mod predict;
pub mod pretrained;
pub mod serve;
pub mod stack;
pub mod stats;
pub mod train;

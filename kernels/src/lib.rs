//! Marquee's CPU kernels, on plain `f32` slices (model-core's `ops` module makes burn operations
//! of them):
//!
//! - [`math`]: vectorisable `exp`, `erf`, `tanh`, `sigmoid` and GELU with their derivatives;
//! - [`gemm`]: matrix products, through OpenBLAS where built (feature `openblas`, native builds);
//! - [`conv`]: 2-D convolutions as im2col into OpenBLAS products (feature `openblas`);
//! - [`recurrence`]: the LSTM recurrence, forward and backward through time.
//!
//! This crate is compiled with full optimisation even in the dev profile (the workspace's
//! `Cargo.toml`): its loops are written for the auto-vectoriser, which only runs from opt-level 2.

#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
pub mod conv;
pub mod gemm;
pub mod math;
pub mod recurrence;

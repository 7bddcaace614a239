//! Marquee's CPU kernels, on plain `f32` slices (model-core's `ops` module makes burn operations
//! of them):
//!
//! - [`math`]: vectorisable `exp`, `erf`, `tanh`, `sigmoid` and GELU with their derivatives;
//! - [`gemm`]: matrix products, through OpenBLAS where built (feature `openblas`, native builds),
//!   else through a packed product of Marquee's own (`packed`: SIMD128 in wasm, with fused
//!   multiply-adds under the feature `relaxed-simd`);
//! - [`product_kernel`]: which kernel runs those products, and making OpenBLAS use the processor's
//!   AVX2 or AVX-512 kernels whatever core it detected;
//! - [`conv`]: 2-D convolutions as im2col into those products (with OpenBLAS, and in wasm);
//! - [`pool`]: ReLU and 2x2 max pooling in one pass, forward and backward;
//! - [`recurrence`]: the LSTM recurrence, forward and backward through time;
//! - [`parallel`]: how all of them split their work over threads (rayon natively; web workers
//!   beside the page's thread in the threaded browser package, feature `threads`, where a
//!   fusion's two branches also run side by side).
//!
//! This crate is compiled with full optimisation even in the dev profile (the workspace's
//! `Cargo.toml`): its loops are written for the auto-vectoriser, which only runs from opt-level 2.
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
pub mod conv;
pub mod gemm;
pub mod math;
#[cfg_attr(all(feature = "openblas", not(target_arch = "wasm32"), not(test)), allow(dead_code))]
mod packed;
pub mod parallel;
pub mod pool;
pub mod product_kernel;
pub mod recurrence;

//! A packed f32 matrix product on one thread, for builds without OpenBLAS (the browser's wasm):
//! `c = op(a) x op(b) + beta c`, blocked like BLIS. Panels of `KC` rows of `b` are copied into
//! strips `NR` columns wide, blocks of `MC` rows of `a` into strips `MR` rows high, and a
//! `MR x NR` micro-kernel keeps its tile of `c` in registers over the whole panel.
//!
//! In wasm the micro-kernel is 128-bit SIMD: eight `f32x4` accumulators, a multiply and an add
//! per step, or one fused multiply-add with the feature `relaxed-simd` (`f32x4.relaxed_madd`,
//! which browsers without relaxed SIMD refuse to compile: that build is a package of its own).
//! Elsewhere it is plain Rust that the compiler vectorises.

use crate::gemm::{Dims, Operand};

/// Rows of the micro-kernel's tile.
pub(crate) const MR: usize = 4;
/// Columns of the micro-kernel's tile (two `f32x4` vectors).
pub(crate) const NR: usize = 8;
/// Rows of `b` (columns of `a`) packed at a time: a `KC x NR` strip stays in the L1 cache.
const KC: usize = 256;
/// Rows of `a` packed at a time.
const MC: usize = 128;

/// `c = op(a) x op(b) + beta c` for row-major matrices, `c` given as a pointer to its first
/// element (its rows `ldc` apart), so that threads can write disjoint rectangles of one matrix.
///
/// With `beta` 0, `c` is only written, so it may start uninitialised.
///
/// # Safety
/// `c` must be valid for reads and writes of `m` rows of `n` values `ldc` apart (initialised
/// unless `beta` is 0), and no other thread may touch those values meanwhile. `a` and `b` must
/// hold their matrices.
pub unsafe fn sgemm(dims: Dims, a: Operand<'_>, b: Operand<'_>, beta: f32, c: *mut f32, ldc: usize) {
    let Dims { m, n, k } = dims;
    let (a_t, lda, a) = (a.transposed, a.ld, a.values);
    let (b_t, ldb, b) = (b.transposed, b.ld, b.values);
    // SAFETY: row `i`'s `n` values of `c` are this call's alone (the caller's contract); read
    // as a slice only where they hold values (beta not 0, or after the first panel).
    let c_row = |i: usize, col: usize, len: usize| unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc + col), len) };
    // SAFETY: as above, written without being read.
    let write_row = |i: usize, col: usize, values: &[f32]| unsafe {
        std::ptr::copy_nonoverlapping(values.as_ptr(), c.add(i * ldc + col), values.len())
    };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            match beta {
                0.0 => write_row(i, 0, &vec![0.0; n]),
                _ => c_row(i, 0, n).iter_mut().for_each(|v| *v *= beta),
            }
        }
        return;
    }
    let a_at = |i: usize, p: usize| if a_t { a[p * lda + i] } else { a[i * lda + p] };
    let b_at = |p: usize, j: usize| if b_t { b[j * ldb + p] } else { b[p * ldb + j] };
    let strips = n.div_ceil(NR);
    let mut b_pack = vec![0.0f32; KC.min(k) * strips * NR];
    let mut a_pack = vec![0.0f32; KC.min(k) * MC.min(m).div_ceil(MR) * MR];
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        // b's panel, strip by strip: element (p, j) of strip s at [s][p][j].
        for s in 0..strips {
            let strip = &mut b_pack[s * kc * NR..(s + 1) * kc * NR];
            let cols = NR.min(n - s * NR);
            for p in 0..kc {
                let row = &mut strip[p * NR..(p + 1) * NR];
                if !b_t && cols == NR {
                    row.copy_from_slice(&b[(pc + p) * ldb + s * NR..][..NR]);
                } else {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = if j < cols { b_at(pc + p, s * NR + j) } else { 0.0 };
                    }
                }
            }
        }
        // The first panel scales `c` by beta; the next ones add to it.
        let scale = if pc == 0 { Some(beta) } else { None };
        for ic in (0..m).step_by(MC) {
            let mc = MC.min(m - ic);
            let row_strips = mc.div_ceil(MR);
            for r in 0..row_strips {
                let strip = &mut a_pack[r * kc * MR..(r + 1) * kc * MR];
                let rows = MR.min(mc - r * MR);
                for p in 0..kc {
                    for i in 0..MR {
                        strip[p * MR + i] = if i < rows { a_at(ic + r * MR + i, pc + p) } else { 0.0 };
                    }
                }
            }
            for s in 0..strips {
                let b_strip = &b_pack[s * kc * NR..(s + 1) * kc * NR];
                let cols = NR.min(n - s * NR);
                for r in 0..row_strips {
                    let a_strip = &a_pack[r * kc * MR..(r + 1) * kc * MR];
                    let rows = MR.min(mc - r * MR);
                    let tile = micro_kernel(kc, a_strip, b_strip);
                    let (row0, col0) = (ic + r * MR, s * NR);
                    for (i, tile_row) in tile.iter().enumerate().take(rows) {
                        match scale {
                            Some(0.0) => write_row(row0 + i, col0, &tile_row[..cols]),
                            Some(beta) => c_row(row0 + i, col0, cols)
                                .iter_mut()
                                .zip(tile_row)
                                .for_each(|(v, t)| *v = beta * *v + t),
                            None => c_row(row0 + i, col0, cols).iter_mut().zip(tile_row).for_each(|(v, t)| *v += t),
                        }
                    }
                }
            }
        }
    }
}

/// The `MR x NR` product of a packed strip of `a` (`kc x MR`) and one of `b` (`kc x NR`).
#[cfg(target_arch = "wasm32")]
fn micro_kernel(kc: usize, a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR, "packed strips");
    // SAFETY: the strips hold `kc` steps each (checked above); wasm has no alignment faults.
    unsafe { simd::micro_kernel(kc, a.as_ptr(), b.as_ptr()) }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    use super::{MR, NR};

    /// `c + a b`, fused into one rounding with relaxed SIMD.
    macro_rules! madd {
        ($a:expr, $b:expr, $c:expr) => {{
            #[cfg(feature = "relaxed-simd")]
            let sum = f32x4_relaxed_madd($a, $b, $c);
            #[cfg(not(feature = "relaxed-simd"))]
            let sum = f32x4_add(f32x4_mul($a, $b), $c);
            sum
        }};
    }

    /// # Safety
    /// `a` must hold `kc * MR` values and `b` `kc * NR`.
    #[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
    pub unsafe fn micro_kernel(kc: usize, a: *const f32, b: *const f32) -> [[f32; NR]; MR] {
        let zero = f32x4_splat(0.0);
        let (mut c00, mut c01, mut c10, mut c11) = (zero, zero, zero, zero);
        let (mut c20, mut c21, mut c30, mut c31) = (zero, zero, zero, zero);
        for p in 0..kc {
            let (ap, bp) = (a.add(p * MR), b.add(p * NR));
            let b0 = v128_load(bp as *const v128);
            let b1 = v128_load(bp.add(4) as *const v128);
            let a0 = v128_load32_splat(ap as *const u32);
            c00 = madd!(a0, b0, c00);
            c01 = madd!(a0, b1, c01);
            let a1 = v128_load32_splat(ap.add(1) as *const u32);
            c10 = madd!(a1, b0, c10);
            c11 = madd!(a1, b1, c11);
            let a2 = v128_load32_splat(ap.add(2) as *const u32);
            c20 = madd!(a2, b0, c20);
            c21 = madd!(a2, b1, c21);
            let a3 = v128_load32_splat(ap.add(3) as *const u32);
            c30 = madd!(a3, b0, c30);
            c31 = madd!(a3, b1, c31);
        }
        let mut tile = [[0.0f32; NR]; MR];
        for (row, (left, right)) in tile.iter_mut().zip([(c00, c01), (c10, c11), (c20, c21), (c30, c31)]) {
            v128_store(row.as_mut_ptr() as *mut v128, left);
            v128_store(row.as_mut_ptr().add(4) as *mut v128, right);
        }
        tile
    }
}

/// The `MR x NR` product of a packed strip of `a` (`kc x MR`) and one of `b` (`kc x NR`).
#[cfg(not(target_arch = "wasm32"))]
fn micro_kernel(kc: usize, a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    let mut tile = [[0.0f32; NR]; MR];
    for (a_step, b_step) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for (row, &a_i) in tile.iter_mut().zip(a_step) {
            row.iter_mut().zip(b_step).for_each(|(t, &b_j)| *t += a_i * b_j);
        }
    }
    tile
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op(a) x op(b) + beta c` element by element.
    #[allow(clippy::too_many_arguments)]
    fn naive(a_t: bool, b_t: bool, m: usize, n: usize, k: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
        let (lda, ldb) = (if a_t { m } else { k }, if b_t { k } else { n });
        for i in 0..m {
            for j in 0..n {
                let sum: f32 = (0..k)
                    .map(|p| {
                        let x = if a_t { a[p * lda + i] } else { a[i * lda + p] };
                        let y = if b_t { b[j * ldb + p] } else { b[p * ldb + j] };
                        x * y
                    })
                    .sum();
                c[i * n + j] = beta * c[i * n + j] + sum;
            }
        }
    }

    #[test]
    fn matches_the_definition_across_block_edges_transposes_and_beta() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        for (m, n, k) in [(1, 1, 1), (3, 7, 5), (4, 8, 256), (5, 9, 257), (130, 17, 300), (68, 384, 64), (2, 3, 0)] {
            for (a_t, b_t, beta) in [(false, false, 0.0), (true, false, 1.0), (false, true, 0.5), (true, true, 0.0)] {
                let a: Vec<f32> = (0..m * k).map(value).collect();
                let b: Vec<f32> = (0..k * n).map(|i| value(i + 11)).collect();
                let start: Vec<f32> = (0..m * n).map(|i| value(i + 5)).collect();
                let (mut want, mut got) = (start.clone(), start);
                naive(a_t, b_t, m, n, k, &a, &b, beta, &mut want);
                let (lda, ldb) = (if a_t { m } else { k }, if b_t { k } else { n });
                let (a, b) = (
                    Operand { values: &a, ld: lda.max(1), transposed: a_t },
                    Operand { values: &b, ld: ldb.max(1), transposed: b_t },
                );
                // SAFETY: `got` holds the `m x n` output.
                unsafe { sgemm(Dims { m, n, k }, a, b, beta, got.as_mut_ptr(), n) };
                for (w, g) in want.iter().zip(&got) {
                    assert!((w - g).abs() <= 1e-3 * (1.0 + w.abs()), "{m}x{n}x{k} {a_t} {b_t} {beta}: {w} vs {g}");
                }
            }
        }
    }
}

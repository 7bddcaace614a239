//! The LSTM recurrence as one fused operation on the CPU, forward and backward (through time),
//! on raw slices. The input projections of every step come in precomputed (one large product
//! before the recurrence); each step then runs one product with the hidden weights and the gate
//! functions in place, with no per-step tensors. Batch rows are independent, so rows run in
//! parallel bands.
//!
//! Layouts, all row-major: `projected` and `gates` `[batch, len, 4h]` (gates in the order input,
//! forget, cell candidate, output; `gates` after their activations), `hidden` and `cells`
//! `[batch, len, h]`, `w_hh` `[h, 4h]`.

use crate::gemm::{sgemm, Dims, Operand};
use crate::math::Unary;

/// The forward pass's outputs.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Hidden states `[batch, len, h]`: the layer's output.
    pub hidden: Vec<f32>,
    /// Activated gates `[batch, len, 4h]`, kept for the backward pass.
    pub gates: Vec<f32>,
    /// Cell states `[batch, len, h]`, kept for the backward pass.
    pub cells: Vec<f32>,
}

/// Rows per parallel band: two bands per thread, at least 4 rows each.
fn band(batch: usize) -> usize {
    batch.div_ceil(2 * crate::parallel::threads()).max(4)
}

/// Runs `f(first_row, rows, parts)` over bands of batch rows, each with its bands of the slices
/// in `parts` (each `[batch, ...]` with `widths[i]` values a row).
fn over_bands<F>(batch: usize, parts: Vec<(&mut [f32], usize)>, f: F)
where
    F: Fn(usize, Vec<&mut [f32]>) + Sync,
{
    let rows = band(batch);
    let mut bands: Vec<(usize, Vec<&mut [f32]>)> = (0..batch.div_ceil(rows)).map(|i| (i * rows, Vec::new())).collect();
    for (slice, width) in parts {
        for (i, chunk) in slice.chunks_mut(rows * width).enumerate() {
            bands[i].1.push(chunk);
        }
    }
    crate::parallel::for_each(&mut bands, |(first, slices)| f(*first, std::mem::take(slices)));
}

/// The recurrence from zero initial states.
pub fn forward(projected: &[f32], w_hh: &[f32], batch: usize, len: usize, h: usize) -> Forward {
    let g4 = 4 * h;
    assert_eq!(projected.len(), batch * len * g4, "projected inputs");
    assert_eq!(w_hh.len(), h * g4, "hidden weights");
    let mut gates = projected.to_vec();
    let mut hidden = vec![0.0f32; batch * len * h];
    let mut cells = vec![0.0f32; batch * len * h];
    over_bands(batch, vec![(&mut gates, len * g4), (&mut hidden, len * h), (&mut cells, len * h)], |_, mut slices| {
        let cells = slices.pop().expect("cells");
        let hidden = slices.pop().expect("hidden");
        let gates = slices.pop().expect("gates");
        let rows = hidden.len() / (len * h);
        for t in 0..len {
            if t > 0 {
                // gates[:, t] += hidden[:, t - 1] x w_hh, rows strided by a whole sequence.
                let dims = Dims { m: rows, n: g4, k: h };
                let previous = Operand::plain(&hidden[(t - 1) * h..], len * h);
                sgemm(dims, previous, Operand::plain(w_hh, g4), 1.0, &mut gates[t * g4..], len * g4);
            }
            for r in 0..rows {
                let step = &mut gates[(r * len + t) * g4..(r * len + t + 1) * g4];
                Unary::Sigmoid.apply(&mut step[..2 * h]);
                Unary::Tanh.apply(&mut step[2 * h..3 * h]);
                Unary::Sigmoid.apply(&mut step[3 * h..]);
                let at = (r * len + t) * h;
                for j in 0..h {
                    let previous = if t > 0 { cells[at - h + j] } else { 0.0 };
                    cells[at + j] = step[h + j] * previous + step[j] * step[2 * h + j];
                }
                hidden[at..at + h].copy_from_slice(&cells[at..at + h]);
                Unary::Tanh.apply(&mut hidden[at..at + h]);
                for j in 0..h {
                    hidden[at + j] *= step[3 * h + j];
                }
            }
        }
    });
    Forward { hidden, gates, cells }
}

/// The gradients of the recurrence's inputs.
#[derive(Debug, Clone)]
pub struct Backward {
    /// Of the projected inputs `[batch, len, 4h]` (the gates before their activations).
    pub projected: Vec<f32>,
    /// Of the hidden weights `[h, 4h]`.
    pub w_hh: Vec<f32>,
}

/// Backpropagation through time from the gradient of the hidden states `grad` `[batch, len, h]`.
pub fn backward(grad: &[f32], saved: &Forward, w_hh: &[f32], batch: usize, len: usize, h: usize) -> Backward {
    let g4 = 4 * h;
    assert_eq!(grad.len(), batch * len * h, "hidden-state gradient");
    let mut d_gates = vec![0.0f32; batch * len * g4];
    over_bands(batch, vec![(&mut d_gates, len * g4)], |first, mut slices| {
        let d_gates = slices.pop().expect("gate gradients");
        let rows = d_gates.len() / (len * g4);
        let mut dh_next = vec![0.0f32; rows * h];
        let mut dc_next = vec![0.0f32; rows * h];
        let mut tanh_c = vec![0.0f32; h];
        for t in (0..len).rev() {
            for r in 0..rows {
                let b = first + r;
                let at = (b * len + t) * h;
                let step = &saved.gates[(b * len + t) * g4..(b * len + t + 1) * g4];
                let (i, f, g, o) = (&step[..h], &step[h..2 * h], &step[2 * h..3 * h], &step[3 * h..]);
                tanh_c.copy_from_slice(&saved.cells[at..at + h]);
                Unary::Tanh.apply(&mut tanh_c);
                let out = &mut d_gates[(r * len + t) * g4..(r * len + t + 1) * g4];
                for j in 0..h {
                    let dh = grad[at + j] + dh_next[r * h + j];
                    let tc = tanh_c[j];
                    let dc = dc_next[r * h + j] + dh * o[j] * (1.0 - tc * tc);
                    let c_previous = if t > 0 { saved.cells[at - h + j] } else { 0.0 };
                    out[j] = dc * g[j] * i[j] * (1.0 - i[j]);
                    out[h + j] = dc * c_previous * f[j] * (1.0 - f[j]);
                    out[2 * h + j] = dc * i[j] * (1.0 - g[j] * g[j]);
                    out[3 * h + j] = dh * tc * o[j] * (1.0 - o[j]);
                    dc_next[r * h + j] = dc * f[j];
                }
            }
            // dh_next = d_gates[:, t] x w_hh^T.
            let d_step = Operand::plain(&d_gates[t * g4..], len * g4);
            sgemm(Dims { m: rows, n: h, k: g4 }, d_step, Operand::transposed(w_hh, g4), 0.0, &mut dh_next, h);
        }
    });
    // d w_hh = sum over steps of hidden[:, t - 1]^T x d_gates[:, t]: one product over every
    // (row, step) pair, the hidden states shifted by one step (zero before the first).
    let mut previous = vec![0.0f32; batch * len * h];
    for b in 0..batch {
        for t in 1..len {
            let (to, from) = ((b * len + t) * h, (b * len + t - 1) * h);
            previous[to..to + h].copy_from_slice(&saved.hidden[from..from + h]);
        }
    }
    let mut d_w_hh = vec![0.0f32; h * g4];
    let dims = Dims { m: h, n: g4, k: batch * len };
    sgemm(dims, Operand::transposed(&previous, h), Operand::plain(&d_gates, g4), 0.0, &mut d_w_hh, g4);
    Backward { projected: d_gates, w_hh: d_w_hh }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i + seed) * 2_654_435_761) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// The textbook recurrence, one row and step at a time, in f64.
    fn reference(projected: &[f32], w_hh: &[f32], batch: usize, len: usize, h: usize) -> Vec<f64> {
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut out = vec![0.0; batch * len * h];
        for b in 0..batch {
            let (mut hs, mut cs) = (vec![0.0f64; h], vec![0.0f64; h]);
            for t in 0..len {
                let z: Vec<f64> = (0..4 * h)
                    .map(|q| {
                        f64::from(projected[(b * len + t) * 4 * h + q])
                            + (0..h).map(|p| hs[p] * f64::from(w_hh[p * 4 * h + q])).sum::<f64>()
                    })
                    .collect();
                for j in 0..h {
                    cs[j] = sig(z[h + j]) * cs[j] + sig(z[j]) * z[2 * h + j].tanh();
                }
                for j in 0..h {
                    hs[j] = sig(z[3 * h + j]) * cs[j].tanh();
                    out[(b * len + t) * h + j] = hs[j];
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_textbook_recurrence() {
        let (batch, len, h) = (9, 6, 5);
        let projected = values(batch * len * 4 * h, 1);
        let w_hh = values(h * 4 * h, 2);
        let ours = forward(&projected, &w_hh, batch, len, h);
        for (x, y) in ours.hidden.iter().zip(reference(&projected, &w_hh, batch, len, h)) {
            assert!((f64::from(*x) - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (batch, len, h) = (5, 4, 3);
        let projected = values(batch * len * 4 * h, 3);
        let w_hh = values(h * 4 * h, 4);
        // Loss: a weighted sum of every hidden state.
        let weights = values(batch * len * h, 5);
        let loss = |p: &[f32], w: &[f32]| -> f64 {
            reference(p, w, batch, len, h).iter().zip(&weights).map(|(a, b)| a * f64::from(*b)).sum()
        };
        let saved = forward(&projected, &w_hh, batch, len, h);
        let grads = backward(&weights, &saved, &w_hh, batch, len, h);
        let step = 1e-3f32;
        for (which, base, analytic) in [(0, &projected, &grads.projected), (1, &w_hh, &grads.w_hh)] {
            for index in (0..base.len()).step_by(7) {
                let shifted = |delta: f32| {
                    let mut p = projected.clone();
                    let mut w = w_hh.clone();
                    if which == 0 {
                        p[index] += delta
                    } else {
                        w[index] += delta
                    }
                    loss(&p, &w)
                };
                let numeric = (shifted(step) - shifted(-step)) / (2.0 * f64::from(step));
                let got = f64::from(analytic[index]);
                assert!(
                    (got - numeric).abs() < 1e-3 * numeric.abs().max(1.0),
                    "input {which}[{index}]: {got} vs {numeric}"
                );
            }
        }
    }
}

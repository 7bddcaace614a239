//! ReLU then 2x2 max pooling with stride 2 (floor: an odd last row or column is dropped), in one
//! pass over NCHW planes, and its backward pass. burn-flex pools through a general 3-D kernel that
//! works out each window's bounds and an index per output, and ReLU is a pass of its own before
//! it: together 44% of SimpleCNN's inference time in `perf`.

/// `max(0, x)` pooled over 2x2 windows with stride 2: `x` holds `planes` planes of `height` x
/// `width`; the result `planes` planes of `height / 2` x `width / 2`. A NaN in a window is passed
/// over (burn's pooling would return it).
///
/// # Panics
/// When `x` does not hold `planes * height * width` values.
pub fn relu_max_pool_2x2(x: &[f32], planes: usize, height: usize, width: usize) -> Vec<f32> {
    assert_eq!(x.len(), planes * height * width, "pooling input");
    let (oh, ow) = (height / 2, width / 2);
    let mut out = vec![0.0f32; planes * oh * ow];
    if oh == 0 || ow == 0 {
        return out;
    }
    let mut rows: Vec<(&[f32], &mut [f32])> =
        x.chunks(height * width).flat_map(|plane| plane.chunks(2 * width).take(oh)).zip(out.chunks_mut(ow)).collect();
    crate::parallel::for_each(&mut rows, |(input, output)| {
        let (top, bottom) = input.split_at(width);
        for (j, o) in output.iter_mut().enumerate() {
            let pair = |row: &[f32]| row[2 * j].max(row[2 * j + 1]);
            *o = pair(top).max(pair(bottom)).max(0.0);
        }
    });
    out
}

/// The gradient of [`relu_max_pool_2x2`]'s input: each output's gradient goes to the first value
/// of its window (row by row) that equals the output, where the output is above zero (a window
/// at or below zero passes nothing, as ReLU would not); everything else gets zero. `output` is
/// what the forward pass returned for `x`.
///
/// # Panics
/// When the slices do not fit the shape.
pub fn relu_max_pool_2x2_backward(
    x: &[f32],
    output: &[f32],
    grad: &[f32],
    planes: usize,
    height: usize,
    width: usize,
) -> Vec<f32> {
    let (oh, ow) = (height / 2, width / 2);
    assert_eq!(x.len(), planes * height * width, "pooling input");
    assert!(output.len() == planes * oh * ow && grad.len() == output.len(), "pooling output or gradient");
    let mut dx = vec![0.0f32; x.len()];
    if oh == 0 || ow == 0 {
        return dx;
    }
    // Each output row: its two input rows, their gradient, its outputs and their gradient.
    type Row<'a> = ((&'a [f32], &'a mut [f32]), (&'a [f32], &'a [f32]));
    let mut rows: Vec<Row<'_>> = x
        .chunks(height * width)
        .zip(dx.chunks_mut(height * width))
        .flat_map(|(plane, d)| plane.chunks(2 * width).zip(d.chunks_mut(2 * width)).take(oh))
        .zip(output.chunks(ow).zip(grad.chunks(ow)))
        .collect();
    crate::parallel::for_each(&mut rows, |((input, d), (output, grad))| {
        for (j, (&out, &g)) in output.iter().zip(grad.iter()).enumerate() {
            if out <= 0.0 {
                continue;
            }
            let window = [2 * j, 2 * j + 1, width + 2 * j, width + 2 * j + 1];
            if let Some(&at) = window.iter().find(|&&at| input[at] == out) {
                d[at] += g;
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// The definition: ReLU, then each window's maximum.
    fn naive(x: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for p in 0..planes {
            for i in 0..h / 2 {
                for j in 0..w / 2 {
                    let at = |r: usize, c: usize| x[p * h * w + (2 * i + r) * w + 2 * j + c].max(0.0);
                    out.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                }
            }
        }
        out
    }

    #[test]
    fn pools_as_defined_with_odd_sizes_dropping_the_last_row_and_column() {
        for (planes, h, w) in [(3, 8, 8), (2, 7, 9), (5, 1, 4), (1, 2, 2), (4, 14, 30)] {
            let x = values(planes * h * w, 7);
            assert_eq!(relu_max_pool_2x2(&x, planes, h, w), naive(&x, planes, h, w), "{planes}x{h}x{w}");
        }
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let (planes, h, w) = (3, 6, 7);
        let x = values(planes * h * w, 3);
        let out = relu_max_pool_2x2(&x, planes, h, w);
        let grad = values(out.len(), 11);
        let dx = relu_max_pool_2x2_backward(&x, &out, &grad, planes, h, w);
        // The loss sum(grad * out); values are distinct, so a small step keeps every window's winner.
        let loss = |x: &[f32]| -> f64 {
            relu_max_pool_2x2(x, planes, h, w).iter().zip(&grad).map(|(&o, &g)| f64::from(o) * f64::from(g)).sum()
        };
        let step = 1e-3f32;
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += step;
            down[i] -= step;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(step));
            assert!((numeric - f64::from(dx[i])).abs() < 1e-3, "x[{i}]: {numeric} against {}", dx[i]);
        }
        assert!(dx.iter().filter(|&&d| d != 0.0).count() > out.len() / 3, "some gradient flows");
    }

    #[test]
    fn ties_and_non_positive_windows_follow_relu_then_max_pooling() {
        // Window 1: a tie at 2 (the first in row order gets it); window 2: all below zero.
        let x = [1.0, 2.0, -1.0, -2.0, 2.0, 0.5, -3.0, -0.5];
        let out = relu_max_pool_2x2(&x, 1, 2, 4);
        assert_eq!(out, vec![2.0, 0.0]);
        let dx = relu_max_pool_2x2_backward(&x, &out, &[1.0, 1.0], 1, 2, 4);
        assert_eq!(dx, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}

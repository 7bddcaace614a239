//! 2-D convolutions of NCHW images at inference: groups 1 as im2col into `gemm`'s products
//! (OpenBLAS natively, the packed SIMD128 product in wasm), depthwise ones directly. Natively,
//! burn-flex runs them through a channels-last copy, im2col tiles and the `gemm` crate, which
//! `perf` showed as 87% of SimpleCNN's time.

use crate::gemm::{batched_matmul, sgemm, Strided};

/// The geometry of a convolution: `[batch, channels, height, width]` images, `outputs` filters
/// of `kernel` pixels, with `stride`, zero `padding` on each side and `dilation` (all `[rows,
/// columns]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Output channels.
    pub outputs: usize,
    /// Kernel size.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    /// Dilation.
    pub dilation: [usize; 2],
}

impl Conv2dShape {
    /// The output's height and width.
    pub fn output_size(&self) -> [usize; 2] {
        let size = |input: usize, i: usize| {
            let span = self.dilation[i] * (self.kernel[i] - 1) + 1;
            (input + 2 * self.padding[i]).saturating_sub(span) / self.stride[i] + 1
        };
        [size(self.height, 0), size(self.width, 1)]
    }

    /// Rows of the im2col matrix: one per (channel, kernel row, kernel column).
    fn patch(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }
}

/// Writes the im2col matrix `[channels * kh * kw, oh * ow]` of one image.
fn im2col(image: &[f32], s: &Conv2dShape, cols: &mut [f32]) {
    let [oh, ow] = s.output_size();
    let mut row = 0;
    for c in 0..s.channels {
        let plane = &image[c * s.height * s.width..(c + 1) * s.height * s.width];
        for ki in 0..s.kernel[0] {
            for kj in 0..s.kernel[1] {
                let out = &mut cols[row * oh * ow..(row + 1) * oh * ow];
                for y in 0..oh {
                    let out_row = &mut out[y * ow..(y + 1) * ow];
                    let iy = (y * s.stride[0] + ki * s.dilation[0]) as isize - s.padding[0] as isize;
                    if iy < 0 || iy >= s.height as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let source = &plane[iy as usize * s.width..(iy as usize + 1) * s.width];
                    let offset = (kj * s.dilation[1]) as isize - s.padding[1] as isize;
                    for (x, value) in out_row.iter_mut().enumerate() {
                        let ix = (x * s.stride[1]) as isize + offset;
                        *value = if ix >= 0 && ix < s.width as isize { source[ix as usize] } else { 0.0 };
                    }
                }
                row += 1;
            }
        }
    }
}

/// `out [batch, outputs, oh, ow] = conv(x [batch, channels, h, w], weight [outputs, channels, kh,
/// kw]) + bias [outputs]`, all contiguous.
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn conv2d(x: &[f32], weight: &[f32], bias: &[f32], shape: &Conv2dShape, out: &mut [f32]) {
    let [oh, ow] = shape.output_size();
    let (patch, pixels) = (shape.patch(), oh * ow);
    let image_len = shape.channels * shape.height * shape.width;
    assert_eq!(x.len(), shape.batch * image_len, "convolution input");
    assert_eq!(weight.len(), shape.outputs * patch, "convolution weight");
    assert_eq!(bias.len(), shape.outputs, "convolution bias");
    assert_eq!(out.len(), shape.batch * shape.outputs * pixels, "convolution output");
    let with_bias = |image_out: &mut [f32]| {
        for (plane, b) in image_out.chunks_mut(pixels).zip(bias) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    };
    if shape.batch == 1 {
        // One image: its product split over every thread.
        let mut cols = vec![0.0f32; patch * pixels];
        im2col(x, shape, &mut cols);
        let lhs = Strided {
            data: weight,
            offsets: vec![0],
            rows: shape.outputs,
            cols: patch,
            row_stride: patch,
            col_stride: 1,
        };
        let rhs =
            Strided { data: &cols, offsets: vec![0], rows: patch, cols: pixels, row_stride: pixels, col_stride: 1 };
        batched_matmul(&lhs, &rhs, out);
        with_bias(out);
        return;
    }
    // Several images: one per thread at a time, each with its own im2col buffer.
    let run = |(image, image_out): &mut (&[f32], &mut [f32])| {
        let mut cols = vec![0.0f32; patch * pixels];
        im2col(image, shape, &mut cols);
        sgemm(false, false, shape.outputs, pixels, patch, weight, patch, &cols, pixels, 0.0, image_out, pixels);
        with_bias(image_out);
    };
    let mut images: Vec<_> = x.chunks(image_len).zip(out.chunks_mut(shape.outputs * pixels)).collect();
    crate::parallel::for_each(&mut images, run);
}

/// A depthwise convolution (one filter per channel, `outputs == channels`, no dilation):
/// `out [batch, channels, oh, ow]` from `x [batch, channels, h, w]`, `weight [channels, kh,
/// kw]` and `bias [channels]`. Each image plane is copied once, zero-padded and split into
/// `stride` column phases, so every kernel tap reads a contiguous run of input for a whole output
/// row (vectorised), whatever the stride; planes run in parallel.
///
/// # Panics
/// When a slice's length does not match `shape`, or `shape` is not depthwise.
pub fn depthwise_conv2d(x: &[f32], weight: &[f32], bias: &[f32], shape: &Conv2dShape, out: &mut [f32]) {
    let s = shape;
    assert!(s.outputs == s.channels && s.dilation == [1, 1], "a depthwise convolution without dilation");
    let [oh, ow] = s.output_size();
    let [kh, kw] = s.kernel;
    let plane = s.height * s.width;
    assert_eq!(x.len(), s.batch * s.channels * plane, "convolution input");
    assert_eq!(weight.len(), s.channels * kh * kw, "convolution weight");
    assert_eq!(bias.len(), s.channels, "convolution bias");
    assert_eq!(out.len(), s.batch * s.channels * oh * ow, "convolution output");
    let run = |(index, (input, output)): &mut (usize, (&[f32], &mut [f32]))| {
        let c = *index % s.channels;
        let taps = &weight[c * kh * kw..(c + 1) * kh * kw];
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide(input: &[f32], taps: &[f32], bias: f32, s: &Conv2dShape, output: &mut [f32]) {
                depthwise_plane(input, taps, bias, s, output)
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the processor supports the features `wide` was compiled for.
                return unsafe { wide(input, taps, bias[c], s, output) };
            }
        }
        depthwise_plane(input, taps, bias[c], s, output)
    };
    let mut planes: Vec<_> = x.chunks(plane).zip(out.chunks_mut(oh * ow)).enumerate().collect();
    crate::parallel::for_each(&mut planes, run);
}

/// One image plane of [`depthwise_conv2d`]: `output [oh, ow]` from `input [h, w]`, its taps
/// `[kh, kw]` and its bias. Each output row is summed in a buffer a whole number of SIMD
/// vectors wide (the padded phases are wide enough to read), so the small planes of the last
/// stages (7 or 14 pixels a row) run vectorised instead of in the loop's scalar remainder.
#[inline(always)]
fn depthwise_plane(input: &[f32], taps: &[f32], bias: f32, s: &Conv2dShape, output: &mut [f32]) {
    let [oh, ow] = s.output_size();
    let [kh, kw] = s.kernel;
    let (padded_h, padded_w) = (s.height + 2 * s.padding[0], s.width + 2 * s.padding[1]);
    let step = s.stride[1];
    let row_width = ow.next_multiple_of(8);
    let phase_w = padded_w.div_ceil(step).max((kw - 1) / step + row_width);
    // phases[p][row][q] holds padded column q * step + p of `row`.
    // Filled a row at a time without a division per value (which wasm runs slowly).
    let mut phases = vec![0.0f32; step * padded_h * phase_w];
    let pad_w = s.padding[1];
    for y in 0..s.height {
        let source = &input[y * s.width..(y + 1) * s.width];
        let row = y + s.padding[0];
        if step == 1 {
            phases[row * phase_w + pad_w..][..s.width].copy_from_slice(source);
            continue;
        }
        for p in 0..step {
            let line = &mut phases[(p * padded_h + row) * phase_w..][..phase_w];
            for (q, slot) in line.iter_mut().enumerate() {
                // Padded column q * step + p is input column q * step + p - pad_w, where it exists.
                let column = q * step + p;
                if column >= pad_w && column - pad_w < s.width {
                    *slot = source[column - pad_w];
                }
            }
        }
    }
    let mut sums = vec![0.0f32; row_width];
    for y in 0..oh {
        sums.fill(bias);
        for ki in 0..kh {
            let source_row = y * s.stride[0] + ki;
            for kj in 0..kw {
                let tap = taps[ki * kw + kj];
                let start = ((kj % step) * padded_h + source_row) * phase_w + kj / step;
                for (o, &v) in sums.iter_mut().zip(&phases[start..start + row_width]) {
                    *o += tap * v;
                }
            }
        }
        output[y * ow..(y + 1) * ow].copy_from_slice(&sums[..ow]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct definition, in f64.
    fn naive(x: &[f32], weight: &[f32], bias: &[f32], s: &Conv2dShape) -> Vec<f32> {
        let [oh, ow] = s.output_size();
        let mut out = vec![0.0; s.batch * s.outputs * oh * ow];
        for b in 0..s.batch {
            for o in 0..s.outputs {
                for y in 0..oh {
                    for xo in 0..ow {
                        let mut sum = f64::from(bias[o]);
                        for c in 0..s.channels {
                            for ki in 0..s.kernel[0] {
                                for kj in 0..s.kernel[1] {
                                    let iy = (y * s.stride[0] + ki * s.dilation[0]) as isize - s.padding[0] as isize;
                                    let ix = (xo * s.stride[1] + kj * s.dilation[1]) as isize - s.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= s.height as isize || ix >= s.width as isize {
                                        continue;
                                    }
                                    let input =
                                        x[((b * s.channels + c) * s.height + iy as usize) * s.width + ix as usize];
                                    let w = weight[((o * s.channels + c) * s.kernel[0] + ki) * s.kernel[1] + kj];
                                    sum += f64::from(input) * f64::from(w);
                                }
                            }
                        }
                        out[((b * s.outputs + o) * oh + y) * ow + xo] = sum as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn depthwise_matches_grouped_direct_definition() {
        let value = |i: usize| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0;
        for (batch, kernel, stride, padding) in [
            (2, [3, 3], [1, 1], [1, 1]),
            (1, [3, 3], [2, 2], [0, 0]),
            (3, [5, 5], [2, 2], [2, 2]),
            (1, [5, 3], [1, 2], [2, 1]),
        ] {
            let s = Conv2dShape {
                batch,
                channels: 4,
                height: 11,
                width: 9,
                outputs: 4,
                kernel,
                stride,
                padding,
                dilation: [1, 1],
            };
            let [oh, ow] = s.output_size();
            let x: Vec<f32> = (0..batch * 4 * 11 * 9).map(value).collect();
            let weight: Vec<f32> = (0..4 * kernel[0] * kernel[1]).map(|i| value(i + 3)).collect();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let mut out = vec![f32::NAN; batch * 4 * oh * ow];
            depthwise_conv2d(&x, &weight, &bias, &s, &mut out);
            // Each channel alone is a one-channel convolution.
            for b in 0..batch {
                for c in 0..4 {
                    let one = Conv2dShape { batch: 1, channels: 1, outputs: 1, ..s };
                    let plane = &x[(b * 4 + c) * 99..(b * 4 + c + 1) * 99];
                    let taps = &weight[c * kernel[0] * kernel[1]..(c + 1) * kernel[0] * kernel[1]];
                    let expected = naive(plane, taps, &bias[c..c + 1], &one);
                    let got = &out[(b * 4 + c) * oh * ow..(b * 4 + c + 1) * oh * ow];
                    for (a, e) in got.iter().zip(expected) {
                        assert!((a - e).abs() < 1e-5, "{s:?}: {a} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_the_direct_definition() {
        let value = |i: usize| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0;
        for (batch, kernel, stride, padding, dilation) in [
            (1, [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, [3, 3], [2, 2], [1, 1], [1, 1]),
            (2, [5, 3], [1, 2], [2, 0], [1, 1]),
            (1, [3, 3], [1, 1], [2, 2], [2, 2]),
            (2, [7, 7], [2, 2], [3, 3], [1, 1]),
        ] {
            let s =
                Conv2dShape { batch, channels: 3, height: 11, width: 9, outputs: 4, kernel, stride, padding, dilation };
            let [oh, ow] = s.output_size();
            let x: Vec<f32> = (0..batch * 3 * 11 * 9).map(value).collect();
            let weight: Vec<f32> = (0..4 * 3 * kernel[0] * kernel[1]).map(|i| value(i + 5)).collect();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let mut out = vec![f32::NAN; batch * 4 * oh * ow];
            conv2d(&x, &weight, &bias, &s, &mut out);
            for (a, b) in out.iter().zip(naive(&x, &weight, &bias, &s)) {
                assert!((a - b).abs() < 1e-4, "{s:?}: {a} vs {b}");
            }
        }
    }
}

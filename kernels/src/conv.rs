//! 2-D convolutions of NCHW images at inference: groups 1 as im2col into `gemm`'s products
//! (OpenBLAS natively, the packed SIMD128 product in wasm), depthwise ones directly. Natively,
//! burn-flex runs them through a channels-last copy, im2col tiles and the `gemm` crate, which
//! `perf` showed as 87% of SimpleCNN's time.

use std::mem::MaybeUninit;

use crate::gemm::{batched_matmul, sgemm, Bias, Dims, Operand, Strided};

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

/// Adds the im2col matrix `cols` of one image back into its places in `image` (each value to
/// the input pixel [`im2col`] read it from): the transpose of [`im2col`].
fn col2im(cols: &[f32], s: &Conv2dShape, image: &mut [f32]) {
    let [oh, ow] = s.output_size();
    let mut row = 0;
    for c in 0..s.channels {
        let plane = &mut image[c * s.height * s.width..(c + 1) * s.height * s.width];
        for ki in 0..s.kernel[0] {
            for kj in 0..s.kernel[1] {
                let source = &cols[row * oh * ow..(row + 1) * oh * ow];
                for y in 0..oh {
                    let iy = (y * s.stride[0] + ki * s.dilation[0]) as isize - s.padding[0] as isize;
                    if iy < 0 || iy >= s.height as isize {
                        continue;
                    }
                    let target = &mut plane[iy as usize * s.width..(iy as usize + 1) * s.width];
                    let offset = (kj * s.dilation[1]) as isize - s.padding[1] as isize;
                    for (x, &value) in source[y * ow..(y + 1) * ow].iter().enumerate() {
                        let ix = (x * s.stride[1]) as isize + offset;
                        if ix >= 0 && ix < s.width as isize {
                            target[ix as usize] += value;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// Which of a convolution's gradients a backward pass computes: the input's, the weight's, the
/// bias's (those nothing trains, e.g. the weights when an explanation asks for the pixels' share,
/// are skipped).
pub type Wanted = [bool; 3];

/// The gradients of [`conv2d`] (groups 1) from the output's gradient `grad` `[batch, outputs,
/// oh, ow]`, each where `wanted`: the input's `[batch, channels, h, w]`, the weight's `[outputs,
/// channels, kh, kw]` and the bias's `[outputs]`. Per image, `d weight += grad x cols^T` and
/// `d cols = weight^T x grad`, folded back into the input's gradient ([`col2im`]); the images are
/// split over the threads in groups, each group summing its own weight gradient, and the groups'
/// sums added at the end.
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn conv2d_backward(
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    shape: &Conv2dShape,
    wanted: Wanted,
) -> [Option<Vec<f32>>; 3] {
    let [input_wanted, weight_wanted, _] = wanted;
    let [oh, ow] = shape.output_size();
    let (patch, pixels, outputs) = (shape.patch(), oh * ow, shape.outputs);
    let image_len = shape.channels * shape.height * shape.width;
    assert_eq!(x.len(), shape.batch * image_len, "convolution input");
    assert_eq!(weight.len(), outputs * patch, "convolution weight");
    assert_eq!(grad.len(), shape.batch * outputs * pixels, "convolution output gradient");
    let mut dx = vec![0.0f32; x.len()];
    let per_group = shape.batch.div_ceil(crate::parallel::threads()).max(1);
    // Each group: its images, their gradients, their input gradients, and its weight and bias sums.
    type Group<'a> = (&'a [f32], &'a [f32], &'a mut [f32], Vec<f32>, Vec<f32>);
    let mut groups: Vec<Group<'_>> = x
        .chunks(per_group * image_len)
        .zip(grad.chunks(per_group * outputs * pixels))
        .zip(dx.chunks_mut(per_group * image_len))
        .map(|((images, grads), dxs)| (images, grads, dxs, vec![0.0f32; outputs * patch], vec![0.0f32; outputs]))
        .collect();
    crate::parallel::for_each(&mut groups, |(images, grads, dxs, d_weight, d_bias)| {
        let (mut cols, mut d_cols) = (vec![0.0f32; patch * pixels], vec![0.0f32; patch * pixels]);
        let each = images.chunks(image_len).zip(grads.chunks(outputs * pixels)).zip(dxs.chunks_mut(image_len));
        for ((image, image_grad), image_dx) in each {
            if weight_wanted {
                im2col(image, shape, &mut cols);
                let weight_dims = Dims { m: outputs, n: patch, k: pixels };
                let (g, c) = (Operand::plain(image_grad, pixels), Operand::transposed(&cols, pixels));
                sgemm(weight_dims, g, c, 1.0, d_weight, patch);
            }
            if input_wanted {
                let cols_dims = Dims { m: patch, n: pixels, k: outputs };
                let (w, g) = (Operand::transposed(weight, patch), Operand::plain(image_grad, pixels));
                sgemm(cols_dims, w, g, 0.0, &mut d_cols, pixels);
                col2im(&d_cols, shape, image_dx);
            }
            for (sum, plane) in d_bias.iter_mut().zip(image_grad.chunks(pixels)) {
                *sum += plane.iter().sum::<f32>();
            }
        }
    });
    let (mut d_weight, mut d_bias) = (vec![0.0f32; outputs * patch], vec![0.0f32; outputs]);
    for (_, _, _, group_weight, group_bias) in &groups {
        d_weight.iter_mut().zip(group_weight).for_each(|(sum, v)| *sum += v);
        d_bias.iter_mut().zip(group_bias).for_each(|(sum, v)| *sum += v);
    }
    drop(groups);
    keep_wanted([dx, d_weight, d_bias], wanted)
}

/// The gradients that are `wanted`, in order.
fn keep_wanted(gradients: [Vec<f32>; 3], wanted: Wanted) -> [Option<Vec<f32>>; 3] {
    let mut wanted = wanted.into_iter();
    gradients.map(|gradient| wanted.next().unwrap_or(false).then_some(gradient))
}

/// The gradients of [`depthwise_conv2d`] from the output's gradient `grad` `[batch, channels, oh,
/// ow]`, each where `wanted`: the input's `[batch, channels, h, w]`, the weight's `[channels, kh,
/// kw]` and the bias's `[channels]`. Planes run in groups (in parallel), each group with one
/// scratch buffer: a plane's input is zero-padded once, then for every tap one pass over the
/// output rows adds the tap's weight gradient and spreads the output gradient back over the
/// padded input's gradient, whose inside is the plane's.
///
/// # Panics
/// When a slice's length does not match `shape`, or `shape` is not depthwise.
pub fn depthwise_conv2d_backward(
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    shape: &Conv2dShape,
    wanted: Wanted,
) -> [Option<Vec<f32>>; 3] {
    let s = shape;
    assert!(s.outputs == s.channels && s.dilation == [1, 1], "a depthwise convolution without dilation");
    let [oh, ow] = s.output_size();
    let (plane, taps) = (s.height * s.width, s.kernel[0] * s.kernel[1]);
    assert_eq!(x.len(), s.batch * s.channels * plane, "convolution input");
    assert_eq!(weight.len(), s.channels * taps, "convolution weight");
    assert_eq!(grad.len(), s.batch * s.channels * oh * ow, "convolution output gradient");
    let mut dx = vec![0.0f32; x.len()];
    // Each plane's weight and bias gradients, summed over the batch at the end.
    let mut plane_sums = vec![0.0f32; s.batch * s.channels * (taps + 1)];
    // Planes in groups, eight groups per thread, as in the forward pass: a group allocates its
    // scratch once (the last stages have thousands of 7x7 planes).
    let planes = s.batch * s.channels;
    let group = planes.div_ceil(8 * crate::parallel::threads()).max(1);
    let mut groups: Vec<_> = x
        .chunks(group * plane)
        .zip(grad.chunks(group * oh * ow))
        .zip(dx.chunks_mut(group * plane).zip(plane_sums.chunks_mut(group * (taps + 1))))
        .enumerate()
        .map(|(index, ((inputs, grads), (dx, sums)))| BackwardGroup { first: index * group, inputs, grads, dx, sums })
        .collect();
    let run = |group: &mut BackwardGroup<'_>| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide(group: &mut BackwardGroup<'_>, weight: &[f32], s: &Conv2dShape, wanted: Wanted) {
                depthwise_backward_planes(group, weight, s, wanted)
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the processor supports the features `wide` was compiled for.
                return unsafe { wide(group, weight, s, wanted) };
            }
        }
        depthwise_backward_planes(group, weight, s, wanted)
    };
    crate::parallel::for_each(&mut groups, run);
    drop(groups);
    let (mut d_weight, mut d_bias) = (vec![0.0f32; s.channels * taps], vec![0.0f32; s.channels]);
    for (index, sums) in plane_sums.chunks(taps + 1).enumerate() {
        let c = index % s.channels;
        d_weight[c * taps..(c + 1) * taps].iter_mut().zip(sums).for_each(|(total, v)| *total += v);
        d_bias[c] += sums[taps];
    }
    keep_wanted([dx, d_weight, d_bias], wanted)
}

/// Consecutive planes of a depthwise convolution's backward pass: their inputs, output
/// gradients, input gradients and per-plane sums (each plane's `taps` weight gradients, then its
/// bias gradient).
struct BackwardGroup<'a> {
    /// The first plane's index (of `batch * channels`).
    first: usize,
    inputs: &'a [f32],
    grads: &'a [f32],
    dx: &'a mut [f32],
    sums: &'a mut [f32],
}

/// The planes of one [`BackwardGroup`] of [`depthwise_conv2d_backward`], one scratch buffer for
/// all of them.
#[inline(always)]
fn depthwise_backward_planes(group: &mut BackwardGroup<'_>, weight: &[f32], s: &Conv2dShape, wanted: Wanted) {
    let [input_wanted, weight_wanted, _] = wanted;
    let [oh, ow] = s.output_size();
    let [kh, kw] = s.kernel;
    let [sy, sx] = s.stride;
    let (plane, taps) = (s.height * s.width, kh * kw);
    let (padded_h, padded_w) = (s.height + 2 * s.padding[0], s.width + 2 * s.padding[1]);
    let mut padded = vec![0.0f32; padded_h * padded_w];
    let mut padded_dx = vec![0.0f32; padded_h * padded_w];
    let inside = |row: usize| (row + s.padding[0]) * padded_w + s.padding[1];
    let planes = group.inputs.chunks(plane).zip(group.grads.chunks(oh * ow));
    for (i, ((input, plane_grad), (plane_dx, sums))) in
        planes.zip(group.dx.chunks_mut(plane).zip(group.sums.chunks_mut(taps + 1))).enumerate()
    {
        let c = (group.first + i) % s.channels;
        let filter = &weight[c * taps..(c + 1) * taps];
        // The padding stays zero from plane to plane; only the inside is written. The padded
        // input serves the weight's gradient only, the padded gradient the input's only.
        if weight_wanted {
            for (row, source) in input.chunks(s.width).enumerate() {
                padded[inside(row)..inside(row) + s.width].copy_from_slice(source);
            }
        }
        if input_wanted {
            padded_dx.iter_mut().for_each(|v| *v = 0.0);
        }
        let span = (ow - 1) * sx + 1;
        for ki in 0..kh {
            for kj in 0..kw {
                let tap = filter[ki * kw + kj];
                let mut tap_grad = 0.0f32;
                for (y, g_row) in plane_grad.chunks(ow).enumerate() {
                    let start = (y * sy + ki) * padded_w + kj;
                    if weight_wanted {
                        tap_grad += strided_dot(g_row, &padded[start..start + span], sx);
                    }
                    if input_wanted {
                        let targets = &mut padded_dx[start..start + span];
                        match sx {
                            1 => targets.iter_mut().zip(g_row).for_each(|(t, &g)| *t += g * tap),
                            _ => g_row.iter().enumerate().for_each(|(x, &g)| targets[x * sx] += g * tap),
                        }
                    }
                }
                sums[ki * kw + kj] = tap_grad;
            }
        }
        sums[taps] = plane_grad.iter().sum();
        if input_wanted {
            for (row, target) in plane_dx.chunks_mut(s.width).enumerate() {
                target.copy_from_slice(&padded_dx[inside(row)..inside(row) + s.width]);
            }
        }
    }
}

/// `Σ g[x] · inputs[x · step]` in eight partial sums, so that the sum is not one chain of
/// dependent additions (and, with `step` 1, vectorises).
#[inline(always)]
fn strided_dot(g: &[f32], inputs: &[f32], step: usize) -> f32 {
    let mut lanes = [0.0f32; 8];
    let whole = g.len() / 8 * 8;
    if step == 1 {
        for (g, x) in g[..whole].chunks_exact(8).zip(inputs[..whole].chunks_exact(8)) {
            (0..8).for_each(|l| lanes[l] += g[l] * x[l]);
        }
    } else {
        for (c, g) in g[..whole].chunks_exact(8).enumerate() {
            (0..8).for_each(|l| lanes[l] += g[l] * inputs[(c * 8 + l) * step]);
        }
    }
    let tail: f32 = (whole..g.len()).map(|x| g[x] * inputs[x * step]).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `conv(x [batch, channels, h, w], weight [outputs, channels, kh, kw]) + bias [outputs]`, all
/// contiguous: a new `[batch, outputs, oh, ow]`. A 1x1 convolution (stride 1, no padding) reads
/// the images as they are (each is its own im2col matrix); the bias is added by the products.
///
/// # Panics
/// When a slice's length does not match `shape`.
pub fn conv2d(x: &[f32], weight: &[f32], bias: &[f32], shape: &Conv2dShape) -> Vec<f32> {
    let [oh, ow] = shape.output_size();
    let (patch, pixels) = (shape.patch(), oh * ow);
    let image_len = shape.channels * shape.height * shape.width;
    assert_eq!(x.len(), shape.batch * image_len, "convolution input");
    assert_eq!(weight.len(), shape.outputs * patch, "convolution weight");
    assert_eq!(bias.len(), shape.outputs, "convolution bias");
    let filters = |images: usize| Strided {
        data: weight,
        offsets: vec![0; images],
        rows: shape.outputs,
        cols: patch,
        row_stride: patch,
        col_stride: 1,
    };
    let columns =
        |data, offsets| Strided { data, offsets, rows: patch, cols: pixels, row_stride: pixels, col_stride: 1 };
    if shape.kernel == [1, 1] && shape.stride == [1, 1] && shape.padding == [0, 0] {
        let offsets = (0..shape.batch).map(|b| b * image_len).collect();
        return batched_matmul(&filters(shape.batch), &columns(x, offsets), Bias::Rows(bias));
    }
    if shape.batch == 1 {
        // One image: its product split over every thread.
        let mut cols = vec![0.0f32; patch * pixels];
        im2col(x, shape, &mut cols);
        return batched_matmul(&filters(1), &columns(&cols, vec![0]), Bias::Rows(bias));
    }
    // Several images: one per thread at a time, each with its own im2col buffer.
    let mut out = vec![0.0f32; shape.batch * shape.outputs * pixels];
    let run = |(image, image_out): &mut (&[f32], &mut [f32])| {
        let mut cols = vec![0.0f32; patch * pixels];
        im2col(image, shape, &mut cols);
        let dims = Dims { m: shape.outputs, n: pixels, k: patch };
        sgemm(dims, Operand::plain(weight, patch), Operand::plain(&cols, pixels), 0.0, image_out, pixels);
        for (plane, b) in image_out.chunks_mut(pixels).zip(bias) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    };
    let mut images: Vec<_> = x.chunks(image_len).zip(out.chunks_mut(shape.outputs * pixels)).collect();
    crate::parallel::for_each(&mut images, run);
    out
}

/// A depthwise convolution (one filter per channel, `outputs == channels`, no dilation):
/// a new `[batch, channels, oh, ow]` from `x [batch, channels, h, w]`, `weight [channels, kh,
/// kw]` and `bias [channels]`. Each image plane is copied once, zero-padded and split into
/// `stride` column phases, so every kernel tap reads a contiguous run of input for a whole output
/// row (vectorised), whatever the stride; groups of planes run in parallel.
///
/// # Panics
/// When a slice's length does not match `shape`, or `shape` is not depthwise.
pub fn depthwise_conv2d(x: &[f32], weight: &[f32], bias: &[f32], shape: &Conv2dShape) -> Vec<f32> {
    let s = shape;
    assert!(s.outputs == s.channels && s.dilation == [1, 1], "a depthwise convolution without dilation");
    let [oh, ow] = s.output_size();
    let [kh, kw] = s.kernel;
    let plane = s.height * s.width;
    assert_eq!(x.len(), s.batch * s.channels * plane, "convolution input");
    assert_eq!(weight.len(), s.channels * kh * kw, "convolution weight");
    assert_eq!(bias.len(), s.channels, "convolution bias");
    let len = s.batch * s.channels * oh * ow;
    let mut out = Vec::<f32>::with_capacity(len);
    // Planes in groups, eight groups per thread: a group allocates its scratch once (the last
    // stages have over a thousand 7x7 planes, where two allocations a plane cost as much as the
    // plane's arithmetic).
    let planes = s.batch * s.channels;
    let group = planes.div_ceil(8 * crate::parallel::threads()).max(1);
    let run = |group: &mut PlaneGroup<'_>| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide(group: &mut PlaneGroup<'_>, weight: &[f32], bias: &[f32], s: &Conv2dShape) {
                depthwise_planes(group, weight, bias, s)
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the processor supports the features `wide` was compiled for.
                return unsafe { wide(group, weight, bias, s) };
            }
        }
        depthwise_planes(group, weight, bias, s)
    };
    let mut groups: Vec<_> = x
        .chunks(group * plane)
        .zip(out.spare_capacity_mut()[..len].chunks_mut(group * oh * ow))
        .enumerate()
        .map(|(index, (inputs, outputs))| PlaneGroup { first: index * group, inputs, outputs })
        .collect();
    crate::parallel::for_each(&mut groups, run);
    // SAFETY: every plane wrote each of its `oh * ow` values (`depthwise_planes`), and the
    // planes tile the `len` values.
    unsafe { out.set_len(len) };
    out
}

/// Consecutive planes of a depthwise convolution's input and output.
struct PlaneGroup<'a> {
    /// The first plane's index (of `batch * channels`).
    first: usize,
    inputs: &'a [f32],
    outputs: &'a mut [MaybeUninit<f32>],
}

/// A group of planes of [`depthwise_conv2d`], with one scratch buffer for all of them. Each plane is
/// copied once, zero-padded and split into `stride` column phases, so every kernel tap reads a
/// contiguous run of input for a whole output row (vectorised), whatever the stride. Each output
/// row is summed sixteen or eight values at a time in registers over all the taps (the padded
/// phases are wide enough to read a whole number of SIMD vectors), so the small planes of the
/// last stages (7 or 14 pixels a row) run vectorised, and the sums are stored once.
#[inline(always)]
fn depthwise_planes(group: &mut PlaneGroup<'_>, weight: &[f32], bias: &[f32], s: &Conv2dShape) {
    let PlaneGroup { first, inputs, outputs } = group;
    let [oh, ow] = s.output_size();
    let [kh, kw] = s.kernel;
    let (padded_h, padded_w) = (s.height + 2 * s.padding[0], s.width + 2 * s.padding[1]);
    let step = s.stride[1];
    let row_width = ow.next_multiple_of(8);
    let phase_w = padded_w.div_ceil(step).max((kw - 1) / step + row_width);
    // phases[p][row][q] holds padded column q * step + p of `row`. The padding is zeroed once:
    // each plane then writes the same places, the rest stays zero.
    let mut phases = vec![0.0f32; step * padded_h * phase_w];
    // Where each tap's run of the phases starts for output (0, 0) (computed once: wasm divides
    // slowly); output row y, column x0 adds y * stride * phase_w + x0.
    let tap_starts: Vec<usize> =
        (0..kh).flat_map(|ki| (0..kw).map(move |kj| ((kj % step) * padded_h + ki) * phase_w + kj / step)).collect();
    for (i, (input, output)) in inputs.chunks(s.height * s.width).zip(outputs.chunks_mut(oh * ow)).enumerate() {
        let c = (*first + i) % s.channels;
        let taps = &weight[c * kh * kw..(c + 1) * kh * kw];
        fill_phases(input, s, phase_w, &mut phases);
        for y in 0..oh {
            // Sixteen outputs at a time (eight at the end), summed over every tap in registers.
            let row = &mut output[y * ow..(y + 1) * ow];
            let mut x0 = 0;
            while x0 < ow {
                let width = if row_width - x0 >= 16 { 16 } else { 8 };
                let run = &phases[y * s.stride[0] * phase_w + x0..];
                let sums = taps_block(width, run, taps, &tap_starts, bias[c]);
                let written = width.min(ow - x0);
                row[x0..x0 + written].iter_mut().zip(&sums).for_each(|(o, &v)| _ = o.write(v));
                x0 += written;
            }
        }
    }
}

/// Copies one plane into its zero-padded stride phases (`phases[p][row][q]` is padded column
/// `q * step + p` of `row`), leaving the padding as it is (zero). Each phase row is a strided
/// copy over the columns that exist, without a test or a division per value.
fn fill_phases(input: &[f32], s: &Conv2dShape, phase_w: usize, phases: &mut [f32]) {
    let step = s.stride[1];
    let (padded_h, pad_w) = (s.height + 2 * s.padding[0], s.padding[1]);
    for (y, source) in input.chunks(s.width).enumerate() {
        let row = y + s.padding[0];
        if step == 1 {
            phases[row * phase_w + pad_w..][..s.width].copy_from_slice(source);
            continue;
        }
        for p in 0..step {
            // Padded column q * step + p is input column q * step + p - pad_w: from the first q
            // where that is not negative, to the end of the input row.
            let first = pad_w.saturating_sub(p).div_ceil(step);
            let line = &mut phases[(p * padded_h + row) * phase_w..][..phase_w];
            let columns = source.iter().skip(first * step + p - pad_w).step_by(step);
            line[first..].iter_mut().zip(columns).for_each(|(slot, &v)| *slot = v);
        }
    }
}

/// `width` (8 or 16) outputs of a row of a depthwise plane: the bias plus every tap times its
/// run of the padded phases (`phases[tap_starts[t]..]`, see [`depthwise_planes`]), in the order
/// of the taps; in the first `width` values.
#[inline(always)]
fn taps_block(width: usize, phases: &[f32], taps: &[f32], tap_starts: &[usize], bias: f32) -> [f32; 16] {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the module was compiled for the features `simd::taps_block` uses (a browser that
    // lacks them refuses the whole module).
    return unsafe {
        match width {
            16 => simd::taps_block::<4>(phases, taps, tap_starts, bias),
            _ => simd::taps_block::<2>(phases, taps, tap_starts, bias),
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut sums = [bias; 16];
        for (&tap, &start) in taps.iter().zip(tap_starts) {
            for (o, &v) in sums[..width].iter_mut().zip(&phases[start..start + width]) {
                *o += tap * v;
            }
        }
        sums
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    /// [`super::taps_block`] for `4 * V` outputs in `V` SIMD128 accumulators (multiply-adds
    /// fused with the feature `relaxed-simd`).
    ///
    /// # Safety
    /// The module must have been compiled for its features (always, in a module a browser runs).
    #[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
    pub unsafe fn taps_block<const V: usize>(
        phases: &[f32],
        taps: &[f32],
        tap_starts: &[usize],
        bias: f32,
    ) -> [f32; 16] {
        let mut sums = [f32x4_splat(bias); V];
        for (&tap, &start) in taps.iter().zip(tap_starts) {
            let tap = f32x4_splat(tap);
            let run = &phases[start..start + 4 * V];
            for (v, sum) in sums.iter_mut().enumerate() {
                // SAFETY: `run` holds 4 * V values; wasm has no alignment faults.
                let x = unsafe { v128_load(run.as_ptr().add(4 * v) as *const v128) };
                #[cfg(feature = "relaxed-simd")]
                let next = f32x4_relaxed_madd(tap, x, *sum);
                #[cfg(not(feature = "relaxed-simd"))]
                let next = f32x4_add(f32x4_mul(tap, x), *sum);
                *sum = next;
            }
        }
        let mut out = [0.0f32; 16];
        for (v, sum) in sums.iter().enumerate() {
            // SAFETY: V is at most 4, so the vector fits in `out`.
            unsafe { v128_store(out.as_mut_ptr().add(4 * v) as *mut v128, *sum) };
        }
        out
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
            let out = depthwise_conv2d(&x, &weight, &bias, &s);
            assert_eq!(out.len(), batch * 4 * oh * ow);
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

    /// The signature of the convolutions (and of `naive`).
    type Forward = fn(&[f32], &[f32], &[f32], &Conv2dShape) -> Vec<f32>;

    /// The signature of their backward passes.
    type Backward = fn(&[f32], &[f32], &[f32], &Conv2dShape, Wanted) -> [Option<Vec<f32>>; 3];

    /// Checks `backward`'s gradients (of the input, the weight and the bias) against `forward`:
    /// asked for one gradient, it gives that one, the same as with all three, and no other; and
    /// the loss `sum(grad * forward(x, weight, bias))` is linear in each argument, so adding 1 to
    /// one value changes it by exactly that value's gradient.
    fn assert_backward(forward: Forward, backward: Backward, inputs: [&[f32]; 3], grad: &[f32], s: &Conv2dShape) {
        let [x, weight, _] = inputs;
        let gradients = backward(x, weight, grad, s, [true; 3]);
        for which in 0..3 {
            let mut wanted = [false; 3];
            wanted[which] = true;
            let alone = backward(x, weight, grad, s, wanted);
            for (i, (got, all)) in alone.iter().zip(&gradients).enumerate() {
                assert_eq!(got.as_ref(), all.as_ref().filter(|_| i == which), "{s:?}: gradient {i} alone");
            }
        }
        let loss = |changed: usize, at: usize| -> f64 {
            let mut args = inputs.map(<[f32]>::to_vec);
            if let Some(value) = args[changed].get_mut(at) {
                *value += 1.0;
            }
            forward(&args[0], &args[1], &args[2], s).iter().zip(grad).map(|(&o, &g)| f64::from(o) * f64::from(g)).sum()
        };
        let base = loss(0, usize::MAX);
        for (which, (name, got)) in ["x", "weight", "bias"].iter().zip(gradients).enumerate() {
            let got = got.as_ref().unwrap_or_else(|| panic!("{s:?}: no gradient of {name}"));
            for (i, &g) in got.iter().enumerate() {
                let expected = loss(which, i) - base;
                assert!((f64::from(g) - expected).abs() < 2e-3, "{s:?}: d {name}[{i}] {g} against {expected}");
            }
        }
    }

    #[test]
    fn the_backward_pass_is_the_definitions_adjoint() {
        let value = |i: usize| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0;
        for (batch, kernel, stride, padding, dilation) in [
            (2, [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, [3, 3], [2, 2], [1, 1], [1, 1]),
            (1, [5, 3], [1, 2], [2, 0], [2, 1]),
        ] {
            let s =
                Conv2dShape { batch, channels: 3, height: 8, width: 7, outputs: 4, kernel, stride, padding, dilation };
            let x: Vec<f32> = (0..batch * 3 * 8 * 7).map(value).collect();
            let weight: Vec<f32> = (0..4 * 3 * kernel[0] * kernel[1]).map(|i| value(i + 5)).collect();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let [oh, ow] = s.output_size();
            let grad: Vec<f32> = (0..batch * 4 * oh * ow).map(|i| value(i + 11)).collect();
            assert_backward(naive, conv2d_backward, [&x, &weight, &bias], &grad, &s);
        }
    }

    #[test]
    fn the_depthwise_backward_pass_is_the_definitions_adjoint() {
        let value = |i: usize| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0;
        // Rows of 8 and more outputs (the weight gradient's eight partial sums, at strides 1 and
        // 2), and 40 planes (groups of several planes sharing their scratch).
        for (batch, channels, width, kernel, stride, padding) in [
            (2, 3, 8, [3, 3], [1, 1], [1, 1]),
            (1, 3, 8, [5, 5], [2, 2], [2, 2]),
            (2, 3, 8, [3, 3], [2, 2], [0, 0]),
            (2, 20, 21, [3, 3], [2, 2], [1, 1]),
            (2, 20, 19, [5, 5], [1, 1], [2, 2]),
        ] {
            let s = Conv2dShape {
                batch,
                channels,
                height: 9,
                width,
                outputs: channels,
                kernel,
                stride,
                padding,
                dilation: [1, 1],
            };
            let [oh, ow] = s.output_size();
            let x: Vec<f32> = (0..batch * channels * 9 * width).map(value).collect();
            let weight: Vec<f32> = (0..channels * kernel[0] * kernel[1]).map(|i| value(i + 5)).collect();
            let bias: Vec<f32> = (0..channels).map(|i| value(i + 3)).collect();
            let grad: Vec<f32> = (0..batch * channels * oh * ow).map(|i| value(i + 11)).collect();
            assert_backward(depthwise_conv2d, depthwise_conv2d_backward, [&x, &weight, &bias], &grad, &s);
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
            // 1x1: the images read as they are.
            (1, [1, 1], [1, 1], [0, 0], [1, 1]),
            (3, [1, 1], [1, 1], [0, 0], [1, 1]),
            (2, [1, 1], [2, 2], [0, 0], [1, 1]),
        ] {
            let s =
                Conv2dShape { batch, channels: 3, height: 11, width: 9, outputs: 4, kernel, stride, padding, dilation };
            let [oh, ow] = s.output_size();
            let x: Vec<f32> = (0..batch * 3 * 11 * 9).map(value).collect();
            let weight: Vec<f32> = (0..4 * 3 * kernel[0] * kernel[1]).map(|i| value(i + 5)).collect();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let out = conv2d(&x, &weight, &bias, &s);
            assert_eq!(out.len(), batch * 4 * oh * ow);
            for (a, b) in out.iter().zip(naive(&x, &weight, &bias, &s)) {
                assert!((a - b).abs() < 1e-4, "{s:?}: {a} vs {b}");
            }
        }
    }
}

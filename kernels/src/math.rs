//! Vectorisable element-wise math for the CPU: `exp`, `erf`, `tanh`, `sigmoid` and GELU with
//! their derivatives, written branch-free over slices so the compiler turns each loop into SIMD
//! code (AVX2 + FMA where the processor has them, picked at run time; SSE2 otherwise; SIMD128 in
//! wasm). burn-flex calls scalar `libm` per element for these; the profiles of MiniLM and the
//! LSTM spent 3-28% of their time there.
//!
//! Accuracy: within 1e-6 relative error of the exact function over the range where f32 results
//! are normal, GELU within 3e-7 times `max(1, |x|)` (the tests check them against `libm`'s f64
//! functions).

/// Values a thread takes at a time when an element-wise pass is split over threads.
const CHUNK: usize = 1 << 14;

/// Applies `f` to every element of `data` in place, on every core for large slices.
fn map_in_place(data: &mut [f32], f: fn(&mut [f32])) {
    if data.len() > 2 * CHUNK && crate::parallel::threads() > 1 {
        let mut chunks: Vec<_> = data.chunks_mut(CHUNK).collect();
        crate::parallel::for_each(&mut chunks, |chunk| f(chunk));
        return;
    }
    f(data)
}

/// Writes `f(input, extra)` into `out`, on every core for large slices.
fn zip_into(input: &[f32], extra: &[f32], out: &mut [f32], f: fn(&[f32], &[f32], &mut [f32])) {
    debug_assert!(input.len() == out.len() && extra.len() == out.len());
    if out.len() > 2 * CHUNK && crate::parallel::threads() > 1 {
        let mut chunks: Vec<_> = out.chunks_mut(CHUNK).zip(input.chunks(CHUNK).zip(extra.chunks(CHUNK))).collect();
        crate::parallel::for_each(&mut chunks, |(o, (i, e))| f(i, e, o));
        return;
    }
    f(input, extra, out)
}

/// Defines `$name(&mut [f32])` (or a three-slice variant) as a loop over `$body`, compiled
/// twice on x86-64: once for AVX2 + FMA (used when the processor has them) and once for the
/// baseline.
macro_rules! simd_loop {
    ($(#[$doc:meta])* fn $name:ident(|$x:ident| $body:expr)) => {
        $(#[$doc])*
        fn $name(data: &mut [f32]) {
            #[inline(always)]
            fn body(data: &mut [f32]) {
                for v in data.iter_mut() {
                    let $x = *v;
                    *v = $body;
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide(data: &mut [f32]) {
                    body(data)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the processor supports the features `wide` was compiled for.
                    return unsafe { wide(data) };
                }
            }
            body(data)
        }
    };
    ($(#[$doc:meta])* fn $name:ident(|$x:ident, $y:ident| $body:expr)) => {
        $(#[$doc])*
        fn $name(input: &[f32], extra: &[f32], out: &mut [f32]) {
            #[inline(always)]
            fn body(input: &[f32], extra: &[f32], out: &mut [f32]) {
                for ((o, &$x), &$y) in out.iter_mut().zip(input).zip(extra) {
                    *o = $body;
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn wide(input: &[f32], extra: &[f32], out: &mut [f32]) {
                    body(input, extra, out)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the processor supports the features `wide` was compiled for.
                    return unsafe { wide(input, extra, out) };
                }
            }
            body(input, extra, out)
        }
    };
}

/// `e^x`, branch-free (Cody-Waite range reduction and a degree-6 polynomial, as in Cephes'
/// `expf`): within 2 ulp for normal results; 0 below -87.3 and infinity above 88.7.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOW: f32 = -87.336_55;
    const HIGH: f32 = 88.72283;
    let e = exp_in_range(x.clamp(LOW, HIGH));
    let e = if x < LOW { 0.0 } else { e };
    if x > HIGH {
        f32::INFINITY
    } else {
        e
    }
}

/// [`exp`] for `x` in `[-87.34, 88.72]`.
#[inline(always)]
fn exp_in_range(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // n = round(x / ln 2), by adding and removing 1.5 * 2^23; the sum's low bits hold n as an
    // integer, read without a float-to-int conversion (which would stop vectorisation).
    const MAGIC: f32 = 12_582_912.0;
    let shifted = x * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    // 2^n, split in two factors so n = 128 (x near 88.7) does not overflow the exponent field.
    // (Wrapping arithmetic: overflow checks, on in the dev profile, would stop vectorisation.)
    let half = n_int >> 1;
    let rest = n_int.wrapping_sub(half);
    let two_to = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    e * two_to(half) * two_to(rest)
}

/// `max(v, floor)` as a compare and select. `f32::max`'s NaN rule has no SIMD128 instruction, so
/// in wasm it became a call to `fmaxf` per lane; this gives the same result (a NaN `v` gives
/// `floor`, as `f32::max` does) in one vector select.
#[inline(always)]
fn at_least(v: f32, floor: f32) -> f32 {
    if v > floor {
        v
    } else {
        floor
    }
}

/// `min(v, ceiling)` as a compare and select, for the same reason as [`at_least`].
#[inline(always)]
fn at_most(v: f32, ceiling: f32) -> f32 {
    if v < ceiling {
        v
    } else {
        ceiling
    }
}

/// `tanh(x)`, branch-free: an odd polynomial for |x| < 0.625 (Cephes' `tanhf`), `1 - 2 / (e^2|x| + 1)` above.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = at_most(x.abs(), 10.0);
    let z = a * a;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_909e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328e-1;
    let small = p * z * a + a;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let t = if a < 0.625 { small } else { large };
    keep_nan(x, t.copysign(x))
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `x` where it is NaN, else `y` (the clamps above would turn a NaN into a number).
#[inline(always)]
fn keep_nan(x: f32, y: f32) -> f32 {
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `a^2` as an exact high part and a small low part (`a` split after 12 significant bits, so
/// the high part's square is exact): `e^-(a^2)` is then `e^-hi * e^-lo` without the rounding
/// of `a^2`, which would cost up to 1e-5 relative error in the tails.
#[inline(always)]
fn square_split(a: f32) -> (f32, f32) {
    let hi = f32::from_bits(a.to_bits() & 0xFFFF_F000);
    let lo = a - hi;
    (hi * hi, lo * (a + hi))
}

/// `erfc(a)` for `a >= 0` from `a` and `a^2` split by [`square_split`]: Numerical Recipes'
/// Chebyshev fit, relative error below 1.2e-7.
#[inline(always)]
fn erfc_tail(a: f32, (square_hi, square_lo): (f32, f32)) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * a);
    let p = 0.170_872_77;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_9;
    let p = p * t - 1.135_204;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_7;
    let p = p * t - 1.265_512_2;
    t * exp(-square_hi) * exp(p - square_lo)
}

/// `erf(a) / a` for `|a| < 0.5`: the Taylor series to the a^14 term (truncation below 2e-9).
#[inline(always)]
fn erf_over_x_small(a: f32) -> f32 {
    const TWO_OVER_SQRT_PI: f32 = std::f32::consts::FRAC_2_SQRT_PI;
    let z = a * a;
    // sum_k (-1)^k z^k / (k! (2k + 1)), k = 0..7, by Horner.
    let p = -1.0 / 75_600.0;
    let p = p * z + 1.0 / 9_360.0;
    let p = p * z - 1.0 / 1_320.0;
    let p = p * z + 1.0 / 216.0;
    let p = p * z - 1.0 / 42.0;
    let p = p * z + 1.0 / 10.0;
    let p = p * z - 1.0 / 3.0;
    let p = p * z + 1.0;
    TWO_OVER_SQRT_PI * p
}

/// `erf(x)`, branch-free.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = at_most(x.abs(), 10.0);
    let small = erf_over_x_small(a) * a;
    let tail = at_least(a, 0.5);
    let large = 1.0 - erfc_tail(tail, square_split(tail));
    let e = if a < 0.5 { small } else { large };
    keep_nan(x, e.copysign(x))
}

/// `Phi(x) = (1 + erf(x / sqrt 2)) / 2`, the standard normal CDF, from `erfc` alone (its fit
/// holds for every `a >= 0`; near `x = 0`, `Phi` is near 0.5, so no series is needed there),
/// accurate in both tails (the lower tail is `erfc` itself, not 1 minus a number near 1).
#[inline(always)]
pub fn normal_cdf(x: f32) -> f32 {
    let c = x.clamp(-14.0, 14.0);
    let a = (c * std::f32::consts::FRAC_1_SQRT_2).abs();
    // a^2 = x^2 / 2, split from x (halving is exact).
    let (hi, lo) = square_split(c.abs());
    let tail = 0.5 * erfc_tail(a, (0.5 * hi, 0.5 * lo));
    keep_nan(x, if c < 0.0 { tail } else { 1.0 - tail })
}

/// `erf(x)` as Eigen's (and XLA's) single-precision rational fit on `[-4, 4]` (beyond, erf is
/// ±1 in f32): `x p(x^2) / q(x^2)`, within 5e-7 absolute error, with no exponential.
#[inline(always)]
fn erf_rational(x: f32) -> f32 {
    let outside = x.abs() >= 4.0;
    let x = at_least(at_most(x, 4.0), -4.0);
    let z = x * x;
    let p = -2.726_142_3e-10;
    let p = p * z + 2.770_681_4e-8;
    let p = p * z - 2.101_024e-6;
    let p = p * z - 5.692_506_4e-5;
    let p = p * z - 7.349_906_3e-4;
    let p = p * z - 2.954_6e-3;
    let p = p * z - 1.609_603_3e-2;
    let q = -1.456_607_2e-5;
    let q = q * z - 2.133_740_6e-4;
    let q = q * z - 1.682_827e-3;
    let q = q * z - 7.373_329e-3;
    let q = q * z - 1.426_473_9e-2;
    let e = at_least(at_most(x * p / q, 1.0), -1.0);
    if outside {
        1.0f32.copysign(x)
    } else {
        e
    }
}

/// GELU, `x (1 + erf(x / sqrt 2)) / 2`, as PyTorch computes it: within 3e-7 times
/// `max(1, |x|)` (absolute: in the far negative tail, where GELU is below 1e-7, the sum
/// `1 + erf` keeps no relative accuracy, in PyTorch's formula as in this one), for a fifth of
/// the arithmetic of `x Phi(x)` through `erfc` (GELU was 8% of a classification in the browser).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    // Below -10 GELU is 0 in f32 (and -inf * 0 would be NaN).
    let y = 0.5 * at_least(x, -10.0) * (1.0 + erf_rational(x * std::f32::consts::FRAC_1_SQRT_2));
    keep_nan(x, y)
}

/// GELU's derivative, `Phi(x) + x * phi(x)`.
#[inline(always)]
pub fn gelu_derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let (hi, lo) = square_split(at_most(x.abs(), 14.0));
    normal_cdf(x) + x * INV_SQRT_2PI * exp(-0.5 * hi) * exp(-0.5 * lo)
}

simd_loop!(
    /// In place: `e^x`.
    fn exp_slice(|x| exp(x))
);
simd_loop!(
    /// `out = grad * e` from the exponential's output `e`.
    fn exp_backward_slice(|e, grad| grad * e)
);
simd_loop!(
    /// In place: `tanh`.
    fn tanh_slice(|x| tanh(x))
);
simd_loop!(
    /// In place: `sigmoid`.
    fn sigmoid_slice(|x| sigmoid(x))
);
simd_loop!(
    /// In place: GELU.
    fn gelu_slice(|x| gelu(x))
);
simd_loop!(
    /// `out = grad * gelu'(x)`.
    fn gelu_backward_slice(|x, grad| grad * gelu_derivative(x))
);
simd_loop!(
    /// `out = grad * s (1 - s)` from the sigmoid's output `s`.
    fn sigmoid_backward_slice(|s, grad| grad * s * (1.0 - s))
);
simd_loop!(
    /// `out = grad * (1 - t^2)` from tanh's output `t`.
    fn tanh_backward_slice(|t, grad| grad * (1.0 - t * t))
);

/// The element-wise functions Marquee computes itself on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unary {
    /// `e^x` (softmax's, on the CPU).
    Exp,
    /// The hyperbolic tangent.
    Tanh,
    /// The logistic function.
    Sigmoid,
    /// GELU with the exact (erf) form.
    Gelu,
    /// ReLU6, `min(max(x, 0), 6)`.
    Relu6,
}

impl Unary {
    /// Applies the function to every element, in place.
    pub fn apply(self, data: &mut [f32]) {
        let f: fn(&mut [f32]) = match self {
            Unary::Exp => exp_slice,
            Unary::Tanh => tanh_slice,
            Unary::Sigmoid => sigmoid_slice,
            Unary::Gelu => gelu_slice,
            Unary::Relu6 => relu6_slice,
        };
        map_in_place(data, f)
    }

    /// Whether the backward pass reads the function's output (else its input).
    pub fn backward_from_output(self) -> bool {
        !matches!(self, Unary::Gelu)
    }

    /// Writes `grad * f'(x)` into `out`, from `saved`: the output for `Exp`, `Tanh`, `Sigmoid`
    /// and `Relu6`, the input for `Gelu` (see [`Unary::backward_from_output`]).
    pub fn backward(self, saved: &[f32], grad: &[f32], out: &mut [f32]) {
        let f: fn(&[f32], &[f32], &mut [f32]) = match self {
            Unary::Exp => exp_backward_slice,
            Unary::Tanh => tanh_backward_slice,
            Unary::Sigmoid => sigmoid_backward_slice,
            Unary::Gelu => gelu_backward_slice,
            Unary::Relu6 => relu6_backward_slice,
        };
        zip_into(saved, grad, out, f)
    }
}

simd_loop!(
    /// In place: ReLU6 (NaN stays NaN).
    fn relu6_slice(|x| x.clamp(0.0, 6.0))
);
simd_loop!(
    /// `out = grad` where ReLU6's output `y` is strictly inside (0, 6), else 0.
    fn relu6_backward_slice(|y, grad| if y > 0.0 && y < 6.0 { grad } else { 0.0 })
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs spread over `[lo, hi]`, with zero, tiny values and the ends.
    fn grid(lo: f64, hi: f64, n: usize) -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=n).map(|i| (lo + (hi - lo) * i as f64 / n as f64) as f32).collect();
        xs.extend([0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 0.625, -0.625, 0.49999997, 0.50000006]);
        xs
    }

    /// The largest relative error of `slice_fn` against the f64 function `exact` over `xs`.
    fn worst(xs: &[f32], slice_fn: impl Fn(&mut [f32]), exact: impl Fn(f64) -> f64) -> (f64, f32) {
        let mut out = xs.to_vec();
        slice_fn(&mut out);
        xs.iter()
            .zip(&out)
            .map(|(&x, &y)| {
                let truth = exact(f64::from(x));
                let error = (f64::from(y) - truth).abs() / truth.abs().max(f64::from(f32::MIN_POSITIVE));
                (error, x)
            })
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
    }

    #[test]
    fn exp_is_within_1e6_relative() {
        let (error, at) = worst(&grid(-87.0, 88.0, 200_000), |d| d.iter_mut().for_each(|v| *v = exp(*v)), f64::exp);
        assert!(error < 1e-6, "exp: {error:e} at {at}");
        let mut extremes = vec![-1000.0, -88.0, 89.0, 1000.0, f32::NEG_INFINITY];
        extremes.iter_mut().for_each(|v| *v = exp(*v));
        assert_eq!(extremes, vec![0.0, 0.0, f32::INFINITY, f32::INFINITY, 0.0]);
        let mut nan = [f32::NAN];
        nan.iter_mut().for_each(|v| *v = exp(*v));
        assert!(nan[0].is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_are_within_1e6_relative() {
        let xs = grid(-30.0, 30.0, 200_000);
        let (error, at) = worst(&xs, |d| Unary::Tanh.apply(d), f64::tanh);
        assert!(error < 1e-6, "tanh: {error:e} at {at}");
        // Sigmoid over the range where its value is a normal f32.
        let xs = grid(-80.0, 40.0, 200_000);
        let (error, at) = worst(&xs, |d| Unary::Sigmoid.apply(d), |x| 1.0 / (1.0 + (-x).exp()));
        assert!(error < 1e-6, "sigmoid: {error:e} at {at}");
        let mut extremes = vec![f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30];
        Unary::Sigmoid.apply(&mut extremes);
        assert_eq!(&extremes[..2], &[1.0, 0.0]);
        let mut extremes = vec![f32::INFINITY, f32::NEG_INFINITY];
        Unary::Tanh.apply(&mut extremes);
        assert_eq!(extremes, vec![1.0, -1.0]);
    }

    #[test]
    fn erf_within_1e6_relative_and_gelu_within_3e7_of_max_1_x() {
        let mut xs = grid(-6.0, 6.0, 200_000);
        let mut out = xs.clone();
        out.iter_mut().for_each(|v| *v = erf(*v));
        for (&x, &y) in xs.iter().zip(&out) {
            let truth = libm::erf(f64::from(x));
            let error = (f64::from(y) - truth).abs() / truth.abs().max(f64::from(f32::MIN_POSITIVE));
            assert!(error < 1e-6, "erf({x}): {y} against {truth} ({error:e})");
        }
        // GELU, within 3e-7 of max(1, |x|) (absolute in the negative tail, as PyTorch's).
        xs.extend(grid(-30.0, 30.0, 10_000));
        let mut gelu = xs.clone();
        Unary::Gelu.apply(&mut gelu);
        for (&x, &y) in xs.iter().zip(&gelu) {
            let x64 = f64::from(x);
            let truth = 0.5 * x64 * libm::erfc(-x64 / std::f64::consts::SQRT_2);
            let error = (f64::from(y) - truth).abs() / x64.abs().max(1.0);
            assert!(error < 3e-7, "gelu({x}): {y} against {truth} ({error:e})");
        }
        let mut extremes = vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -1e30];
        Unary::Gelu.apply(&mut extremes);
        assert_eq!(&extremes[..2], &[f32::INFINITY, 0.0]);
        assert!(extremes[2].is_nan() && extremes[3] == 0.0);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let xs: Vec<f32> = (-60..=60).map(|i| i as f32 * 0.1).collect();
        for unary in [Unary::Exp, Unary::Tanh, Unary::Sigmoid, Unary::Gelu, Unary::Relu6] {
            let exact = |x: f64| -> f64 {
                match unary {
                    Unary::Exp => x.exp(),
                    Unary::Tanh => x.tanh(),
                    Unary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                    Unary::Gelu => 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2),
                    Unary::Relu6 => x.clamp(0.0, 6.0),
                }
            };
            let mut outputs = xs.clone();
            unary.apply(&mut outputs);
            let saved = if unary.backward_from_output() { &outputs } else { &xs };
            let grad = vec![1.0f32; xs.len()];
            let mut derivative = vec![0.0f32; xs.len()];
            unary.backward(saved, &grad, &mut derivative);
            for (&x, &d) in xs.iter().zip(&derivative) {
                if unary == Unary::Relu6 && (x.abs() < 1e-3 || (x - 6.0).abs() < 1e-3) {
                    continue; // ReLU6's kinks have no derivative
                }
                let h = 1e-4;
                let x = f64::from(x);
                let numeric = (exact(x + h) - exact(x - h)) / (2.0 * h);
                let tolerance = 1e-5 * numeric.abs().max(1.0);
                assert!((f64::from(d) - numeric).abs() < tolerance, "{unary:?}'({x}) = {d}, numerically {numeric}");
            }
        }
    }

    #[test]
    fn large_slices_run_in_parallel_chunks_with_the_same_result() {
        let xs: Vec<f32> = (0..100_000).map(|i| (i as f32 * 0.001) - 50.0).collect();
        let mut whole = xs.clone();
        Unary::Gelu.apply(&mut whole);
        for (x, y) in xs.iter().zip(&whole) {
            assert_eq!(*y, gelu(*x));
        }
    }
}

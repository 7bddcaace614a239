//! Marquee's own CPU operations, added to burn's `flex` backend through burn's backend
//! extension (`#[backend_extension]`), each with its backward pass for training:
//!
//! - [`matmul`] and [`linear`]: matrix products through OpenBLAS's `sgemm` (feature
//!   `openblas`, native builds), Marquee's packed SIMD128 product in wasm, the `gemm` crate
//!   otherwise, reading transposed and strided views (attention heads) in place;
//! - [`gelu`], [`sigmoid`], [`tanh`], [`relu6`] and [`softmax`]'s exponentials: vectorised
//!   element-wise functions (`kernels::math`) in place of burn-flex's scalar `libm` calls;
//! - [`conv2d`] and [`conv2d_batch_norm`]: 1x1 convolutions as matrix products, the others as
//!   im2col into those products, depthwise ones directly, each with a backward pass, and
//!   BatchNorm folded into the convolution before it at inference;
//! - [`relu_max_pool2d`]: ReLU and a 2x2 max pooling with stride 2 in one pass, with its
//!   backward (`kernels::pool`), in place of burn-flex's ReLU pass and general pooling;
//! - [`lstm`]: an LSTM layer as one product for every step's input projections and one fused
//!   recurrence (`kernels::recurrence`) with its own backward pass through time.
//!
//! On other backends (wgpu, CUDA) every function here is burn's own operation, so model code
//! calls these everywhere.

mod extension;

use burn::backend::Dispatch;
use burn::module::Param;
use burn::nn::activation::Activation;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, BiLstm, Linear, Lstm, PaddingConfig2d};
use burn::tensor::DType;
use burn::tensor::{Device, Tensor};

use extension::CpuOps;
pub use kernels::math::Unary;
pub use kernels::product_kernel;

/// Whether `tensor` lives on the CPU backend (with or without autodiff), where Marquee's kernels run.
fn on_cpu<const D: usize>(tensor: &Tensor<D>) -> bool {
    tensor.device() == Device::flex()
}

/// The batched matrix product `lhs x rhs` of two tensors of the same rank with the same batch
/// dimensions (`[.., m, k] x [.., k, n]`); other shapes go to burn's broadcasting `matmul`.
pub fn matmul<const D: usize>(lhs: Tensor<D>, rhs: Tensor<D>) -> Tensor<D> {
    let (l, r) = (lhs.dims(), rhs.dims());
    if !on_cpu(&lhs) || D < 2 || l[..D - 2] != r[..D - 2] {
        return lhs.matmul(rhs);
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_matmul(lhs.into_dispatch(), rhs.into_dispatch()))
}

/// `x W + b` of a burn [`Linear`] layer over the last dimension of `x`, as one 2-D product
/// `[rows, d_in] x [d_in, d_out]` (burn's `Linear` gives the same result).
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    if !on_cpu(&x) || D < 2 {
        return layer.forward(x);
    }
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let weight = layer.weight.val();
    let d_out = weight.dims()[1];
    let x = x.reshape([rows, d_in]);
    let product = match &layer.bias {
        // At inference the product adds the bias itself (no pass of its own).
        Some(bias) if !x.device().is_autodiff() => Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_linear(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.val().into_dispatch(),
        )),
        Some(bias) => matmul(x, weight) + bias.val().unsqueeze::<2>(),
        None => matmul(x, weight),
    };
    let mut out = dims;
    out[D - 1] = d_out;
    product.reshape(out)
}

fn unary<const D: usize>(x: Tensor<D>, op: Unary) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_unary(x.into_dispatch(), op))
}

/// GELU (the exact, erf form).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match on_cpu(&x) {
        true => unary(x, Unary::Gelu),
        false => burn::tensor::activation::gelu(x),
    }
}

/// The logistic sigmoid.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match on_cpu(&x) {
        true => unary(x, Unary::Sigmoid),
        false => burn::tensor::activation::sigmoid(x),
    }
}

/// ReLU6, `min(max(x, 0), 6)`.
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match on_cpu(&x) {
        true => unary(x, Unary::Relu6),
        false => burn::tensor::activation::relu6(x),
    }
}

/// Softmax over dimension `dim`: on the CPU with the vectorised `exp` (`kernels::math`), not
/// burn-flex's scalar `expf` per element (7 ms of a fused classification in the browser).
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    if !on_cpu(&x) {
        return burn::tensor::activation::softmax(x, dim);
    }
    let shifted = x.clone() - x.max_dim(dim);
    let exponentials = unary(shifted, Unary::Exp);
    exponentials.clone() / exponentials.sum_dim(dim)
}

/// The hyperbolic tangent.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    match on_cpu(&x) {
        true => unary(x, Unary::Tanh),
        false => x.tanh(),
    }
}

/// Whether `conv` is a plain 1x1 convolution: one pixel in, one out, no padding, no groups.
fn pointwise(conv: &Conv2d) -> bool {
    conv.kernel_size == [1, 1]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && symmetric_padding(&conv.padding) == Some([0, 0])
}

/// A burn [`Conv2d`] over `x` `[batch, in, h, w]`. On the CPU a 1x1 convolution runs as one
/// matrix product per image (`[out, in] x [in, h * w]`, OpenBLAS or the packed wasm product; at
/// inference the product adds the bias), any other ungrouped one as im2col into those products
/// instead of burn-flex's channels-last copy, im2col tiles and `gemm`, and a depthwise one with
/// contiguous taps whatever its stride; in training each with its own backward pass (the
/// products again and the transpose of im2col; the depthwise one plane by plane).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !on_cpu(&x) || x.dtype() != DType::F32 {
        return conv.forward(x);
    }
    let [batch, channels, height, width] = x.dims();
    let outputs = conv.weight.dims()[0];
    if pointwise(conv) && x.device().is_autodiff() {
        let weight = conv.weight.val().reshape([1, outputs, channels]).expand([batch, outputs, channels]);
        let product = matmul(weight, x.reshape([batch, channels, height * width]));
        let product = match &conv.bias {
            Some(bias) => product + bias.val().reshape([1, outputs, 1]),
            None => product,
        };
        return product.reshape([batch, outputs, height, width]);
    }
    match symmetric_padding(&conv.padding) {
        Some([pad_h, pad_w]) if conv.groups == 1 || (conv.groups == channels && outputs == channels) => {
            let bias = match &conv.bias {
                Some(bias) => bias.val(),
                None => Tensor::zeros([outputs], &x.device()),
            };
            let [stride_h, stride_w] = conv.stride;
            let [dilation_h, dilation_w] = conv.dilation;
            let geometry = [stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, conv.groups];
            Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_conv2d(
                x.into_dispatch(),
                conv.weight.val().into_dispatch(),
                bias.into_dispatch(),
                geometry,
            ))
        }
        _ => conv.forward(x),
    }
}

/// The zero padding `[rows, columns]` on each side, where both sides of each axis get the same.
fn symmetric_padding(padding: &PaddingConfig2d) -> Option<[usize; 2]> {
    match *padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => Some([top, left]),
        _ => None,
    }
}

/// `bn(conv(x))`. At inference (BatchNorm on its running statistics) the normalisation is
/// folded into the convolution's weights and bias (`w * s`, `(b - mean) * s + beta` with
/// `s = gamma / sqrt(var + eps)`): one pass over the activations instead of two.
pub fn conv2d_batch_norm(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    // Folding computes new weights from the old: only where neither they nor BatchNorm train.
    let training = x.device().is_autodiff() && (bn.training.is_enabled() || conv.weight.is_require_grad());
    if training || !on_cpu(&x) {
        return bn.forward(conv2d(conv, x));
    }
    let outputs = conv.weight.dims()[0];
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([outputs], &scale.device()),
    };
    let mut folded = conv.clone();
    folded.bias = Some(Param::from_tensor((bias - bn.running_mean.value()) * scale.clone() + bn.beta.val()));
    folded.weight = Param::from_tensor(conv.weight.val() * scale.reshape([outputs, 1, 1, 1]));
    conv2d(&folded, x)
}

/// `pool(relu(x))` for a burn [`MaxPool2d`] over `x` `[batch, channels, h, w]`. On the CPU in
/// f32 a 2x2 pooling with stride 2 (no padding, floor) runs as one pass with its own backward
/// (`kernels::pool`); any other is burn's ReLU, then its pooling.
pub fn relu_max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let halving = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && symmetric_padding(&pool.padding) == Some([0, 0]);
    if !halving || !on_cpu(&x) || x.dtype() != DType::F32 {
        return pool.forward(burn::tensor::activation::relu(x));
    }
    Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_relu_max_pool(x.into_dispatch()))
}

/// Whether `layer` is the plain LSTM the fused kernel computes: batch first, sigmoid gates,
/// tanh cell and output, a forget gate, no clipping.
fn plain_lstm(layer: &Lstm) -> bool {
    layer.batch_first
        && layer.clip.is_none()
        && !layer.input_forget
        && layer.forget_gate.is_some()
        && matches!(layer.gate_activation, Activation::Sigmoid(_))
        && matches!(layer.cell_activation, Activation::Tanh(_))
        && matches!(layer.hidden_activation, Activation::Tanh(_))
}

/// Whether the fused LSTM kernel runs for `x`.
fn fused_lstm(x: &Tensor<3>, layers: &[&Lstm]) -> bool {
    on_cpu(x) && x.dtype() == DType::F32 && layers.iter().all(|l| plain_lstm(l))
}

/// The hidden states `[batch, len, h]` of a burn [`Lstm`] layer over `x` `[batch, len, d_in]`
/// from zero initial states (burn's `Lstm::forward` gives the same result): the input
/// projections of every step as one product, then the fused recurrence.
pub fn lstm(layer: &Lstm, x: Tensor<3>) -> Tensor<3> {
    match (fused_lstm(&x, &[layer]), layer.reverse) {
        (false, _) => layer.forward(x, None).0,
        (true, false) => lstm_forwards(layer, x),
        (true, true) => lstm_forwards(layer, x.flip([1])).flip([1]),
    }
}

/// A burn [`BiLstm`] layer's outputs `[batch, len, 2h]` (both directions, concatenated) from
/// zero initial states, as burn's `BiLstm::forward` computes them.
pub fn bilstm(layer: &BiLstm, x: Tensor<3>) -> Tensor<3> {
    if !layer.batch_first || !fused_lstm(&x, &[&layer.forward, &layer.reverse]) {
        return layer.forward(x, None).0;
    }
    let backwards = lstm_forwards(&layer.reverse, x.clone().flip([1])).flip([1]);
    Tensor::cat(vec![lstm_forwards(&layer.forward, x), backwards], 2)
}

/// [`lstm`] reading `x` from its first step to its last, whatever `layer.reverse` says.
fn lstm_forwards(layer: &Lstm, x: Tensor<3>) -> Tensor<3> {
    let forget = layer.forget_gate.as_ref().expect("checked by plain_lstm");
    let gates = [&layer.input_gate, forget, &layer.cell_gate, &layer.output_gate];
    let w_ih = Tensor::cat(gates.iter().map(|g| g.input_transform.weight.val()).collect(), 1);
    let w_hh = Tensor::cat(gates.iter().map(|g| g.hidden_transform.weight.val()).collect(), 1);
    let [batch, len, d_in] = x.dims();
    let projected = matmul(x.reshape([batch * len, d_in]), w_ih);
    // Each gate's two biases, summed, on its quarter of the 4h columns.
    let bias = Tensor::cat(
        gates
            .iter()
            .map(|g| {
                let input = g.input_transform.bias.as_ref().map(|b| b.val());
                let hidden = g.hidden_transform.bias.as_ref().map(|b| b.val());
                match (input, hidden) {
                    (Some(a), Some(b)) => a + b,
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => Tensor::zeros([layer.d_hidden], &w_hh.device()),
                }
            })
            .collect(),
        0,
    );
    let projected = (projected + bias.unsqueeze::<2>()).reshape([batch, len, 4 * layer.d_hidden]);
    Tensor::from_dispatch(<Dispatch as CpuOps>::marquee_lstm(projected.into_dispatch(), w_hh.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn close(a: Tensor<3>, b: Tensor<3>, tolerance: f32) {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= tolerance * scale, "{x} vs {y}");
        }
    }

    /// Images `[b, c, h, w]` as `[b, c, h * w]`, for [`close`].
    fn flat(t: Tensor<4>) -> Tensor<3> {
        let [b, c, h, w] = t.dims();
        t.reshape([b, c, h * w])
    }

    fn random(shape: [usize; 3], device: &Device) -> Tensor<3> {
        Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
    }

    #[test]
    fn matmul_matches_burn_on_plain_transposed_and_strided_views() {
        let device = Device::flex();
        let a = random([3, 5, 8], &device);
        let b = random([3, 8, 4], &device);
        close(matmul(a.clone(), b.clone()), a.clone().matmul(b.clone()), 1e-5);
        // Transposed views, as attention's `k^T` and the backward's `rhs^T`.
        let bt = random([3, 4, 8], &device).swap_dims(1, 2);
        close(matmul(a.clone(), bt.clone()), a.clone().matmul(bt), 1e-5);
        let at = random([3, 8, 5], &device).swap_dims(1, 2);
        close(matmul(at.clone(), b.clone()), at.matmul(b), 1e-5);
        // Heads of a projection: [batch, len, heads, dim] -> [batch, heads, len, dim].
        let heads = Tensor::<4>::random([2, 6, 3, 4], Distribution::Uniform(-1.0, 1.0), &device).swap_dims(1, 2);
        let keys = Tensor::<4>::random([2, 6, 3, 4], Distribution::Uniform(-1.0, 1.0), &device).swap_dims(1, 2);
        let ours = matmul(heads.clone(), keys.clone().swap_dims(2, 3)).reshape([6, 6, 6]);
        close(ours, heads.matmul(keys.swap_dims(2, 3)).reshape([6, 6, 6]), 1e-5);
    }

    #[test]
    fn linear_matches_burns_layer() {
        let device = Device::flex();
        let layer = burn::nn::LinearConfig::new(8, 5).init(&device);
        let x = random([2, 7, 8], &device);
        close(linear(&layer, x.clone()), layer.forward(x), 1e-5);
    }

    #[test]
    fn gradients_match_burns_ops() {
        let device = Device::flex().autodiff();
        let a = random([2, 5, 8], &device).require_grad();
        let b = random([2, 8, 4], &device).require_grad();
        let ours = sigmoid(tanh(gelu(matmul(a.clone(), b.clone())))).sum().backward();
        let (ga, gb) = (a.grad(&ours).unwrap(), b.grad(&ours).unwrap());
        let a2 = a.clone().detach().require_grad();
        let b2 = b.clone().detach().require_grad();
        let theirs =
            burn::tensor::activation::sigmoid(burn::tensor::activation::gelu(a2.clone().matmul(b2.clone())).tanh())
                .sum()
                .backward();
        let (ha, hb) = (a2.grad(&theirs).unwrap(), b2.grad(&theirs).unwrap());
        close(ga, ha, 1e-5);
        close(gb, hb, 1e-5);

        // Softmax's gradient, weighted so that it is not zero.
        let x = random([2, 5, 8], &device).require_grad();
        let weights = random([2, 5, 8], &device);
        let grads = (softmax(x.clone(), 2) * weights.clone()).sum().backward();
        let theirs = (burn::tensor::activation::softmax(x.clone(), 2) * weights).sum().backward();
        close(x.grad(&grads).unwrap(), x.grad(&theirs).unwrap(), 1e-5);

        // A linear layer's weight and bias gradients, through the 2-D fold.
        let layer = burn::nn::LinearConfig::new(8, 3).init(&device);
        let x = random([2, 5, 8], &device).require_grad();
        let grads = linear(&layer, x.clone()).powf_scalar(2.0).sum().backward();
        let theirs = layer.forward(x.clone()).powf_scalar(2.0).sum().backward();
        let weight = |g: &burn::tensor::Gradients| layer.weight.val().grad(g).unwrap().reshape([1, 8, 3]);
        close(weight(&grads), weight(&theirs), 1e-5);
        close(x.grad(&grads).unwrap(), x.grad(&theirs).unwrap(), 1e-5);
    }

    #[test]
    fn lstm_layers_match_burns_with_gradients() {
        let device = Device::flex().autodiff();
        let x = random([3, 7, 5], &device).require_grad();
        let uni = burn::nn::LstmConfig::new(5, 4, true).with_batch_first(true).init(&device);
        let bi = burn::nn::BiLstmConfig::new(5, 4, true).with_batch_first(true).init(&device);
        close(lstm(&uni, x.clone()), uni.forward(x.clone(), None).0, 1e-5);
        close(bilstm(&bi, x.clone()), bi.forward(x.clone(), None).0, 1e-5);
        let ours = bilstm(&bi, x.clone()).powf_scalar(2.0).sum().backward();
        let theirs = bi.forward(x.clone(), None).0.powf_scalar(2.0).sum().backward();
        close(x.grad(&ours).unwrap(), x.grad(&theirs).unwrap(), 1e-4);
        let hidden_weight = |g: &burn::tensor::Gradients| {
            bi.reverse.forget_gate.as_ref().unwrap().hidden_transform.weight.val().grad(g).unwrap().reshape([1, 4, 4])
        };
        close(hidden_weight(&ours), hidden_weight(&theirs), 1e-4);
        let bias = |g: &burn::tensor::Gradients| {
            uni.cell_gate.input_transform.bias.as_ref().unwrap().val().grad(g).unwrap().reshape([1, 1, 4])
        };
        let ours = lstm(&uni, x.clone()).sum().backward();
        let theirs = uni.forward(x.clone(), None).0.sum().backward();
        close(bias(&ours), bias(&theirs), 1e-4);
    }

    /// A square convolution of 6 channels: to 4 with groups 1, else depthwise; and its outputs.
    fn six_channel_conv(
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        device: &Device,
    ) -> (burn::nn::conv::Conv2d, usize) {
        let outputs = if groups == 1 { 4 } else { 6 };
        let conv = burn::nn::conv::Conv2dConfig::new([6, outputs], [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
            .init(device);
        (conv, outputs)
    }

    #[test]
    fn convolutions_match_burns_with_batch_norm_folded_at_inference() {
        use burn::nn::conv::Conv2dConfig;
        use burn::nn::BatchNormConfig;
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 6, 5, 7], Distribution::Uniform(-1.0, 1.0), &device);
        for (kernel, stride, padding, groups) in
            [(1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 0, 1), (5, 2, 2, 1), (3, 2, 1, 6), (5, 1, 2, 6)]
        {
            let (conv, outputs) = six_channel_conv(kernel, stride, padding, groups, &device);
            close(flat(conv2d(&conv, x.clone())), flat(conv.forward(x.clone())), 1e-5);
            let mut bn = BatchNormConfig::new(outputs).init(&device);
            bn.gamma = Param::from_tensor(Tensor::random([outputs], Distribution::Uniform(0.5, 2.0), &device));
            bn.beta = Param::from_tensor(Tensor::random([outputs], Distribution::Uniform(-1.0, 1.0), &device));
            let expected = bn.forward(conv.forward(x.clone()));
            close(flat(conv2d_batch_norm(&conv, &bn, x.clone())), flat(expected), 1e-5);
        }
        // Training: the gradients of the im2col and depthwise convolutions (each with its own
        // backward) and of a 1x1 one (through the product) are burn's.
        let device = device.autodiff();
        for (kernel, stride, padding, groups) in [(3, 1, 1, 1), (3, 2, 1, 1), (5, 2, 0, 1), (3, 1, 1, 6), (5, 2, 2, 6)]
        {
            let (conv, outputs) = six_channel_conv(kernel, stride, padding, groups, &device);
            let x = Tensor::<4>::random([2, 6, 9, 7], Distribution::Uniform(-1.0, 1.0), &device).require_grad();
            let ours = conv2d(&conv, x.clone()).powf_scalar(2.0).sum().backward();
            let theirs = conv.forward(x.clone()).powf_scalar(2.0).sum().backward();
            let per_output = 6 / groups * kernel * kernel;
            let weight =
                |g: &burn::tensor::Gradients| conv.weight.val().grad(g).unwrap().reshape([1, outputs, per_output]);
            let bias = |g: &burn::tensor::Gradients| {
                conv.bias.as_ref().unwrap().val().grad(g).unwrap().reshape([1, 1, outputs])
            };
            close(weight(&ours), weight(&theirs), 1e-5);
            close(bias(&ours), bias(&theirs), 1e-5);
            close(flat(x.grad(&ours).unwrap()), flat(x.grad(&theirs).unwrap()), 1e-5);
        }
        let conv = Conv2dConfig::new([6, 4], [1, 1]).init(&device);
        let x = Tensor::<4>::random([2, 6, 5, 7], Distribution::Uniform(-1.0, 1.0), &device).require_grad();
        let ours = conv2d(&conv, x.clone()).powf_scalar(2.0).sum().backward();
        let theirs = conv.forward(x.clone()).powf_scalar(2.0).sum().backward();
        let weight = |g: &burn::tensor::Gradients| conv.weight.val().grad(g).unwrap().reshape([1, 4, 6]);
        close(weight(&ours), weight(&theirs), 1e-5);
    }

    #[test]
    fn relu_max_pooling_matches_burns_with_gradients() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        for shape in [[2, 3, 8, 6], [1, 2, 7, 5]] {
            let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device).require_grad();
            let pooled = [shape[0], shape[1], shape[2] / 2, shape[3] / 2];
            let weights = Tensor::<4>::random(pooled, Distribution::Uniform(-1.0, 1.0), &device);
            let ours = relu_max_pool2d(&pool, x.clone());
            let theirs = pool.forward(burn::tensor::activation::relu(x.clone()));
            close(flat(ours.clone()), flat(theirs.clone()), 0.0);
            let ours = (ours * weights.clone()).sum().backward();
            let theirs = (theirs * weights).sum().backward();
            close(flat(x.grad(&ours).unwrap()), flat(x.grad(&theirs).unwrap()), 0.0);
        }
        // A pooling the kernel does not compute (3x3, stride 2) is burn's.
        let other = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init();
        let x = Tensor::<4>::random([1, 2, 7, 7], Distribution::Uniform(-1.0, 1.0), &device);
        close(flat(relu_max_pool2d(&other, x.clone())), flat(other.forward(burn::tensor::activation::relu(x))), 0.0);
    }

    #[test]
    fn activations_match_burn_within_1e6() {
        let device = Device::flex();
        let values: Vec<f32> = (-400..400).map(|i| i as f32 * 0.025).collect();
        let x = Tensor::<3>::from_data(TensorData::new(values, [2, 20, 20]), &device);
        close(gelu(x.clone()), burn::tensor::activation::gelu(x.clone()), 1e-6);
        close(sigmoid(x.clone()), burn::tensor::activation::sigmoid(x.clone()), 1e-6);
        close(tanh(x.clone()), x.clone().tanh(), 1e-6);
        close(relu6(x.clone()), burn::tensor::activation::relu6(x.clone()), 0.0);
        // Softmax over the last and a middle dimension, with a masked (-1e4) score as in attention.
        let masked = x.clone().slice_fill([0..1, 0..1, 0..1], -1e4);
        for dim in [2, 1] {
            close(softmax(masked.clone(), dim), burn::tensor::activation::softmax(masked.clone(), dim), 1e-6);
        }
        // A non-contiguous input.
        let t = x.clone().swap_dims(1, 2);
        close(gelu(t.clone()), burn::tensor::activation::gelu(t), 1e-6);
    }
}

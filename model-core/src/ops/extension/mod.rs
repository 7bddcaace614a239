//! The backend extension behind [`super`]: the operations' trait and their `flex` kernels;
//! [`autodiff`] adds their backward passes (feature `train`).

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Bytes, DType, Flex};

use kernels::math::Unary;
use kernels::recurrence;

#[cfg(feature = "train")]
mod autodiff;

/// Marquee's CPU operations. Routed by burn's dispatch to [`Flex`] or, when gradients are
/// tracked, to `Autodiff<Flex>`; the public functions in [`super`] call them on the CPU only.
#[cfg_attr(feature = "train", backend_extension(Flex, Autodiff))]
#[cfg_attr(not(feature = "train"), backend_extension(Flex), allow(dead_code))]
pub trait CpuOps: Backend {
    /// `lhs x rhs` for `[.., m, k]` and `[.., k, n]` with the same batch dimensions.
    fn marquee_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self>;
    /// An element-wise function.
    fn marquee_unary(x: FloatTensor<Self>, op: Unary) -> FloatTensor<Self>;
    /// `grad * f'(x)`, from what [`Unary::backward_from_output`] says is saved.
    fn marquee_unary_backward(saved: FloatTensor<Self>, grad: FloatTensor<Self>, op: Unary) -> FloatTensor<Self>;
    /// A convolution: `x` `[batch, in, h, w]`, `weight` `[out, in / groups, kh, kw]`, `bias`
    /// `[out]`, `geometry` the stride, zero padding and dilation, each `[rows, columns]`, then the
    /// groups (1, or `in` for a depthwise convolution).
    fn marquee_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [usize; 7],
    ) -> FloatTensor<Self>;
    /// The gradients of `x`, `weight` and `bias` of [`CpuOps::marquee_conv2d`] from the output's
    /// gradient, each computed where `wanted` (in that order); one not wanted comes back empty
    /// (shape `[0]`: burn's extensions return tensors, not options).
    fn marquee_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: [usize; 7],
        wanted: [bool; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// `x W + b` at inference (no gradient flows through it): `x` `[rows, d_in]`, `weight`
    /// `[d_in, d_out]`, `bias` `[d_out]`, the bias added by the product itself.
    fn marquee_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    /// ReLU then 2x2 max pooling with stride 2 of f32 `x` `[batch, channels, h, w]`.
    fn marquee_relu_max_pool(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The gradient of [`CpuOps::marquee_relu_max_pool`]'s input from that input, its output and
    /// the output's gradient.
    fn marquee_relu_max_pool_backward(
        x: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// The LSTM recurrence over projected inputs `[batch, len, 4h]` with hidden weights
    /// `[h, 4h]`: the hidden states `[batch, len, h]`.
    fn marquee_lstm(projected: FloatTensor<Self>, w_hh: FloatTensor<Self>) -> FloatTensor<Self>;
    /// [`CpuOps::marquee_lstm`] with what its backward pass needs: hidden states, activated
    /// gates `[batch, len, 4h]` and cell states `[batch, len, h]`.
    fn marquee_lstm_forward(
        projected: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// The gradients of the projected inputs and the hidden weights from the hidden states'.
    fn marquee_lstm_backward(
        grad: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        cells: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether `tensor` is f32 and densely fills its whole buffer from offset 0 (so it may be
/// written in place when no one else holds it).
fn dense_f32(tensor: &FlexTensor) -> bool {
    tensor.dtype() == DType::F32 && tensor.layout().contiguous_offsets() == Some((0, tensor.storage::<f32>().len()))
}

/// A new contiguous f32 tensor of `shape` holding `values`.
fn from_values(values: Vec<f32>, shape: burn::backend::Shape) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}

/// The values of an f32 tensor in row-major order (copied only when not contiguous).
fn contiguous_f32(tensor: FlexTensor) -> FlexTensor {
    match tensor.as_slice::<f32>() {
        Some(_) => tensor,
        None => tensor.to_contiguous(),
    }
}

/// Products through `kernels::gemm`: OpenBLAS natively, the packed SIMD128 product in wasm.
#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
mod blas {
    use super::*;
    use kernels::gemm::{batched_matmul, Bias, Strided};

    /// The matrices of `tensor` as BLAS operands, if BLAS can read them in place.
    fn strided(tensor: &FlexTensor) -> Option<Strided<'_>> {
        let layout = tensor.layout();
        let (shape, strides) = (layout.shape(), layout.strides());
        let rank = shape.num_dims();
        if strides.iter().any(|&s| s < 0) {
            return None;
        }
        let mut offsets = vec![layout.start_offset()];
        for dim in 0..rank - 2 {
            let stride = strides[dim] as usize;
            offsets = offsets.iter().flat_map(|&o| (0..shape[dim]).map(move |i| o + i * stride)).collect();
        }
        let operand = Strided {
            data: tensor.storage::<f32>(),
            offsets,
            rows: shape[rank - 2],
            cols: shape[rank - 1],
            row_stride: strides[rank - 2] as usize,
            col_stride: strides[rank - 1] as usize,
        };
        operand.blas_compatible().then_some(operand)
    }

    /// The product (plus a bias per column where given) through `batched_matmul`, reading
    /// views in place where it can.
    pub fn matmul(lhs: FlexTensor, rhs: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
        let lhs = if strided(&lhs).is_some() { lhs } else { lhs.to_contiguous() };
        let rhs = if strided(&rhs).is_some() { rhs } else { rhs.to_contiguous() };
        let (a, b) = (strided(&lhs).expect("contiguous"), strided(&rhs).expect("contiguous"));
        let mut shape = lhs.layout().shape().clone();
        let rank = shape.num_dims();
        shape[rank - 1] = b.cols;
        let bias = bias.map(contiguous_f32);
        let out = batched_matmul(&a, &b, bias.as_ref().map_or(Bias::None, |bias| Bias::Columns(f32s(bias))));
        from_values(out, shape)
    }
}

impl CpuOps for Flex {
    fn marquee_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        #[cfg(any(feature = "openblas", target_arch = "wasm32"))]
        if lhs.dtype() == DType::F32 && rhs.dtype() == DType::F32 {
            return blas::matmul(lhs, rhs, None);
        }
        Flex::float_matmul(lhs, rhs)
    }

    fn marquee_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        #[cfg(any(feature = "openblas", target_arch = "wasm32"))]
        if [&x, &weight, &bias].iter().all(|t| t.dtype() == DType::F32) {
            return blas::matmul(x, weight, Some(bias));
        }
        let d_out = bias.layout().shape()[0];
        let bias = Flex::float_reshape(bias, [1, d_out].into());
        Flex::float_add(Flex::float_matmul(x, weight), bias)
    }

    fn marquee_unary(x: FlexTensor, op: Unary) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return match op {
                Unary::Exp => Flex::float_exp(x),
                Unary::Tanh => Flex::float_tanh(x),
                Unary::Sigmoid => Flex::sigmoid(x),
                Unary::Gelu => Flex::gelu(x),
                Unary::Relu6 => Flex::float_clamp(x, 0.0f32.into(), 6.0f32.into()),
            };
        }
        let mut x = if dense_f32(&x) { x } else { x.to_contiguous() };
        if let Some(values) = x.try_storage_mut::<f32>() {
            op.apply(values);
            return x;
        }
        let mut values = x.as_slice::<f32>().expect("contiguous").to_vec();
        op.apply(&mut values);
        from_values(values, x.layout().shape().clone())
    }

    fn marquee_unary_backward(saved: FlexTensor, grad: FlexTensor, op: Unary) -> FlexTensor {
        if saved.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return match op {
                Unary::Exp => Flex::float_mul(grad, saved),
                Unary::Tanh => {
                    let square = Flex::float_mul(saved.clone(), saved);
                    Flex::float_mul(grad, Flex::float_add_scalar(Flex::float_neg(square), 1.0f32.into()))
                }
                Unary::Sigmoid => Flex::sigmoid_backward(saved, grad),
                Unary::Gelu => Flex::gelu_backward(saved, grad),
                Unary::Relu6 => {
                    // 1 strictly inside (0, 6), else 0: sign(y) * sign(6 - y) for y in [0, 6].
                    let upper = Flex::float_add_scalar(Flex::float_neg(saved.clone()), 6.0f32.into());
                    let inside = Flex::float_mul(Flex::float_sign(saved), Flex::float_sign(upper));
                    Flex::float_mul(grad, inside)
                }
            };
        }
        let (saved, grad) = (contiguous_f32(saved), contiguous_f32(grad));
        let shape = saved.layout().shape().clone();
        let mut out = vec![0.0f32; shape.num_elements()];
        op.backward(
            saved.as_slice::<f32>().expect("contiguous"),
            grad.as_slice::<f32>().expect("contiguous"),
            &mut out,
        );
        from_values(out, shape)
    }

    fn marquee_lstm(projected: FlexTensor, w_hh: FlexTensor) -> FlexTensor {
        Self::marquee_lstm_forward(projected, w_hh).0
    }

    fn marquee_conv2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, geometry: [usize; 7]) -> FlexTensor {
        #[cfg(any(feature = "openblas", target_arch = "wasm32"))]
        if let Some((shape, depthwise)) = conv_kernel(&x, &weight, geometry).filter(|_| bias.dtype() == DType::F32) {
            let kernel = if depthwise { kernels::conv::depthwise_conv2d } else { kernels::conv::conv2d };
            let [out_h, out_w] = shape.output_size();
            let (x, weight, bias) = (contiguous_f32(x), contiguous_f32(weight), contiguous_f32(bias));
            let out = kernel(f32s(&x), f32s(&weight), f32s(&bias), &shape);
            return from_values(out, [shape.batch, shape.outputs, out_h, out_w].into());
        }
        Flex::conv2d(x, weight, Some(bias), conv_options(geometry))
    }

    fn marquee_relu_max_pool(x: FlexTensor) -> FlexTensor {
        let [batch, channels, height, width] = pool_dims(&x);
        let out = kernels::pool::relu_max_pool_2x2(f32s(&contiguous_f32(x)), batch * channels, height, width);
        from_values(out, [batch, channels, height / 2, width / 2].into())
    }

    fn marquee_relu_max_pool_backward(x: FlexTensor, output: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let [batch, channels, height, width] = pool_dims(&x);
        let (x, output, grad) = (contiguous_f32(x), contiguous_f32(output), contiguous_f32(grad));
        let planes = batch * channels;
        let dx = kernels::pool::relu_max_pool_2x2_backward(f32s(&x), f32s(&output), f32s(&grad), planes, height, width);
        from_values(dx, [batch, channels, height, width].into())
    }

    fn marquee_conv2d_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        geometry: [usize; 7],
        wanted: [bool; 3],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        #[cfg(any(feature = "openblas", target_arch = "wasm32"))]
        if let Some((shape, depthwise)) = conv_kernel(&x, &weight, geometry).filter(|_| grad.dtype() == DType::F32) {
            use kernels::conv::{conv2d_backward, depthwise_conv2d_backward};
            let backward = if depthwise { depthwise_conv2d_backward } else { conv2d_backward };
            let (x_shape, weight_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
            let (x, weight, grad) = (contiguous_f32(x), contiguous_f32(weight), contiguous_f32(grad));
            let [dx, d_weight, d_bias] = backward(f32s(&x), f32s(&weight), f32s(&grad), &shape, wanted);
            let tensor =
                |gradient: Option<Vec<f32>>, shape| gradient.map_or_else(not_wanted, |g| from_values(g, shape));
            return (tensor(dx, x_shape), tensor(d_weight, weight_shape), tensor(d_bias, [shape.outputs].into()));
        }
        let options = conv_options(geometry);
        let [input_wanted, weight_wanted, bias_wanted] = wanted;
        let outputs = weight.layout().shape()[0];
        let bias = Flex::float_zeros([outputs].into(), &Default::default(), x.dtype().into());
        let wanted_or_empty = |wanted: bool, gradient: &dyn Fn() -> FlexTensor| match wanted {
            true => gradient(),
            false => not_wanted(),
        };
        (
            wanted_or_empty(input_wanted, &|| {
                Flex::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
            }),
            wanted_or_empty(weight_wanted, &|| {
                Flex::conv2d_weight_backward(x.clone(), weight.clone(), grad.clone(), options.clone())
            }),
            wanted_or_empty(bias_wanted, &|| Flex::conv2d_bias_backward(x.clone(), bias.clone(), grad.clone())),
        )
    }

    fn marquee_lstm_forward(projected: FlexTensor, w_hh: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [batch, len, h] = lstm_dims(&projected, &w_hh);
        let (projected, w_hh) = (contiguous_f32(projected), contiguous_f32(w_hh));
        let out = recurrence::forward(f32s(&projected), f32s(&w_hh), batch, len, h);
        let state = |values| from_values(values, [batch, len, h].into());
        (state(out.hidden), from_values(out.gates, [batch, len, 4 * h].into()), state(out.cells))
    }

    fn marquee_lstm_backward(
        grad: FlexTensor,
        hidden: FlexTensor,
        gates: FlexTensor,
        cells: FlexTensor,
        w_hh: FlexTensor,
    ) -> (FlexTensor, FlexTensor) {
        let [batch, len, h] = lstm_dims(&gates, &w_hh);
        let values = |t: FlexTensor| f32s(&contiguous_f32(t)).to_vec();
        let saved = recurrence::Forward { hidden: values(hidden), gates: values(gates), cells: values(cells) };
        let w_hh = contiguous_f32(w_hh);
        let grads = recurrence::backward(f32s(&contiguous_f32(grad)), &saved, f32s(&w_hh), batch, len, h);
        (from_values(grads.projected, [batch, len, 4 * h].into()), from_values(grads.w_hh, [h, 4 * h].into()))
    }
}

/// `[batch, len, h]` of an LSTM's `[batch, len, 4h]` gates and `[h, 4h]` hidden weights.
///
/// # Panics
/// When the shapes or dtypes do not fit (the callers in [`super`] check them first).
fn lstm_dims(gates: &FlexTensor, w_hh: &FlexTensor) -> [usize; 3] {
    let (g, w) = (gates.layout().shape(), w_hh.layout().shape());
    assert!(gates.dtype() == DType::F32 && w_hh.dtype() == DType::F32, "the LSTM kernel runs in f32");
    assert!(g.num_dims() == 3 && w.num_dims() == 2 && g[2] == w[1] && w[1] == 4 * w[0], "LSTM shapes {g:?} and {w:?}");
    [g[0], g[1], w[0]]
}

/// The shape of a convolution of `x` by `weight` with `geometry` (see
/// [`CpuOps::marquee_conv2d`]) and whether it is depthwise, where one of Marquee's kernels
/// computes it: in f32, with groups 1 (im2col), or one filter per channel without dilation.
#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
fn conv_kernel(
    x: &FlexTensor,
    weight: &FlexTensor,
    geometry: [usize; 7],
) -> Option<(kernels::conv::Conv2dShape, bool)> {
    let [stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups] = geometry;
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    let shape = kernels::conv::Conv2dShape {
        batch: xs[0],
        channels: xs[1],
        height: xs[2],
        width: xs[3],
        outputs: ws[0],
        kernel: [ws[2], ws[3]],
        stride: [stride_h, stride_w],
        padding: [pad_h, pad_w],
        dilation: [dilation_h, dilation_w],
    };
    let depthwise = groups == shape.channels && shape.outputs == shape.channels && ws[1] == 1;
    let computed = groups == 1 || (depthwise && shape.dilation == [1, 1]);
    (computed && x.dtype() == DType::F32 && weight.dtype() == DType::F32).then_some((shape, groups != 1))
}

/// The empty tensor that stands for a gradient not asked for ([`CpuOps::marquee_conv2d_backward`]).
fn not_wanted() -> FlexTensor {
    from_values(Vec::new(), [0].into())
}

/// burn's options for a convolution's `geometry` (see [`CpuOps::marquee_conv2d`]).
fn conv_options(geometry: [usize; 7]) -> burn::backend::ops::ConvOptions<2> {
    let [stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups] = geometry;
    burn::backend::ops::ConvOptions::new([stride_h, stride_w], [pad_h, pad_w], [dilation_h, dilation_w], groups)
}

/// `[batch, channels, h, w]` of a pooling's input.
///
/// # Panics
/// When it is not an f32 tensor of rank 4 (the caller in [`super`] checks first).
fn pool_dims(x: &FlexTensor) -> [usize; 4] {
    let shape = x.layout().shape();
    assert!(x.dtype() == DType::F32 && shape.num_dims() == 4, "the pooling kernel takes f32 images, not {shape:?}");
    [shape[0], shape[1], shape[2], shape[3]]
}

/// The values of a contiguous f32 tensor.
fn f32s(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("contiguous f32")
}

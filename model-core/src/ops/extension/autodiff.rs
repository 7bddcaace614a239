//! The backward passes of Marquee's CPU operations: `CpuOps` for `Autodiff<B>`, used when
//! gradients are tracked (training).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend};

use kernels::math::Unary;

use super::CpuOps;

/// The matrix product's backward: `d lhs = grad x rhs^T`, `d rhs = lhs^T x grad`.
#[derive(Debug)]
struct MatmulBackward;

impl<B: Backend + CpuOps> Backward<B, 2> for MatmulBackward {
    /// The left operand (kept when the right needs a gradient) and the right one (kept when
    /// the left does).
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [lhs_node, rhs_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (lhs, rhs) = ops.state;
        if let Some(node) = lhs_node {
            let rhs = rhs.expect("kept for the left gradient");
            grads.register::<B>(node.id, B::marquee_matmul(grad.clone(), B::float_transpose(rhs)));
        }
        if let Some(node) = rhs_node {
            let lhs = lhs.expect("kept for the right gradient");
            grads.register::<B>(node.id, B::marquee_matmul(B::float_transpose(lhs), grad));
        }
    }
}

/// An element-wise function's backward, from the saved input or output.
#[derive(Debug)]
struct UnaryBackward;

impl<B: Backend + CpuOps> Backward<B, 1> for UnaryBackward {
    type State = (FloatTensor<B>, Unary);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (saved, op) = ops.state;
        if let Some(node) = node {
            grads.register::<B>(node.id, B::marquee_unary_backward(saved, grad, op));
        }
    }
}

/// A convolution's backward, from the saved input and weight.
#[derive(Debug)]
struct Conv2dBackward;

impl<B: Backend + CpuOps> Backward<B, 3> for Conv2dBackward {
    /// The input, the weight and the geometry.
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 7]);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x_node, weight_node, bias_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, geometry) = ops.state;
        let nodes = [x_node, weight_node, bias_node];
        let wanted = nodes.each_ref().map(Option::is_some);
        // Those not wanted come back empty and are not registered.
        let (dx, d_weight, d_bias) = B::marquee_conv2d_backward(x, weight, grad, geometry, wanted);
        for (node, gradient) in nodes.into_iter().zip([dx, d_weight, d_bias]) {
            if let Some(node) = node {
                grads.register::<B>(node.id, gradient);
            }
        }
    }
}

/// ReLU and 2x2 max pooling's backward, from the saved input and output.
#[derive(Debug)]
struct ReluMaxPoolBackward;

impl<B: Backend + CpuOps> Backward<B, 1> for ReluMaxPoolBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, output) = ops.state;
        if let Some(node) = node {
            grads.register::<B>(node.id, B::marquee_relu_max_pool_backward(x, output, grad));
        }
    }
}

/// The LSTM recurrence's backward, from its saved states.
#[derive(Debug)]
struct LstmBackward;

impl<B: Backend + CpuOps> Backward<B, 2> for LstmBackward {
    /// Hidden states, activated gates, cell states and the hidden weights.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [projected_node, w_hh_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (hidden, gates, cells, w_hh) = ops.state;
        let (d_projected, d_w_hh) = B::marquee_lstm_backward(grad, hidden, gates, cells, w_hh);
        if let Some(node) = projected_node {
            grads.register::<B>(node.id, d_projected);
        }
        if let Some(node) = w_hh_node {
            grads.register::<B>(node.id, d_w_hh);
        }
    }
}

impl<B: Backend + CpuOps, C: CheckpointStrategy> CpuOps for Autodiff<B, C> {
    fn marquee_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let (lhs_tracked, rhs_tracked) = (lhs.is_tracked(), rhs.is_tracked());
        match MatmulBackward.prepare::<C>([lhs.node(), rhs.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (l, r) = (lhs.primitive().clone(), rhs.primitive().clone());
                let out = B::marquee_matmul(l.clone(), r.clone());
                prep.finish((rhs_tracked.then_some(l), lhs_tracked.then_some(r)), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::marquee_matmul(lhs.into_primitive(), rhs.into_primitive())),
        }
    }

    fn marquee_unary(x: FloatTensor<Self>, op: Unary) -> FloatTensor<Self> {
        match UnaryBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let out = B::marquee_unary(input.clone(), op);
                let saved = if op.backward_from_output() { out.clone() } else { input };
                prep.finish((saved, op), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::marquee_unary(x.into_primitive(), op)),
        }
    }

    /// The derivative itself is not differentiated again (no second derivatives).
    fn marquee_unary_backward(saved: FloatTensor<Self>, grad: FloatTensor<Self>, op: Unary) -> FloatTensor<Self> {
        Self::from_inner(B::marquee_unary_backward(Self::inner(saved), Self::inner(grad), op))
    }

    fn marquee_lstm(projected: FloatTensor<Self>, w_hh: FloatTensor<Self>) -> FloatTensor<Self> {
        match LstmBackward.prepare::<C>([projected.node(), w_hh.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let w = w_hh.primitive().clone();
                let (hidden, gates, cells) = B::marquee_lstm_forward(projected.primitive().clone(), w.clone());
                prep.finish((hidden.clone(), gates, cells, w), hidden)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::marquee_lstm(projected.into_primitive(), w_hh.into_primitive())),
        }
    }

    fn marquee_relu_max_pool(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match ReluMaxPoolBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let out = B::marquee_relu_max_pool(input.clone());
                prep.finish((input, out.clone()), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::marquee_relu_max_pool(x.into_primitive())),
        }
    }

    /// Untracked (no second derivatives).
    fn marquee_relu_max_pool_backward(
        x: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::marquee_relu_max_pool_backward(Self::inner(x), Self::inner(output), Self::inner(grad)))
    }

    fn marquee_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [usize; 7],
    ) -> FloatTensor<Self> {
        match Conv2dBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (input, filters) = (x.primitive().clone(), weight.primitive().clone());
                let out = B::marquee_conv2d(input.clone(), filters.clone(), bias.into_primitive(), geometry);
                prep.finish((input, filters, geometry), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::marquee_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                geometry,
            )),
        }
    }

    /// Untracked (no second derivatives).
    fn marquee_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: [usize; 7],
        wanted: [bool; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, d_weight, d_bias) =
            B::marquee_conv2d_backward(Self::inner(x), Self::inner(weight), Self::inner(grad), geometry, wanted);
        (Self::from_inner(dx), Self::from_inner(d_weight), Self::from_inner(d_bias))
    }

    /// Untracked: [`super::linear`] calls it only where no gradient is wanted.
    fn marquee_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::marquee_linear(Self::inner(x), Self::inner(weight), Self::inner(bias)))
    }

    /// Untracked: only the tracked [`CpuOps::marquee_lstm`] is differentiated.
    fn marquee_lstm_forward(
        projected: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (hidden, gates, cells) = B::marquee_lstm_forward(Self::inner(projected), Self::inner(w_hh));
        (Self::from_inner(hidden), Self::from_inner(gates), Self::from_inner(cells))
    }

    /// Untracked (no second derivatives).
    fn marquee_lstm_backward(
        grad: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        cells: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (d_projected, d_w_hh) = B::marquee_lstm_backward(
            Self::inner(grad),
            Self::inner(hidden),
            Self::inner(gates),
            Self::inner(cells),
            Self::inner(w_hh),
        );
        (Self::from_inner(d_projected), Self::from_inner(d_w_hh))
    }
}

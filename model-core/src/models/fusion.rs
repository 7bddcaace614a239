//! Fusion of a frozen text classifier and a frozen image classifier.
//!
//! Three heads, chosen by [`FusionMode`]:
//! - `logits` (the design's): each branch's logits go through Linear(N, 128) + ReLU +
//!   Dropout(0.3); the two are concatenated (256) and Linear(256, N) gives the genre logits;
//! - `features`: the same, over the branches' pooled features instead of their logits;
//! - `gmu`: a gated multimodal unit (Arevalo et al. 2017) over the pooled features:
//!   `h = z * tanh(W_t t) + (1 - z) * tanh(W_v v)`, `z = sigmoid(W_z [t; v])`, then Linear(h, N).
//!
//! The branches stay frozen, so their outputs can be computed once per movie and cached; the
//! head then trains on the cached tensors ([`FusionHead::forward`]).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops;

/// What the fusion head reads from each branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionMode {
    /// The branches' genre logits (the design's choice).
    #[default]
    Logits,
    /// The branches' pooled features.
    Features,
    /// A gated multimodal unit over the pooled features.
    Gmu,
}

impl FusionMode {
    /// Whether the head reads pooled features (rather than logits).
    pub fn uses_features(self) -> bool {
        !matches!(self, FusionMode::Logits)
    }
}

/// The fusion head's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionHeadConfig {
    /// What it reads.
    pub mode: FusionMode,
    /// Width of the text branch's output it reads.
    pub text_input: usize,
    /// Width of the image branch's output it reads.
    pub image_input: usize,
    /// Width of each projection (the design: 128).
    pub hidden: usize,
    /// Dropout after each projection (the design: 0.3).
    pub dropout: f64,
    /// The number of genres.
    pub num_genres: usize,
}

impl FusionHeadConfig {
    /// Builds the head with freshly initialised weights.
    pub fn init(&self, device: &Device) -> FusionHead {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let (gate, output_input) = match self.mode {
            FusionMode::Gmu => (Some(linear(self.text_input + self.image_input, self.hidden)), self.hidden),
            _ => (None, 2 * self.hidden),
        };
        FusionHead {
            text_projection: linear(self.text_input, self.hidden),
            image_projection: linear(self.image_input, self.hidden),
            gate,
            dropout: DropoutConfig::new(self.dropout).init(),
            output: linear(output_input, self.num_genres),
        }
    }
}

/// The trainable part of a fusion model.
#[derive(Module, Debug)]
pub struct FusionHead {
    text_projection: Linear,
    image_projection: Linear,
    /// Present for the gated multimodal unit.
    gate: Option<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl FusionHead {
    /// Genre logits `[batch, genres]` from the two branches' outputs.
    pub fn forward(&self, text: Tensor<2>, image: Tensor<2>) -> Tensor<2> {
        match &self.gate {
            None => {
                let t = self.dropout.forward(relu(ops::linear(&self.text_projection, text)));
                let v = self.dropout.forward(relu(ops::linear(&self.image_projection, image)));
                ops::linear(&self.output, Tensor::cat(vec![t, v], 1))
            }
            Some(gate) => {
                let z = ops::sigmoid(ops::linear(gate, Tensor::cat(vec![text.clone(), image.clone()], 1)));
                let t = ops::tanh(ops::linear(&self.text_projection, text));
                let v = ops::tanh(ops::linear(&self.image_projection, image));
                let h = z.clone() * t + (z.neg() + 1.0) * v;
                ops::linear(&self.output, self.dropout.forward(h))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_head_is_two_projections_and_a_linear() {
        let device = Device::flex();
        let config = FusionHeadConfig {
            mode: FusionMode::Logits,
            text_input: 20,
            image_input: 20,
            hidden: 128,
            dropout: 0.3,
            num_genres: 20,
        };
        let head = config.init(&device);
        assert_eq!(head.num_params(), 2 * (20 * 128 + 128) + 256 * 20 + 20);
        let out = head.forward(Tensor::zeros([4, 20], &device), Tensor::zeros([4, 20], &device));
        assert_eq!(out.dims(), [4, 20]);
    }

    #[test]
    fn gmu_gates_between_the_branches() {
        let device = Device::flex();
        let config = FusionHeadConfig {
            mode: FusionMode::Gmu,
            text_input: 384,
            image_input: 1280,
            hidden: 128,
            dropout: 0.3,
            num_genres: 20,
        };
        let head = config.init(&device);
        let out = head.forward(Tensor::ones([2, 384], &device), Tensor::ones([2, 1280], &device));
        assert_eq!(out.dims(), [2, 20]);
        assert_eq!(head.num_params(), 384 * 128 + 128 + 1280 * 128 + 128 + (384 + 1280) * 128 + 128 + 128 * 20 + 20);
    }
}

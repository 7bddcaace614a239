//! What the pretrained image backbones share: the design's multi-label head
//! `features -> 1024 -> 128 -> genres` with ReLU and dropout between, and their build (ImageNet
//! weights loaded, backbone frozen unless asked, ImageNet normalisation).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::registry::{read_pretrained, Architecture, BuildRequest, Built, Frozen};
use super::{Classifier, ClassifierConfig, ImageClassifier, ImageModelConfig, ModelConfig};
use crate::error::Result;
use crate::preprocess::image::{ImagePreprocessing, Normalization};

/// The design's head for a pretrained backbone's `features`-wide output (dropout 0.5 unless the
/// user says otherwise), and whether the backbone stays frozen.
pub(crate) fn design_head(request: &BuildRequest, features: usize) -> (ImageHeadConfig, bool) {
    let dropout = request.options.dropout.unwrap_or(0.5);
    let head = MultiLabelHeadConfig::design(features, request.genres.len(), dropout);
    (ImageHeadConfig::MultiLabel(head), !request.options.unfreeze_backbone)
}

/// A pretrained backbone built from `weights`, with ImageNet normalisation; a frozen backbone's
/// weights are hashed so that its cached features are keyed by them.
pub(crate) fn backbone_built(
    request: &BuildRequest,
    architecture: &Architecture,
    config: ImageModelConfig,
    model: ImageClassifier,
    weights: PathBuf,
) -> Result<Built> {
    let frozen_image = match config.frozen_backbone() {
        true => Some(format!("{:?} {}", architecture.name, crate::files::sha256_hex(&read_pretrained(&weights)?))),
        false => None,
    };
    let image =
        ImagePreprocessing { size: request.options.image_size, ..ImagePreprocessing::new(Normalization::IMAGENET) };
    Ok(Built {
        model: Classifier::Image(model),
        config: ModelConfig::Image(config),
        text: None,
        text_part: None,
        text_spec: None,
        image: Some(image),
        branch_thresholds: None,
        frozen: Frozen { text: None, image: frozen_image },
        notes: serde_json::json!({"pretrained": weights}),
    })
}

/// The head's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelHeadConfig {
    /// Width of the backbone features it reads.
    pub input: usize,
    /// Hidden widths, in order (the design: 1024 then 128).
    pub hidden: Vec<usize>,
    /// The number of genres.
    pub num_genres: usize,
    /// Dropout after each hidden layer.
    pub dropout: f64,
}

impl MultiLabelHeadConfig {
    /// The design's head: `input -> 1024 -> 128 -> num_genres`.
    pub fn design(input: usize, num_genres: usize, dropout: f64) -> Self {
        Self { input, hidden: vec![1024, 128], num_genres, dropout }
    }

    /// Builds the head with freshly initialised weights.
    pub fn init(&self, device: &Device) -> MultiLabelHead {
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.num_genres);
        MultiLabelHead {
            layers: widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// Linear layers with ReLU and dropout between them.
#[derive(Module, Debug)]
pub struct MultiLabelHead {
    layers: Vec<Linear>,
    dropout: Dropout,
}

impl MultiLabelHead {
    /// Genre logits `[batch, genres]` from features `[batch, input]`.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(features, |x, (i, layer)| {
            let x = crate::ops::linear(layer, x);
            if i < last {
                self.dropout.forward(relu(x))
            } else {
                x
            }
        })
    }
}

/// A backbone's classifier: ImageNet's single linear layer (for checking ports against their
/// reference) or Marquee's multi-label head.
#[derive(Module, Debug)]
pub enum ImageHead {
    /// One linear layer, as in the ImageNet checkpoints.
    Linear(Linear),
    /// The design's multi-label head.
    MultiLabel(MultiLabelHead),
}

impl ImageHead {
    /// Logits from pooled features.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        match self {
            ImageHead::Linear(linear) => crate::ops::linear(linear, features),
            ImageHead::MultiLabel(head) => head.forward(features),
        }
    }
}

/// Which head a pretrained image model ends in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ImageHeadConfig {
    /// ImageNet's linear classifier with this many classes.
    Imagenet {
        /// Class count (1000).
        classes: usize,
    },
    /// Marquee's multi-label head.
    MultiLabel(MultiLabelHeadConfig),
}

impl ImageHeadConfig {
    /// Builds the head for features of width `input`.
    pub fn init(&self, input: usize, device: &Device) -> ImageHead {
        match self {
            ImageHeadConfig::Imagenet { classes } => ImageHead::Linear(LinearConfig::new(input, *classes).init(device)),
            ImageHeadConfig::MultiLabel(config) => ImageHead::MultiLabel(config.init(device)),
        }
    }

    /// Its outputs: ImageNet's classes or the genres.
    pub fn outputs(&self) -> usize {
        match self {
            ImageHeadConfig::Imagenet { classes } => *classes,
            ImageHeadConfig::MultiLabel(config) => config.num_genres,
        }
    }

    /// Multiply-accumulates of one movie through the head, from features of width `input`.
    pub fn macs(&self, input: usize) -> u64 {
        let widths: Vec<usize> = match self {
            ImageHeadConfig::Imagenet { classes } => vec![input, *classes],
            ImageHeadConfig::MultiLabel(c) => {
                std::iter::once(input).chain(c.hidden.iter().copied()).chain([c.num_genres]).collect()
            }
        };
        widths.windows(2).map(|w| (w[0] * w[1]) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_head_shape_and_count() {
        let device = Device::flex();
        let head = MultiLabelHeadConfig::design(2048, 20, 0.5).init(&device);
        assert_eq!(head.forward(Tensor::zeros([3, 2048], &device)).dims(), [3, 20]);
        assert_eq!(head.num_params(), 2048 * 1024 + 1024 + 1024 * 128 + 128 + 128 * 20 + 20);
    }
}

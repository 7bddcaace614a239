//! ResNet-50 (bottleneck blocks 3-4-6-3, stride on the 3x3 convolution as torchvision does),
//! compatible with torchvision state dicts, with either ImageNet's 1000-class layer or the
//! design's multi-label head `2048 -> 1024 -> 128 -> genres`.
//!
//! The module tree uses torchvision's names (`conv1`, `bn1`, `layer1.0.conv2`, ...), so loading
//! needs only two renamings: `downsample.0/1` and `fc` (see [`load_torchvision`]).

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::head::{backbone_built, design_head, ImageHead, ImageHeadConfig, MultiLabelHeadConfig};
use super::registry::{Architecture, BuildRequest, Built, Pretrained, PretrainedFile, Reads, Recipe, Source};
use super::{ClassifierConfig, GenreClassifier, ImageClassifier, ImageModelConfig, ModelConfig, TensorSource};
use crate::error::Result;
use crate::ops;
use crate::preprocess::image::IMAGE_SIZE;

/// ResNet-50 on torchvision's ImageNet weights, backbone frozen (its features cached), the
/// design's head trained with Adam at 3e-4 and L2 weight decay 1e-4 for up to 20 epochs.
pub const RESNET50: Architecture = Architecture {
    name: "resnet50",
    about: "ResNet-50 on torchvision ImageNet weights with the design's head",
    reads: Reads::Image,
    recipe: Recipe { lr: 3e-4, weight_decay: 1e-4, epochs: 20, ..Recipe::BASE },
    pretrained: Some(Pretrained {
        path: "resnet50/resnet50-11ad3fa6.pth",
        source: Source::Url {
            url: "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
            sha256_prefix: "11ad3fa6",
        },
        files: &[PretrainedFile { path: "resnet50/resnet50-11ad3fa6.pth", sha256: "" }],
    }),
    build,
    bench,
};

fn bench(genres: usize) -> ModelConfig {
    let head = ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(RESNET50_FEATURES, genres, 0.5));
    ModelConfig::Image(ImageModelConfig::Resnet50(ResNetConfig {
        freeze_backbone: false,
        ..ResNetConfig::resnet50(head)
    }))
}

fn build(request: &BuildRequest) -> Result<Built> {
    let (head, freeze_backbone) = design_head(request, RESNET50_FEATURES);
    let config = ResNetConfig { freeze_backbone, ..ResNetConfig::resnet50(head) };
    let weights = request.weights(RESNET50.pretrained);
    let mut model = config.init(request.train_device);
    load_torchvision(&mut model, &weights)?;
    let (config, model) = (ImageModelConfig::Resnet50(config), ImageClassifier::Resnet50(model));
    backbone_built(request, &RESNET50, config, model, weights)
}

/// Width of ResNet-50's pooled features.
pub const RESNET50_FEATURES: usize = 2048;

/// A ResNet-50's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Bottleneck blocks per stage (ResNet-50: 3, 4, 6, 3).
    pub blocks: [usize; 4],
    /// The classifier.
    pub head: ImageHeadConfig,
    /// Keep the backbone's weights (and BatchNorm statistics) fixed during training.
    pub freeze_backbone: bool,
}

impl ResNetConfig {
    /// ResNet-50 with `head`.
    pub fn resnet50(head: ImageHeadConfig) -> Self {
        Self { blocks: [3, 4, 6, 3], head, freeze_backbone: true }
    }
}

impl ClassifierConfig for ResNetConfig {
    type Model = ResNet;

    fn init(&self, device: &Device) -> ResNet {
        let mut in_channels = 64;
        let mut stage = |index: usize| -> Vec<Bottleneck> {
            let width = 64 << index;
            let stride = if index == 0 { 1 } else { 2 };
            (0..self.blocks[index])
                .map(|block| {
                    let b = Bottleneck::new(in_channels, width, if block == 0 { stride } else { 1 }, device);
                    in_channels = width * 4;
                    b
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        let model = ResNet {
            conv1: conv(3, 64, 7, 2, 3, device),
            bn1: BatchNormConfig::new(64).init(device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: self.head.init(RESNET50_FEATURES, device),
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
        resnet_macs(self.blocks) + self.head.macs(RESNET50_FEATURES)
    }

    fn frozen_backbone(&self) -> bool {
        self.freeze_backbone
    }
}

/// Multiply-accumulates of torchvision's ResNet backbone: a 7x7 stem, then bottlenecks (1x1,
/// 3x3 with the stride, 1x1) with a 1x1 projection in each stage's first block.
pub fn resnet_macs(blocks: [usize; 4]) -> u64 {
    let mut side = IMAGE_SIZE as usize / 2;
    let mut macs = side * side * 64 * 3 * 49;
    side /= 2; // max pool
    let mut input = 64;
    for (stage, &count) in blocks.iter().enumerate() {
        let width = 64 << stage;
        let output = width * 4;
        for block in 0..count {
            let stride = if block == 0 && stage > 0 { 2 } else { 1 };
            macs += side * side * width * input;
            let out_side = side / stride;
            macs += out_side * out_side * width * width * 9 + out_side * out_side * output * width;
            if block == 0 {
                macs += out_side * out_side * output * input;
            }
            input = output;
            side = out_side;
        }
    }
    macs as u64
}

fn conv(input: usize, output: usize, kernel: usize, stride: usize, padding: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .with_bias(false)
        .init(device)
}

/// The 1x1 convolution and BatchNorm that match a block's shortcut to its output.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// 1x1 reduce, 3x3 (carrying the stride), 1x1 expand (x4), with a residual connection.
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<Downsample>,
}

impl Bottleneck {
    fn new(input: usize, width: usize, stride: usize, device: &Device) -> Self {
        let output = width * 4;
        let downsample = (stride != 1 || input != output).then(|| Downsample {
            conv: conv(input, output, 1, stride, 0, device),
            bn: BatchNormConfig::new(output).init(device),
        });
        Self {
            conv1: conv(input, width, 1, 1, 0, device),
            bn1: BatchNormConfig::new(width).init(device),
            conv2: conv(width, width, 3, stride, 1, device),
            bn2: BatchNormConfig::new(width).init(device),
            conv3: conv(width, output, 1, 1, 0, device),
            bn3: BatchNormConfig::new(output).init(device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => ops::conv2d_batch_norm(&d.conv, &d.bn, x.clone()),
            None => x.clone(),
        };
        let y = relu(ops::conv2d_batch_norm(&self.conv1, &self.bn1, x));
        let y = relu(ops::conv2d_batch_norm(&self.conv2, &self.bn2, y));
        let y = ops::conv2d_batch_norm(&self.conv3, &self.bn3, y);
        relu(y + shortcut)
    }
}

/// ResNet-50 with its classifier.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    layer1: Vec<Bottleneck>,
    layer2: Vec<Bottleneck>,
    layer3: Vec<Bottleneck>,
    layer4: Vec<Bottleneck>,
    avgpool: AdaptiveAvgPool2d,
    fc: ImageHead,
}

impl GenreClassifier for ResNet {
    type Input = Tensor<4>;

    /// Pooled backbone features `[batch, 2048]` of ImageNet-normalised images.
    fn features(&self, images: &Tensor<4>) -> Tensor<2> {
        self.avgpool.forward(self.feature_map(images)).flatten(1, 3)
    }

    fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }

    fn feature_dim(&self) -> usize {
        RESNET50_FEATURES
    }
}

impl ResNet {
    /// The last stage's output `[batch, 2048, h, w]`, whose spatial mean is the pooled features.
    pub fn feature_map(&self, images: &Tensor<4>) -> Tensor<4> {
        let x = self.maxpool.forward(relu(ops::conv2d_batch_norm(&self.conv1, &self.bn1, images.clone())));
        let stages = [&self.layer1, &self.layer2, &self.layer3, &self.layer4];
        stages.iter().flat_map(|s| s.iter()).fold(x, |x, block| block.forward(x))
    }

    /// Freezes every backbone layer (weights and BatchNorm statistics), leaving the head
    /// trainable.
    pub fn freeze_backbone(mut self) -> Self {
        self.conv1 = self.conv1.freeze();
        self.bn1 = self.bn1.freeze();
        for stage in [&mut self.layer1, &mut self.layer2, &mut self.layer3, &mut self.layer4] {
            *stage = std::mem::take(stage).into_iter().map(Module::freeze).collect();
        }
        self
    }
}

/// torchvision's names to Marquee's: the shortcut's `downsample.0` (conv) and `downsample.1`
/// (BatchNorm); everything else already matches.
const TORCHVISION_RENAMES: [(&str, &str); 2] =
    [(r"\.downsample\.0\.", ".downsample.conv."), (r"\.downsample\.1\.", ".downsample.bn.")];

/// The file keys to read and the model paths that must be loaded: the backbone, plus `fc` when
/// the model keeps ImageNet's classifier.
fn torchvision_scope(model: &ResNet) -> (&'static str, &'static [&'static str]) {
    if matches!(model.fc, ImageHead::Linear(_)) {
        (r"^(conv1|bn1|layer\d|fc)\.", &["conv1.", "bn1.", "layer", "fc."])
    } else {
        (r"^(conv1|bn1|layer\d)\.", &["conv1.", "bn1.", "layer"])
    }
}

/// Loads a torchvision ResNet-50 state dict (`.pth`, or `.safetensors` such as timm's
/// `resnet50.tv2_in1k`) into `model`'s backbone, and into its classifier too when that is
/// ImageNet's. A missing or mis-shaped tensor is an error naming the file and the tensor.
pub fn load_torchvision(model: &mut ResNet, weights: &Path) -> Result<()> {
    let (pattern, scope) = torchvision_scope(model);
    let name = weights.display().to_string();
    super::load_pytorch_tensors(model, TensorSource::File(weights), &TORCHVISION_RENAMES, pattern, scope, &name)
}

/// Loads torchvision-named tensors already in safetensors bytes (used by the parity test and
/// by converters).
pub fn load_torchvision_safetensors_bytes(model: &mut ResNet, bytes: Vec<u8>, name: &str) -> Result<()> {
    let (pattern, scope) = torchvision_scope(model);
    super::load_pytorch_tensors(model, TensorSource::Bytes(bytes), &TORCHVISION_RENAMES, pattern, scope, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parameter_count;

    #[test]
    fn resnet50_parameter_count_with_imagenet_head_is_25_6m() {
        let device = Device::flex();
        let model = ResNetConfig::resnet50(ImageHeadConfig::Imagenet { classes: 1000 }).init(&device);
        assert_eq!(parameter_count(&model), 25_557_032);
    }

    #[test]
    fn design_head_shapes() {
        let device = Device::flex();
        let head = ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(2048, 20, 0.5));
        let model = ResNetConfig::resnet50(head).init(&device).freeze_backbone();
        let images = Tensor::<4>::zeros([1, 3, 64, 64], &device);
        assert_eq!(model.forward(&images).dims(), [1, 20]);
        assert!(!model.conv1.weight.is_require_grad());
    }
}

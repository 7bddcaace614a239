//! SimpleCNN: the design's from-scratch poster classifier. Four blocks of Conv2d(3x3, padding 1,
//! no bias) + BatchNorm + ReLU + MaxPool(2) with 32, 64, 128, 256 channels, global average
//! pooling, dropout and a linear layer to the genres.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::registry::{Architecture, BuildRequest, Built, Frozen, Reads, Recipe};
use super::{Classifier, ClassifierConfig, GenreClassifier, ImageClassifier, ImageModelConfig, ModelConfig};
use crate::error::Result;
use crate::preprocess::image::{ImagePreprocessing, Normalization, IMAGE_SIZE};

/// SimpleCNN from scratch: Adam at 1e-3 with L2 weight decay 1e-4 for up to 10 epochs.
pub const ARCHITECTURE: Architecture = Architecture {
    name: "cnn",
    about: "The design's SimpleCNN on posters, trained from scratch",
    reads: Reads::Image,
    recipe: Recipe { weight_decay: 1e-4, ..Recipe::BASE },
    pretrained: None,
    build,
    bench,
};

fn bench(genres: usize) -> ModelConfig {
    ModelConfig::Image(ImageModelConfig::SimpleCnn(SimpleCnnConfig::new(genres)))
}

fn build(request: &BuildRequest) -> Result<Built> {
    let mut config = SimpleCnnConfig::new(request.genres.len());
    if let Some(dropout) = request.options.dropout {
        config.dropout = dropout;
    }
    let model = config.init(request.train_device);
    Ok(Built {
        model: Classifier::Image(ImageClassifier::SimpleCnn(model)),
        config: ModelConfig::Image(ImageModelConfig::SimpleCnn(config)),
        text: None,
        text_part: None,
        text_spec: None,
        image: Some(ImagePreprocessing {
            size: request.options.image_size,
            ..ImagePreprocessing::new(Normalization::HALF)
        }),
        branch_thresholds: None,
        frozen: Frozen::default(),
        notes: serde_json::Value::Null,
    })
}

/// SimpleCNN's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleCnnConfig {
    /// The number of genres it predicts.
    pub num_genres: usize,
    /// Output channels of the four convolution blocks.
    #[serde(default = "default_channels")]
    pub channels: [usize; 4],
    /// Dropout before the linear layer.
    #[serde(default = "default_dropout")]
    pub dropout: f64,
}

fn default_channels() -> [usize; 4] {
    [32, 64, 128, 256]
}

fn default_dropout() -> f64 {
    0.5
}

impl SimpleCnnConfig {
    /// The design's SimpleCNN for `num_genres` genres.
    pub fn new(num_genres: usize) -> Self {
        Self { num_genres, channels: default_channels(), dropout: default_dropout() }
    }
}

impl ClassifierConfig for SimpleCnnConfig {
    type Model = SimpleCnn;

    fn init(&self, device: &Device) -> SimpleCnn {
        let mut input = 3;
        let blocks = self
            .channels
            .iter()
            .map(|&output| {
                let block = ConvBlock {
                    conv: Conv2dConfig::new([input, output], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_bias(false)
                        .init(device),
                    norm: BatchNormConfig::new(output).init(device),
                    pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                };
                input = output;
                block
            })
            .collect();
        SimpleCnn {
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(input, self.num_genres).init(device),
        }
    }

    fn num_genres(&self) -> usize {
        self.num_genres
    }

    /// Each block's 3x3 convolution at its resolution (224 halved by every pooling), the head.
    fn forward_macs(&self, _tokens: usize) -> u64 {
        let mut side = IMAGE_SIZE as usize;
        let mut input = 3;
        let mut macs = 0;
        for &channels in &self.channels {
            macs += side * side * channels * input * 9;
            input = channels;
            side /= 2;
        }
        (macs + input * self.num_genres) as u64
    }
}

/// Conv2d + BatchNorm + ReLU + MaxPool.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
    pool: MaxPool2d,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        crate::ops::relu_max_pool2d(&self.pool, crate::ops::conv2d_batch_norm(&self.conv, &self.norm, x))
    }
}

/// The SimpleCNN model.
#[derive(Module, Debug)]
pub struct SimpleCnn {
    blocks: Vec<ConvBlock>,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    head: Linear,
}

impl GenreClassifier for SimpleCnn {
    type Input = Tensor<4>;

    /// Pooled features `[batch, 256]` of normalised images `[batch, 3, H, W]`.
    fn features(&self, images: &Tensor<4>) -> Tensor<2> {
        self.pool.forward(self.feature_map(images)).flatten(1, 3)
    }

    fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        crate::ops::linear(&self.head, self.dropout.forward(features))
    }

    fn feature_dim(&self) -> usize {
        self.head.weight.dims()[0]
    }
}

impl SimpleCnn {
    /// The last block's output `[batch, 256, h, w]`, whose spatial mean is the pooled features.
    pub fn feature_map(&self, images: &Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(images.clone(), |x, block| block.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::parameter_count;

    /// PyTorch's count for the same layers: convs without bias (3*32 + 32*64 + 64*128 +
    /// 128*256) * 9, BatchNorm weight and bias 2 * (32 + 64 + 128 + 256), Linear 256 * N + N.
    fn pytorch_count(n: usize) -> usize {
        (3 * 32 + 32 * 64 + 64 * 128 + 128 * 256) * 9 + 2 * (32 + 64 + 128 + 256) + 256 * n + n
    }

    #[test]
    fn parameter_count_equals_pytorch() {
        let device = Device::flex();
        for n in [20, 14] {
            let model = SimpleCnnConfig::new(n).init(&device);
            assert_eq!(parameter_count(&model), pytorch_count(n));
        }
        assert_eq!(pytorch_count(20), 394_036);
    }

    #[test]
    fn forward_shapes() {
        let device = Device::flex();
        let model = SimpleCnnConfig::new(20).init(&device);
        let images = Tensor::<4>::zeros([2, 3, 64, 48], &device);
        assert_eq!(model.features(&images).dims(), [2, 256]);
        assert_eq!(model.forward(&images).dims(), [2, 20]);
    }
}

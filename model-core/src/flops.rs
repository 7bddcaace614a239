//! Multiply-accumulate counts of each architecture's forward pass, from its configuration: what
//! `marquee bench` divides by the measured time to report achieved GFLOP/s (1 MAC = 2 FLOPs).
//! Only the matrix products and convolutions are counted (activations, norms and pooling are
//! a few percent at most); the counts agree with the published ones (ResNet-50 4.09 G,
//! EfficientNet-Lite0 0.38 G, MiniLM-L6 at 128 tokens 1.43 G).

use crate::models::bert::BertConfig;
use crate::models::efficientnet::STAGES;
use crate::models::head::ImageHeadConfig;
use crate::models::lstm::LstmClassifierConfig;
use crate::models::{ImageModelConfig, ModelConfig, TextModelConfig};
use crate::preprocess::image::IMAGE_SIZE;

/// Multiply-accumulates of one movie's forward pass through `model`, for a plot of `tokens`
/// tokens and a 224x224 poster.
pub fn forward_macs(model: &ModelConfig, tokens: usize) -> u64 {
    match model {
        ModelConfig::Text(text) => text_macs(text, tokens),
        ModelConfig::Image(image) => image_macs(image),
        ModelConfig::Fusion(fusion) => {
            let head = &fusion.head;
            let projections = (head.text_input + head.image_input) * head.hidden + 2 * head.hidden * head.num_genres;
            text_macs(&fusion.text, tokens) + image_macs(&fusion.image) + projections as u64
        }
    }
}

fn text_macs(model: &TextModelConfig, tokens: usize) -> u64 {
    match model {
        TextModelConfig::Bert(c) => bert_macs(&c.bert, tokens) + (c.bert.hidden_size * c.num_genres) as u64,
        TextModelConfig::Lstm(c) => lstm_macs(c, tokens),
    }
}

/// A BERT encoder over `tokens` tokens: Q, K, V and output projections, attention scores and
/// their weighted sum, and the feed-forward layer, in every layer.
pub fn bert_macs(c: &BertConfig, tokens: usize) -> u64 {
    let (l, h, i) = (tokens as u64, c.hidden_size as u64, c.intermediate_size as u64);
    c.num_hidden_layers as u64 * (4 * l * h * h + 2 * l * l * h + 2 * l * h * i)
}

/// An LSTM's four gates over input and hidden state, at every step of every layer.
pub fn lstm_macs(c: &LstmClassifierConfig, tokens: usize) -> u64 {
    let directions = if c.bidirectional { 2 } else { 1 };
    let mut input = c.embedding_dim;
    let mut macs = 0;
    for _ in 0..c.layers.max(1) {
        macs += directions * tokens * 4 * c.hidden * (input + c.hidden);
        input = c.hidden * directions;
    }
    (macs + input * c.num_genres) as u64
}

fn image_macs(model: &ImageModelConfig) -> u64 {
    match model {
        ImageModelConfig::SimpleCnn(c) => {
            let mut side = IMAGE_SIZE as usize;
            let mut input = 3;
            let mut macs = 0;
            for &channels in &c.channels {
                macs += side * side * channels * input * 9;
                input = channels;
                side /= 2;
            }
            (macs + input * c.num_genres) as u64
        }
        ImageModelConfig::Resnet50(c) => {
            resnet_macs(c.blocks) + head_macs(&c.head, crate::models::resnet::RESNET50_FEATURES)
        }
        ImageModelConfig::EfficientnetLite0(c) => {
            efficientnet_lite0_macs() + head_macs(&c.head, crate::models::efficientnet::EFFICIENTNET_FEATURES)
        }
    }
}

fn head_macs(head: &ImageHeadConfig, features: usize) -> u64 {
    let widths: Vec<usize> = match head {
        ImageHeadConfig::Imagenet { classes } => vec![features, *classes],
        ImageHeadConfig::MultiLabel(c) => {
            std::iter::once(features).chain(c.hidden.iter().copied()).chain([c.num_genres]).collect()
        }
    };
    widths.windows(2).map(|w| (w[0] * w[1]) as u64).sum()
}

/// torchvision's ResNet: a 7x7 stem, then bottlenecks (1x1, 3x3 with the stride, 1x1) with a
/// 1x1 projection in each stage's first block.
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

/// EfficientNet-Lite0: a 3x3 stem, MBConv blocks (1x1 expansion, depthwise kxk, 1x1
/// projection) and the 1x1 head convolution to 1280 channels.
pub fn efficientnet_lite0_macs() -> u64 {
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
    (macs + side * side * crate::models::efficientnet::EFFICIENTNET_FEATURES * input) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_published_ones() {
        // torchvision documents ResNet-50 at 4.09 GFLOPS (multiply-adds).
        let resnet = resnet_macs([3, 4, 6, 3]) as f64 / 1e9;
        assert!((resnet - 4.09).abs() < 0.01, "{resnet}");
        // EfficientNet-B0's paper: 0.39 G multiply-adds; Lite0 drops squeeze-excitation.
        let lite0 = efficientnet_lite0_macs() as f64 / 1e9;
        assert!((0.37..0.40).contains(&lite0), "{lite0}");
        let minilm = BertConfig::minilm_l6();
        assert_eq!(bert_macs(&minilm, 128), 6 * (4 * 128 * 384 * 384 + 2 * 128 * 128 * 384 + 2 * 128 * 384 * 1536));
    }
}

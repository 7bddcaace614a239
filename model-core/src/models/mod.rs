//! Every architecture, one file each: its config (serde), its module, its forward, and the
//! weight import beside it. This file ties them together: the text, image and fused classifiers
//! that the trainer trains, the bundle stores and the browser runs.

pub mod bert;
pub mod efficientnet;
pub mod fusion;
pub mod head;
pub mod lstm;
pub mod resnet;
pub mod simple_cnn;

use burn::module::Module;
use burn::store::{ApplyResult, ModuleSnapshot};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use bert::{BertClassifier, BertClassifierConfig};
use efficientnet::{EfficientNet, EfficientNetConfig};
use fusion::{FusionHead, FusionHeadConfig, FusionMode};
use lstm::{LstmClassifier, LstmClassifierConfig};
use resnet::{ResNet, ResNetConfig};
use simple_cnn::{SimpleCnn, SimpleCnnConfig};

/// Padded token ids and their mask (1 for real tokens), `[batch, len]` each.
#[derive(Debug, Clone)]
pub struct TextInput {
    /// Token ids.
    pub ids: Tensor<2, Int>,
    /// 1.0 for real tokens, 0.0 for padding.
    pub mask: Tensor<2>,
}

/// One batch of model inputs. A model reads what it needs: the raw inputs, or, for frozen
/// parts, their outputs computed once and cached.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Plots, tokenised.
    pub text: Option<TextInput>,
    /// Posters, normalised, `[batch, 3, 224, 224]`.
    pub images: Option<Tensor<4>>,
    /// The frozen text part's output (a fusion's text branch output).
    pub text_cached: Option<Tensor<2>>,
    /// The frozen image part's output (a frozen backbone's features, or a fusion's image
    /// branch output).
    pub image_cached: Option<Tensor<2>>,
}

/// A text classifier's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TextModelConfig {
    /// An LSTM over words (the baseline or the GloVe LSTM).
    Lstm(LstmClassifierConfig),
    /// A BERT encoder with a head.
    Bert(BertClassifierConfig),
}

impl TextModelConfig {
    /// Builds the classifier with freshly initialised weights.
    pub fn init(&self, device: &Device) -> TextClassifier {
        match self {
            TextModelConfig::Lstm(c) => TextClassifier::Lstm(c.init(device)),
            TextModelConfig::Bert(c) => TextClassifier::Bert(c.init(device)),
        }
    }
}

/// An image classifier's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ImageModelConfig {
    /// The design's SimpleCNN.
    SimpleCnn(SimpleCnnConfig),
    /// ResNet-50 with the design's head.
    Resnet50(ResNetConfig),
    /// EfficientNet-Lite0 with the design's head.
    EfficientnetLite0(EfficientNetConfig),
}

impl ImageModelConfig {
    /// Builds the classifier with freshly initialised weights (a frozen backbone is frozen).
    pub fn init(&self, device: &Device) -> ImageClassifier {
        match self {
            ImageModelConfig::SimpleCnn(c) => ImageClassifier::SimpleCnn(c.init(device)),
            ImageModelConfig::Resnet50(c) => {
                let model = c.init(device);
                ImageClassifier::Resnet50(if c.freeze_backbone { model.freeze_backbone() } else { model })
            }
            ImageModelConfig::EfficientnetLite0(c) => {
                let model = c.init(device);
                ImageClassifier::EfficientnetLite0(if c.freeze_backbone { model.freeze_backbone() } else { model })
            }
        }
    }

    /// Whether the backbone is frozen, so its features can be cached.
    pub fn frozen_backbone(&self) -> bool {
        match self {
            ImageModelConfig::SimpleCnn(_) => false,
            ImageModelConfig::Resnet50(c) => c.freeze_backbone,
            ImageModelConfig::EfficientnetLite0(c) => c.freeze_backbone,
        }
    }
}

/// A fusion model's configuration: both branches and the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// The text branch.
    pub text: TextModelConfig,
    /// The image branch.
    pub image: ImageModelConfig,
    /// The trainable head.
    pub head: FusionHeadConfig,
}

/// Any Marquee model's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelConfig {
    /// Reads the plot only.
    Text(TextModelConfig),
    /// Reads the poster only.
    Image(ImageModelConfig),
    /// Reads both, through two frozen branches.
    Fusion(FusionConfig),
}

impl ModelConfig {
    /// Builds the model with freshly initialised weights.
    pub fn init(&self, device: &Device) -> Classifier {
        match self {
            ModelConfig::Text(c) => Classifier::Text(c.init(device)),
            ModelConfig::Image(c) => Classifier::Image(c.init(device)),
            ModelConfig::Fusion(c) => Classifier::Fusion(FusionClassifier::new(
                c.text.init(device),
                c.image.init(device),
                c.head.init(device),
                c.head.mode,
            )),
        }
    }
}

/// A text classifier.
#[derive(Module, Debug)]
pub enum TextClassifier {
    /// An LSTM over words.
    Lstm(LstmClassifier),
    /// A BERT encoder with a head.
    Bert(BertClassifier),
}

impl TextClassifier {
    /// Pooled features `[batch, feature_dim]`.
    pub fn features(&self, input: &TextInput) -> Tensor<2> {
        match self {
            TextClassifier::Lstm(m) => m.features(input.ids.clone(), input.mask.clone()),
            TextClassifier::Bert(m) => m.features(input.ids.clone(), input.mask.clone()),
        }
    }

    /// Logits from pooled features.
    pub fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        match self {
            TextClassifier::Lstm(m) => m.head_forward(features),
            TextClassifier::Bert(m) => m.head_forward(features),
        }
    }

    /// Genre logits `[batch, genres]`.
    pub fn forward(&self, input: &TextInput) -> Tensor<2> {
        self.head_forward(self.features(input))
    }

    /// The width of the pooled features.
    pub fn feature_dim(&self) -> usize {
        match self {
            TextClassifier::Lstm(m) => m.feature_dim(),
            TextClassifier::Bert(m) => m.feature_dim(),
        }
    }
}

/// An image classifier.
#[derive(Module, Debug)]
pub enum ImageClassifier {
    /// The design's SimpleCNN.
    SimpleCnn(SimpleCnn),
    /// ResNet-50 with the design's head.
    Resnet50(ResNet),
    /// EfficientNet-Lite0 with the design's head.
    EfficientnetLite0(EfficientNet),
}

impl ImageClassifier {
    /// Pooled backbone features `[batch, feature_dim]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            ImageClassifier::SimpleCnn(m) => m.features(images),
            ImageClassifier::Resnet50(m) => m.features(images),
            ImageClassifier::EfficientnetLite0(m) => m.features(images),
        }
    }

    /// Logits from pooled features.
    pub fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        match self {
            ImageClassifier::SimpleCnn(m) => m.head_forward(features),
            ImageClassifier::Resnet50(m) => m.head_forward(features),
            ImageClassifier::EfficientnetLite0(m) => m.head_forward(features),
        }
    }

    /// Genre logits `[batch, genres]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head_forward(self.features(images))
    }

    /// The width of the pooled features.
    pub fn feature_dim(&self) -> usize {
        match self {
            ImageClassifier::SimpleCnn(m) => m.feature_dim(),
            ImageClassifier::Resnet50(_) => resnet::RESNET50_FEATURES,
            ImageClassifier::EfficientnetLite0(_) => efficientnet::EFFICIENTNET_FEATURES,
        }
    }
}

/// Two frozen branches and a trainable fusion head.
#[derive(Module, Debug)]
pub struct FusionClassifier {
    /// The text branch (frozen).
    pub text: TextClassifier,
    /// The image branch (frozen).
    pub image: ImageClassifier,
    /// The trainable head.
    pub head: FusionHead,
    #[module(skip)]
    mode: FusionMode,
}

impl FusionClassifier {
    /// Fuses two branches (frozen here) with a head reading them as `mode` says.
    pub fn new(text: TextClassifier, image: ImageClassifier, head: FusionHead, mode: FusionMode) -> Self {
        Self { text: text.freeze(), image: image.freeze(), head, mode }
    }

    /// What the head reads from the text branch: its logits or its pooled features.
    pub fn text_output(&self, input: &TextInput) -> Tensor<2> {
        match self.mode.uses_features() {
            true => self.text.features(input),
            false => self.text.forward(input),
        }
    }

    /// What the head reads from the image branch: its logits or its pooled features.
    pub fn image_output(&self, images: Tensor<4>) -> Tensor<2> {
        match self.mode.uses_features() {
            true => self.image.features(images),
            false => self.image.forward(images),
        }
    }
}

/// Any Marquee model.
#[derive(Module, Debug)]
pub enum Classifier {
    /// Reads the plot only.
    Text(TextClassifier),
    /// Reads the poster only.
    Image(ImageClassifier),
    /// Reads both.
    Fusion(FusionClassifier),
}

impl Classifier {
    /// Genre logits `[batch, genres]` of a batch, using cached outputs of frozen parts where
    /// the batch has them.
    ///
    /// # Panics
    /// If the batch lacks an input the model needs (the batcher guarantees it).
    pub fn forward(&self, batch: &Batch) -> Tensor<2> {
        let text = || batch.text.as_ref().expect("this model reads plots");
        let images = || batch.images.clone().expect("this model reads posters");
        match self {
            Classifier::Text(m) => m.forward(text()),
            Classifier::Image(m) => match &batch.image_cached {
                Some(features) => m.head_forward(features.clone()),
                None => m.forward(images()),
            },
            Classifier::Fusion(m) => {
                let t = batch.text_cached.clone().unwrap_or_else(|| m.text_output(text()));
                let v = batch.image_cached.clone().unwrap_or_else(|| m.image_output(images()));
                m.head.forward(t, v)
            }
        }
    }
}

/// The number of parameters as PyTorch's `parameters()` counts them: every weight and bias,
/// but not BatchNorm's running statistics, which are buffers (burn's `num_params` counts those
/// too).
pub fn parameter_count<M: ModuleSnapshot>(model: &M) -> usize {
    model
        .collect(None, None, true)
        .iter()
        .filter(|t| !t.name.ends_with("running_mean") && !t.name.ends_with("running_var"))
        .map(|t| t.shape.num_elements())
        .sum()
}

/// Turns a weight import's outcome into an error naming the file and the first tensors that
/// were missing or wrong, so nothing is silently left half-loaded. Only the model's tensors
/// whose path starts with one of `scope` must be loaded (empty: all of them).
pub(crate) fn check_applied(result: &ApplyResult, scope: &[&str], file: &str) -> Result<()> {
    let fail = |reason: String| Error::Weights { file: file.to_string(), reason };
    if let Some(error) = result.errors.first() {
        return Err(fail(format!("{error} ({} tensor error(s) in all)", result.errors.len())));
    }
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| scope.is_empty() || scope.iter().any(|prefix| path.starts_with(prefix)))
        .collect();
    let scope = if scope.is_empty() { "the model".to_string() } else { scope.join(", ") };
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().take(5).copied().collect();
        return Err(fail(format!("{} tensor(s) of {scope} missing, e.g. {}", missing.len(), names.join(", "))));
    }
    if result.applied.is_empty() {
        return Err(fail(format!("no tensor matched {scope}")));
    }
    Ok(())
}

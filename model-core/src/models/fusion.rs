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

use super::registry::{Architecture, BuildRequest, Built, Frozen, Reads, Recipe};
use super::{
    Classifier, ClassifierConfig, GenreClassifier, ImageClassifier, ImageModelConfig, ModelConfig, TextClassifier,
    TextModelConfig,
};
use crate::batch::TextInput;
use crate::error::{Error, Result};
use crate::ops;
use crate::preprocess::image::ImagePreprocessing;
use crate::preprocess::{TextPreprocessor, TextSpec};

/// The fusion of two trained branches (`--text-model`, `--image-model`): the head trains on their
/// cached outputs with Adam at 1e-3 for up to 30 epochs.
pub const ARCHITECTURE: Architecture = Architecture {
    name: "fusion",
    about: "Frozen text and image classifiers fused by a small head",
    reads: Reads::Both,
    recipe: Recipe { epochs: 30, ..Recipe::BASE },
    pretrained: None,
    build,
    bench,
};

/// MiniLM and EfficientNet-Lite0 on pooled features: the default bundle's shape.
fn bench(genres: usize) -> ModelConfig {
    let (ModelConfig::Text(text), ModelConfig::Image(image)) =
        ((super::bert::MINILM.bench)(genres), (super::efficientnet::LITE0.bench)(genres))
    else {
        unreachable!("a text and an image architecture")
    };
    let head = FusionHeadConfig {
        mode: FusionMode::Features,
        text_input: 384,
        image_input: super::efficientnet::EFFICIENTNET_FEATURES,
        hidden: 128,
        dropout: 0.3,
        num_genres: genres,
    };
    ModelConfig::Fusion(FusionConfig { text, image, head })
}

/// A trained classifier a fusion is built on, as its bundle holds it (`Bundle::branch`).
pub struct Branch {
    /// Where it was read from, for messages.
    pub source: String,
    /// Its bundle's name.
    pub name: String,
    /// The genres it predicts, in output order.
    pub genres: Vec<String>,
    /// Its configuration.
    pub config: ModelConfig,
    /// The model, loaded for inference.
    pub model: Classifier,
    /// How plots are tokenised, if it reads them.
    pub text: Option<TextPreprocessor>,
    /// Its tokenizer or vocabulary file (name, bytes) and how the bundle describes it.
    pub text_part: Option<(String, Vec<u8>)>,
    /// The description of that file.
    pub text_spec: Option<TextSpec>,
    /// How posters are preprocessed, if it reads them.
    pub image: Option<ImagePreprocessing>,
    /// Its per-genre thresholds.
    pub thresholds: Vec<f32>,
    /// The sha256 of its weights part: the identity its cached outputs are keyed by.
    pub weights_sha256: String,
}

/// Puts a fresh head on the two branches (trained on the same genres).
fn build(request: &BuildRequest) -> Result<Built> {
    let options = request.options;
    fn given<'a>(branch: Option<&'a Branch>, flag: &str) -> Result<&'a Branch> {
        branch.ok_or_else(|| Error::Config {
            name: "fusion".into(),
            reason: format!("give the branch as {flag} (a bundle folder or a run folder)"),
        })
    }
    let text_branch = given(request.branches.text, "--text-model")?;
    let image_branch = given(request.branches.image, "--image-model")?;
    for (branch, what) in [(text_branch, "text"), (image_branch, "image")] {
        if branch.genres != request.genres {
            return Err(Error::Config {
                name: branch.source.clone(),
                reason: format!(
                    "the {what} branch predicts other genres ({}) than this data's training split ({}): train the branches on the same data and split",
                    branch.genres.join(", "),
                    request.genres.join(", ")
                ),
            });
        }
    }
    let not = |branch: &Branch, what: &str| Error::Config { name: branch.source.clone(), reason: format!("not {what} model") };
    let (ModelConfig::Text(text_config), Classifier::Text(text_model)) =
        (text_branch.config.clone(), text_branch.model.clone())
    else {
        return Err(not(text_branch, "a text"));
    };
    let (ModelConfig::Image(image_config), Classifier::Image(image_model)) =
        (image_branch.config.clone(), image_branch.model.clone())
    else {
        return Err(not(image_branch, "an image"));
    };
    let mode = options.fusion_mode;
    let genres = request.genres.len();
    let (text_input, image_input) = match mode {
        FusionMode::Logits => (genres, genres),
        _ => (text_model.feature_dim(), image_model.feature_dim()),
    };
    let head = FusionHeadConfig {
        mode,
        text_input,
        image_input,
        hidden: 128,
        dropout: options.dropout.unwrap_or(0.3),
        num_genres: genres,
    };
    let fusion = FusionClassifier::new(text_model, image_model, head.init(request.train_device), mode);
    let missing = |branch: &Branch, what: &str| Error::Config {
        name: branch.source.clone(),
        reason: format!("the branch has no {what}"),
    };
    let text = text_branch.text.clone().ok_or_else(|| missing(text_branch, "tokenizer"))?;
    let image = image_branch.image.ok_or_else(|| missing(image_branch, "image preprocessing"))?;
    Ok(Built {
        model: Classifier::Fusion(fusion),
        config: ModelConfig::Fusion(FusionConfig { text: text_config, image: image_config, head }),
        text: Some(text),
        text_part: text_branch.text_part.clone(),
        text_spec: text_branch.text_spec.clone(),
        image: Some(image),
        branch_thresholds: Some(BranchThresholds {
            text: text_branch.thresholds.clone(),
            image: image_branch.thresholds.clone(),
        }),
        frozen: Frozen { text: Some(text_branch.weights_sha256.clone()), image: Some(image_branch.weights_sha256.clone()) },
        notes: serde_json::json!({"text_branch": text_branch.name, "image_branch": image_branch.name}),
    })
}

/// Per-genre thresholds of each branch of a fusion model, used when one input is missing and
/// the other branch answers alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchThresholds {
    /// The text branch's thresholds.
    pub text: Vec<f32>,
    /// The image branch's thresholds.
    pub image: Vec<f32>,
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

impl ClassifierConfig for FusionConfig {
    type Model = FusionClassifier;

    fn init(&self, device: &Device) -> FusionClassifier {
        FusionClassifier::new(self.text.init(device), self.image.init(device), self.head.init(device), self.head.mode)
    }

    fn num_genres(&self) -> usize {
        self.head.num_genres
    }

    /// Both branches and the head's projections.
    fn forward_macs(&self, tokens: usize) -> u64 {
        let head = &self.head;
        let projections = (head.text_input + head.image_input) * head.hidden + 2 * head.hidden * head.num_genres;
        self.text.forward_macs(tokens) + self.image.forward_macs(tokens) + projections as u64
    }

    fn vocab_size(&self) -> Option<usize> {
        self.text.vocab_size()
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

    /// What the head reads: the branches' logits or their pooled features.
    pub fn mode(&self) -> FusionMode {
        self.mode
    }

    /// What the head reads from the text branch: its logits or its pooled features.
    pub fn text_output(&self, input: &TextInput) -> Tensor<2> {
        match self.mode.uses_features() {
            true => self.text.features(input),
            false => self.text.forward(input),
        }
    }

    /// The fused logits, then the text branch's and the image branch's own logits, side by side
    /// (`[batch, 3 × genres]`); each branch's body runs once, the two side by side where
    /// [`kernels::parallel::join`] runs them so (natively and in the threaded browser package).
    pub fn forward_with_branches(&self, text: &TextInput, images: &Tensor<4>) -> Tensor<2> {
        let (text_features, image_features) =
            kernels::parallel::join(|| self.text.features(text), || self.image.features(images));
        let text_logits = self.text.head_forward(text_features.clone());
        let image_logits = self.image.head_forward(image_features.clone());
        let fused = match self.mode.uses_features() {
            true => self.head.forward(text_features, image_features),
            false => self.head.forward(text_logits.clone(), image_logits.clone()),
        };
        Tensor::cat(vec![fused, text_logits, image_logits], 1)
    }

    /// What the head reads from the image branch: its logits or its pooled features.
    pub fn image_output(&self, images: &Tensor<4>) -> Tensor<2> {
        match self.mode.uses_features() {
            true => self.image.features(images),
            false => self.image.forward(images),
        }
    }
}

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

impl std::str::FromStr for FusionMode {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        match name {
            "logits" => Ok(FusionMode::Logits),
            "features" => Ok(FusionMode::Features),
            "gmu" => Ok(FusionMode::Gmu),
            _ => Err(format!("unknown fusion mode '{name}' (logits, features or gmu)")),
        }
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

impl FusionHead {
    /// The output layer's two halves for the heads that concatenate their projections (not the
    /// gated unit): the text side's and the image side's part of each genre logit
    /// `[batch, genres]`, and the output bias `[1, genres]`; their sum is
    /// [`FusionHead::forward`]'s result (at inference).
    pub fn sides(&self, text: Tensor<2>, image: Tensor<2>) -> Option<(Tensor<2>, Tensor<2>, Tensor<2>)> {
        if self.gate.is_some() {
            return None;
        }
        let t = relu(ops::linear(&self.text_projection, text));
        let v = relu(ops::linear(&self.image_projection, image));
        let hidden = t.dims()[1];
        let weight = self.output.weight.val();
        let [_, genres] = weight.dims();
        let text_side = t.matmul(weight.clone().narrow(0, 0, hidden));
        let image_side = v.matmul(weight.narrow(0, hidden, hidden));
        let bias = match &self.output.bias {
            Some(bias) => bias.val().reshape([1, genres]),
            None => Tensor::zeros([1, genres], &text_side.device()),
        };
        Some((text_side, image_side, bias))
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

//! Every architecture, one file each: its config with defaults, its module and forward, its
//! weight import, and its [`registry::Architecture`] (training recipe, pretrained weights, how
//! it is built). This file ties them together through two traits, [`GenreClassifier`] for the
//! modules and [`ClassifierConfig`] for their configs, and the registry's list (`registry!`), one
//! line a model, which makes the text and image model enums the trainer trains, the bundle
//! stores and the browser runs, and [`ARCHITECTURES`].

pub mod head;
pub mod registry;

use burn::module::Module;
use std::path::Path;

use burn::store::{ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, TextInput};
use crate::error::{Error, Result};
pub use fusion::{FusionClassifier, FusionConfig};
use registry::Reads;

/// What every classifier shares: a body that pools its input into features, and a head that
/// turns features into genre logits.
pub trait GenreClassifier {
    /// What it reads: [`TextInput`] or a batch of images `[batch, 3, side, side]`.
    type Input;

    /// Pooled features `[batch, feature_dim]`.
    fn features(&self, input: &Self::Input) -> Tensor<2>;

    /// The head alone: logits `[batch, outputs]` from pooled features.
    fn head_forward(&self, features: Tensor<2>) -> Tensor<2>;

    /// The width of the pooled features.
    fn feature_dim(&self) -> usize;

    /// Logits `[batch, outputs]`.
    fn forward(&self, input: &Self::Input) -> Tensor<2> {
        self.head_forward(self.features(input))
    }
}

/// What every classifier's configuration shares.
pub trait ClassifierConfig {
    /// The module it builds.
    type Model;

    /// Builds the model with freshly initialised weights (a frozen backbone comes frozen).
    fn init(&self, device: &Device) -> Self::Model;

    /// The number of outputs (genres).
    fn num_genres(&self) -> usize;

    /// Multiply-accumulates of one movie's forward pass (matrix products and convolutions),
    /// for a plot of `tokens` tokens and a 224x224 poster: what `marquee bench` divides by
    /// the time to report GFLOP/s.
    fn forward_macs(&self, tokens: usize) -> u64;

    /// Whether the backbone is frozen, so its features can be computed once and cached.
    fn frozen_backbone(&self) -> bool {
        false
    }

    /// The token vocabulary, for models that read plots.
    fn vocab_size(&self) -> Option<usize> {
        None
    }
}

/// Declares the text or image model enums (config and module) over each architecture's own
/// types, with [`ClassifierConfig`] and [`GenreClassifier`] forwarded to the variant.
macro_rules! classifiers {
    (
        $(#[$config_doc:meta])* $config:ident => $(#[$model_doc:meta])* $model:ident reads $input:ty {
            $( $(#[$doc:meta])* $variant:ident($module:ty, $variant_config:ty), )*
        }
    ) => {
        $(#[$config_doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "kebab-case")]
        pub enum $config {
            $( $(#[$doc])* $variant($variant_config), )*
        }

        impl ClassifierConfig for $config {
            type Model = $model;

            fn init(&self, device: &Device) -> $model {
                match self { $( $config::$variant(c) => $model::$variant(c.init(device)), )* }
            }

            fn num_genres(&self) -> usize {
                match self { $( $config::$variant(c) => c.num_genres(), )* }
            }

            fn forward_macs(&self, tokens: usize) -> u64 {
                match self { $( $config::$variant(c) => c.forward_macs(tokens), )* }
            }

            fn frozen_backbone(&self) -> bool {
                match self { $( $config::$variant(c) => c.frozen_backbone(), )* }
            }

            fn vocab_size(&self) -> Option<usize> {
                match self { $( $config::$variant(c) => c.vocab_size(), )* }
            }
        }

        $(#[$model_doc])*
        #[derive(Module, Debug)]
        #[allow(clippy::large_enum_variant)] // a handful of models per process; variants differ by nature
        pub enum $model {
            $( $(#[$doc])* $variant($module), )*
        }

        impl GenreClassifier for $model {
            type Input = $input;

            fn features(&self, input: &$input) -> Tensor<2> {
                match self { $( $model::$variant(m) => m.features(input), )* }
            }

            fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
                match self { $( $model::$variant(m) => m.head_forward(features), )* }
            }

            fn feature_dim(&self) -> usize {
                match self { $( $model::$variant(m) => m.feature_dim(), )* }
            }
        }
    };
}

/// The registry's list: every model, one line each: its file (module) in this folder, its
/// variant of the text or image enums (its module and config types) and the
/// [`registry::Architecture`]s trained on it. Adding a model is its file in this folder and one
/// line here. Beside [`GenreClassifier`] and [`ClassifierConfig`], a text model has inherent
/// `embed_words` and `features_embedded` methods and an image model a `feature_map` method (what
/// explanations attribute to).
macro_rules! registry {
    (
        text { $( $(#[$text_doc:meta])* $text_file:ident::$text:ident($text_module:ident, $text_config:ident) => [$($text_arch:ident),+], )* }
        image { $( $(#[$image_doc:meta])* $image_file:ident::$image:ident($image_module:ident, $image_config:ident) => [$($image_arch:ident),+], )* }
        $fusion_file:ident => [$($fusion_arch:ident),+],
    ) => {
        $( pub mod $text_file; )*
        $( pub mod $image_file; )*
        pub mod $fusion_file;

        classifiers! {
            /// A text classifier's configuration.
            TextModelConfig =>
            /// A text classifier.
            TextClassifier reads TextInput {
                $( $(#[$text_doc])* $text($text_file::$text_module, $text_file::$text_config), )*
            }
        }

        classifiers! {
            /// An image classifier's configuration.
            ImageModelConfig =>
            /// An image classifier.
            ImageClassifier reads Tensor<4> {
                $( $(#[$image_doc])* $image($image_file::$image_module, $image_file::$image_config), )*
            }
        }

        impl TextClassifier {
            /// The word embeddings of token ids `[batch, len, dim]`: what explanations attribute to.
            pub fn embed_words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
                match self { $( TextClassifier::$text(m) => m.embed_words(ids), )* }
            }

            /// Pooled features from word embeddings (as [`TextClassifier::embed_words`] gives
            /// them) and their mask.
            pub fn features_embedded(&self, words: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
                match self { $( TextClassifier::$text(m) => m.features_embedded(words, mask), )* }
            }
        }

        impl ImageClassifier {
            /// The backbone's last feature map `[batch, channels, h, w]`; its spatial mean is
            /// [`GenreClassifier::features`] (what poster heat maps attribute to).
            pub fn feature_map(&self, images: &Tensor<4>) -> Tensor<4> {
                match self { $( ImageClassifier::$image(m) => m.feature_map(images), )* }
            }
        }

        /// Every model, in the order the CLI lists them.
        pub const ARCHITECTURES: &[registry::Architecture] = &[
            $($($text_file::$text_arch,)+)* $($($image_file::$image_arch,)+)* $($fusion_file::$fusion_arch,)+
        ];
    };
}

registry! {
    text {
        /// An LSTM over words (the baseline or the GloVe LSTM).
        lstm::Lstm(LstmClassifier, LstmClassifierConfig) => [BASELINE, GLOVE],
        /// A BERT encoder with a head.
        bert::Bert(BertClassifier, BertClassifierConfig) => [MINILM],
    }
    image {
        /// The design's SimpleCNN.
        simple_cnn::SimpleCnn(SimpleCnn, SimpleCnnConfig) => [ARCHITECTURE],
        /// ResNet-50 with the design's head.
        resnet::Resnet50(ResNet, ResNetConfig) => [RESNET50],
        /// EfficientNet-Lite0 with the design's head.
        efficientnet::EfficientnetLite0(EfficientNet, EfficientNetConfig) => [LITE0],
    }
    fusion => [ARCHITECTURE],
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
            ModelConfig::Fusion(c) => Classifier::Fusion(c.init(device)),
        }
    }

    /// What the model reads.
    pub fn reads(&self) -> Reads {
        match self {
            ModelConfig::Text(_) => Reads::Text,
            ModelConfig::Image(_) => Reads::Image,
            ModelConfig::Fusion(_) => Reads::Both,
        }
    }

    /// The number of outputs (genres).
    pub fn num_genres(&self) -> usize {
        match self {
            ModelConfig::Text(c) => c.num_genres(),
            ModelConfig::Image(c) => c.num_genres(),
            ModelConfig::Fusion(c) => c.num_genres(),
        }
    }

    /// Multiply-accumulates of one movie's forward pass (see [`ClassifierConfig::forward_macs`]).
    pub fn forward_macs(&self, tokens: usize) -> u64 {
        match self {
            ModelConfig::Text(c) => c.forward_macs(tokens),
            ModelConfig::Image(c) => c.forward_macs(tokens),
            ModelConfig::Fusion(c) => c.forward_macs(tokens),
        }
    }

    /// The token vocabulary, for models that read plots.
    pub fn vocab_size(&self) -> Option<usize> {
        match self {
            ModelConfig::Text(c) => c.vocab_size(),
            ModelConfig::Image(_) => None,
            ModelConfig::Fusion(c) => c.vocab_size(),
        }
    }
}

/// Any Marquee model.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a handful of models per process; variants differ by nature
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
        let images = || batch.images.as_ref().expect("this model reads posters");
        match self {
            Classifier::Text(m) => m.forward(text()),
            Classifier::Image(m) => match &batch.image_cached {
                Some(features) => m.head_forward(features.clone()),
                None => m.forward(images()),
            },
            Classifier::Fusion(m) => {
                // Side by side natively and in the threaded browser package (the image branch is
                // the shorter).
                let (t, v) = kernels::parallel::join(
                    || batch.text_cached.clone().unwrap_or_else(|| m.text_output(text())),
                    || batch.image_cached.clone().unwrap_or_else(|| m.image_output(images())),
                );
                m.head.forward(t, v)
            }
        }
    }

    /// For a fusion model, its logits and then its text and image branches' own logits
    /// (`[batch, 3 × genres]`, see [`FusionClassifier::forward_with_branches`]); for any other
    /// model, [`Classifier::forward`].
    pub fn forward_with_branches(&self, batch: &Batch) -> Tensor<2> {
        match self {
            Classifier::Fusion(m) => m.forward_with_branches(
                batch.text.as_ref().expect("this model reads plots"),
                batch.images.as_ref().expect("this model reads posters"),
            ),
            model => model.forward(batch),
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

/// Where a model's pretrained tensors come from, under PyTorch's names.
pub(crate) enum TensorSource<'a> {
    /// A `.safetensors` file, or otherwise a `.pth` (read by burn-store's pickle reader, which
    /// never executes code; it needs the `pytorch` feature).
    File(&'a Path),
    /// Safetensors bytes in memory, named in errors by the given name.
    Bytes(Vec<u8>),
}

/// The one chain every pretrained import goes through: reads the tensors of `source` whose
/// names, after the `renames` (regex, replacement), match `pattern`, loads them into `model`, and
/// checks that every tensor of `model` under a prefix of `scope` (all, when empty) was loaded
/// with the right shape. `name` names the source in errors.
pub(crate) fn load_pytorch_tensors<M: ModuleSnapshot>(
    model: &mut M,
    source: TensorSource,
    renames: &[(&str, &str)],
    pattern: &str,
    scope: &[&str],
    name: &str,
) -> Result<()> {
    let fail = |reason: String| Error::Weights { file: name.to_string(), reason };
    let remapper = KeyRemapper::from_patterns(renames.to_vec()).map_err(|e| fail(e.to_string()))?;
    let safetensors = |store: SafetensorsStore| {
        store
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(remapper.clone())
            .with_regex(pattern)
            .skip_enum_variants(true)
            .allow_partial(true)
    };
    let result = match source {
        TensorSource::File(path) if !path.is_file() => {
            return Err(fail("file not found (scripts/fetch-pretrained.sh fetches the default weights)".into()))
        }
        TensorSource::File(path) if path.extension().is_some_and(|e| e == "safetensors") => {
            model.load_from(&mut safetensors(SafetensorsStore::from_file(path)))
        }
        TensorSource::File(path) => return load_pth(model, path, remapper, pattern, scope, name),
        TensorSource::Bytes(bytes) => model.load_from(&mut safetensors(SafetensorsStore::from_bytes(Some(bytes)))),
    };
    check_applied(&result.map_err(|e| fail(e.to_string()))?, scope, name)
}

/// [`load_pytorch_tensors`] from a `.pth` file.
#[cfg(feature = "pytorch")]
fn load_pth<M: ModuleSnapshot>(
    model: &mut M,
    path: &Path,
    remapper: KeyRemapper,
    pattern: &str,
    scope: &[&str],
    name: &str,
) -> Result<()> {
    let mut store = burn::store::PytorchStore::from_file(path)
        .remap(remapper)
        .with_regex(pattern)
        .skip_enum_variants(true)
        .allow_partial(true);
    let result =
        model.load_from(&mut store).map_err(|e| Error::Weights { file: name.to_string(), reason: e.to_string() })?;
    check_applied(&result, scope, name)
}

/// Without the `pytorch` feature, `.pth` files are refused.
#[cfg(not(feature = "pytorch"))]
fn load_pth<M: ModuleSnapshot>(_: &mut M, _: &Path, _: KeyRemapper, _: &str, _: &[&str], name: &str) -> Result<()> {
    Err(Error::Weights {
        file: name.to_string(),
        reason: "this build reads .safetensors weights only (`.pth` needs model-core's `pytorch` feature)".into(),
    })
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
    if result.applied.is_empty() {
        return Err(fail(format!(
            "holds none of the {} tensor(s) of {scope}: it is not weights for this model (nothing in it was run)",
            missing.len()
        )));
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().take(5).copied().collect();
        return Err(fail(format!("{} tensor(s) of {scope} missing, e.g. {}", missing.len(), names.join(", "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_macs_match_the_published_counts() {
        let bench = |name| (registry::architecture(name).unwrap().bench)(20).forward_macs(128) as f64 / 1e9;
        // torchvision documents ResNet-50 at 4.09 GFLOPS (multiply-adds), the head adds 2.2 M.
        assert!((bench("resnet50") - 4.09).abs() < 0.01, "{}", bench("resnet50"));
        // EfficientNet-B0's paper: 0.39 G multiply-adds; Lite0 drops squeeze-excitation.
        assert!((0.37..0.40).contains(&bench("efficientnet-lite0")), "{}", bench("efficientnet-lite0"));
        // MiniLM-L6 at 128 tokens: 1.43 G.
        assert!((bench("bert") - 1.43).abs() < 0.01, "{}", bench("bert"));
    }
}

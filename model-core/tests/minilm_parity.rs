//! The BERT port is exact: with the real all-MiniLM-L6-v2 weights, burn's encoder gives
//! PyTorch/transformers' token representations (fixture made by
//! `scripts/reference/minilm_reference.py`) to 1e-4 relative error, and the tokenizer gives the
//! same ids.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{fixture, floats, relative_error};
use model_core::models::bert::{self, masked_mean, BertConfig};
use model_core::preprocess::text::BertTokenizer;
use tests::pretrained;

#[test]
fn minilm_matches_transformers() {
    let reference = fixture("minilm_reference.json");
    let dir = pretrained("all-MiniLM-L6-v2");
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let device = Device::flex();
    let mut encoder = config.init(&device);
    bert::load_pretrained(&mut encoder, &dir.join("model.safetensors")).unwrap();
    let encoder = encoder.valid();
    assert_eq!(encoder.num_params(), reference["parameter_count_without_pooler"].as_u64().unwrap() as usize);
    assert_eq!(reference["parameter_count"], 22_713_216, "22.7M with the pooler the checkpoint ships");

    let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"), 512).unwrap();
    for case in reference["sentences"].as_array().unwrap() {
        let sentence = case["sentence"].as_str().unwrap();
        let ids = tokenizer.encode(sentence).unwrap();
        let expected_ids: Vec<u32> =
            case["input_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(ids, expected_ids, "token ids of {sentence:?}");

        let len = ids.len();
        let input = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>(), [1, len]),
            &device,
        );
        let mask = Tensor::<2>::ones([1, len], &device);
        let hidden = encoder.forward(input, mask.clone());
        let pooled = masked_mean(hidden.clone(), mask, 1, len, 384).into_data().try_to_vec::<f32>().unwrap();
        let hidden = hidden.into_data().try_to_vec::<f32>().unwrap();
        let expected: Vec<f32> = case["last_hidden_state"].as_array().unwrap().iter().flat_map(floats).collect();
        let error = relative_error(&hidden, &expected);
        println!("{sentence:?}: {len} tokens, relative error {error:.2e}");
        assert!(error < 1e-4, "last_hidden_state of {sentence:?}: relative error {error:.2e}");
        let error = relative_error(&pooled, &floats(&case["mean_pooled"]));
        assert!(error < 1e-4, "mean pooled {sentence:?}: relative error {error:.2e}");
    }
}

#[test]
fn a_truncated_weights_file_names_the_file() {
    let dir = pretrained("all-MiniLM-L6-v2");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let mut encoder = config.init(&Device::flex());
    let err = bert::load_pretrained_bytes(&mut encoder, bytes[..bytes.len() / 2].to_vec(), "cut.safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("weights cut.safetensors: "), "{err}");
}

#[test]
fn a_mismatched_checkpoint_names_the_tensor() {
    let dir = pretrained("all-MiniLM-L6-v2");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    // A wider model than the checkpoint: every shape is off, and the message says which.
    let wider = BertConfig { hidden_size: 768, intermediate_size: 3072, ..config };
    let mut encoder = wider.init(&Device::flex());
    let err = bert::load_pretrained_bytes(&mut encoder, bytes, "minilm.safetensors").unwrap_err().to_string();
    assert!(err.starts_with("weights minilm.safetensors: "), "{err}");
    assert!(err.contains("embeddings.") || err.contains("encoder."), "names a tensor: {err}");
}

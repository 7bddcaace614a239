//! The ResNet-50 port is exact: torchvision's `resnet50()` with every tensor set by a
//! deterministic formula (`scripts/reference/resnet50_reference.py`) and burn's port loading
//! the same tensors under torchvision's names give the same logits to 1e-4 relative error.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::{fixture, floats, relative_error};
use model_core::models::head::ImageHeadConfig;
use model_core::models::parameter_count;
use model_core::models::resnet::{load_torchvision_safetensors_bytes, ResNetConfig};

/// The reference's formula for tensor `k` (in state-dict order) named `name`.
fn tensor_values(k: usize, name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|j| {
            let base = (0.001 * j as f64 * (k + 1) as f64 + k as f64).sin();
            let value = if shape.len() == 4 {
                base * (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt()
            } else if name == "fc.weight" {
                base * (3.0f64 / 2048.0).sqrt()
            } else if name == "fc.bias" {
                0.01 * base
            } else if name.ends_with("running_var") {
                1.0 + 0.5 * base.abs()
            } else if name.ends_with("weight") {
                1.0 + 0.1 * base
            } else {
                // BatchNorm bias and running_mean.
                0.1 * base
            };
            value as f32
        })
        .collect()
}

/// A safetensors file holding `tensors` (name, shape, f32 values).
fn safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let end = offset + values.len() * 4;
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).unwrap();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    for (_, _, values) in tensors {
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes
}

#[test]
fn resnet50_matches_torchvision() {
    let reference = fixture("resnet50_reference.json");
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = reference["keys"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(k, entry)| {
            let name = entry["name"].as_str().unwrap().to_string();
            let shape: Vec<usize> = entry["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            let values = tensor_values(k, &name, &shape);
            (name, shape, values)
        })
        .collect();
    let device = Device::flex();
    let mut model = ResNetConfig::resnet50(ImageHeadConfig::Imagenet { classes: 1000 }).init(&device);
    load_torchvision_safetensors_bytes(&mut model, safetensors(&tensors), "formula.safetensors").unwrap();
    let model = model.valid();
    assert_eq!(parameter_count(&model) as u64, reference["parameter_count"].as_u64().unwrap());
    assert_eq!(parameter_count(&model), 25_557_032, "25.6M parameters");

    let input: Vec<f32> = (0..3 * 224 * 224).map(|j| (0.01 * j as f64).sin() as f32).collect();
    let images = Tensor::<4>::from_data(TensorData::new(input, [1, 3, 224, 224]), &device);
    let features = model.features(images.clone()).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&features, &floats(&reference["features"]));
    println!("pooled features: relative error {error:.2e}");
    assert!(error < 1e-4, "features: relative error {error:.2e}");
    let logits = model.forward(images).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&logits, &floats(&reference["logits"]));
    println!("logits: relative error {error:.2e}");
    assert!(error < 1e-4, "logits: relative error {error:.2e}");
}

#[test]
fn a_missing_tensor_is_named() {
    let device = Device::flex();
    let mut model = ResNetConfig::resnet50(ImageHeadConfig::Imagenet { classes: 1000 }).init(&device);
    let only_stem = safetensors(&[("conv1.weight".into(), vec![64, 3, 7, 7], vec![0.0; 64 * 147])]);
    let err = load_torchvision_safetensors_bytes(&mut model, only_stem, "partial.safetensors").unwrap_err().to_string();
    assert!(err.starts_with("weights partial.safetensors: "), "{err}");
    assert!(err.contains("missing, e.g."), "{err}");
}

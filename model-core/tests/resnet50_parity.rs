//! The ResNet-50 port is exact: torchvision's `resnet50()` with every tensor set by a
//! deterministic formula (`scripts/reference/resnet50_reference.py`) and burn's port loading
//! the same tensors under torchvision's names give the same features and logits to 1e-4
//! relative error.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::{floats, relative_error};
use model_core::models::head::{ImageHeadConfig, MultiLabelHeadConfig};
use model_core::models::resnet::{load_torchvision_safetensors_bytes, ResNetConfig};
use model_core::models::{parameter_count, ClassifierConfig, GenreClassifier};
use tests::reference::{resnet50_fixture, resnet50_formula_tensors, safetensors};

fn input(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..3 * 224 * 224).map(|j| (0.01 * j as f64).sin() as f32).collect();
    Tensor::<4>::from_data(TensorData::new(values, [1, 3, 224, 224]), device)
}

#[test]
fn resnet50_matches_torchvision() {
    let reference = resnet50_fixture();
    let device = Device::flex();
    let mut model = ResNetConfig::resnet50(ImageHeadConfig::Imagenet { classes: 1000 }).init(&device);
    load_torchvision_safetensors_bytes(&mut model, safetensors(&resnet50_formula_tensors()), "formula.safetensors")
        .unwrap();
    let model = model.valid();
    assert_eq!(parameter_count(&model) as u64, reference["parameter_count"].as_u64().unwrap());
    assert_eq!(parameter_count(&model), 25_557_032, "25.6M parameters");

    let features = model.features(&input(&device)).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&features, &floats(&reference["features"]));
    println!("pooled features: relative error {error:.2e}");
    assert!(error < 1e-4, "features: relative error {error:.2e}");
    let logits = model.forward(&input(&device)).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&logits, &floats(&reference["logits"]));
    println!("logits: relative error {error:.2e}");
    assert!(error < 1e-4, "logits: relative error {error:.2e}");
}

#[test]
fn the_backbone_loads_under_the_design_head() {
    let reference = resnet50_fixture();
    let head = ImageHeadConfig::MultiLabel(MultiLabelHeadConfig::design(2048, 20, 0.5));
    let device = Device::flex();
    let mut model = ResNetConfig::resnet50(head).init(&device);
    load_torchvision_safetensors_bytes(&mut model, safetensors(&resnet50_formula_tensors()), "formula.safetensors")
        .unwrap();
    let features = model.valid().features(&input(&device)).into_data().try_to_vec::<f32>().unwrap();
    assert!(relative_error(&features, &floats(&reference["features"])) < 1e-4);
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

//! EfficientNet-Lite0 with its real ImageNet weights (read from the legacy torch pickle without
//! executing it): the network matches the PyTorch reference on a synthetic input to 1e-4, and
//! real photos that scikit-image ships get the right ImageNet class through Marquee's own
//! preprocessing (chelsea is a tabby, tiger or Egyptian cat; coffee an espresso, cup or mug).

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::{fixture, floats, relative_error};
use model_core::models::efficientnet::{load_pretrained, EfficientNet, EfficientNetConfig};
use model_core::models::head::ImageHeadConfig;
use model_core::models::{parameter_count, ClassifierConfig, GenreClassifier};
use model_core::preprocess::image::{ImagePreprocessing, Normalization};
use tests::pretrained;

fn imagenet_model(device: &Device) -> EfficientNet {
    let mut model =
        EfficientNetConfig { head: ImageHeadConfig::Imagenet { classes: 1000 }, freeze_backbone: false }.init(device);
    load_pretrained(&mut model, &pretrained("efficientnet-lite0/efficientnet-lite0-57934424.pth")).unwrap();
    model.valid()
}

fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

#[test]
fn synthetic_input_matches_pytorch() {
    let reference = fixture("efficientnet_lite0_reference.json");
    let device = Device::flex();
    let model = imagenet_model(&device);
    assert_eq!(parameter_count(&model) as u64, reference["parameter_count"].as_u64().unwrap());
    let input: Vec<f32> = (0..3 * 224 * 224).map(|j| (0.01 * j as f64).sin() as f32).collect();
    let images = Tensor::<4>::from_data(TensorData::new(input, [1, 3, 224, 224]), &device);
    let logits = model.forward(&images).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&logits, &floats(&reference["synthetic_input"]["logits"]));
    println!("synthetic input: relative error {error:.2e}");
    assert!(error < 1e-4, "relative error {error:.2e}");
}

#[test]
fn real_photos_get_their_imagenet_class() {
    let device = Device::flex();
    let model = imagenet_model(&device);
    let preprocessing = ImagePreprocessing::new(Normalization::IMAGENET);
    // ImageNet classes: 281 tabby, 282 tiger cat, 285 Egyptian cat; 967 espresso, 968 cup,
    // 504 coffee mug.
    for (image, classes) in [("chelsea", [281, 282, 285]), ("coffee", [967, 968, 504])] {
        let bytes = std::fs::read(pretrained(&format!("images/{image}.png"))).unwrap();
        let chw = preprocessing.apply(&bytes, image).unwrap();
        let images = Tensor::<4>::from_data(TensorData::new(chw, [1, 3, 224, 224]), &device);
        let logits = model.forward(&images).into_data().try_to_vec::<f32>().unwrap();
        let top = argmax(&logits);
        println!("{image}: top-1 class {top} (logit {:.3})", logits[top]);
        assert!(classes.contains(&top), "{image}: top-1 class {top}, expected one of {classes:?}");
    }
}

#[test]
fn the_backbone_loads_under_the_design_head() {
    let reference = fixture("efficientnet_lite0_reference.json");
    let head = ImageHeadConfig::MultiLabel(model_core::models::head::MultiLabelHeadConfig::design(1280, 20, 0.5));
    let device = Device::flex();
    let mut model = EfficientNetConfig { head, freeze_backbone: true }.init(&device);
    load_pretrained(&mut model, &pretrained("efficientnet-lite0/efficientnet-lite0-57934424.pth")).unwrap();
    let input: Vec<f32> = (0..3 * 224 * 224).map(|j| (0.01 * j as f64).sin() as f32).collect();
    let images = Tensor::<4>::from_data(TensorData::new(input, [1, 3, 224, 224]), &device);
    let features = model.valid().features(&images).into_data().try_to_vec::<f32>().unwrap();
    let error = relative_error(&features, &floats(&reference["synthetic_input"]["features"]));
    assert!(error < 1e-4, "features: relative error {error:.2e}");
}

#[test]
fn a_truncated_pth_names_the_file() {
    let bytes = std::fs::read(pretrained("efficientnet-lite0/efficientnet-lite0-57934424.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut model = EfficientNetConfig { head: ImageHeadConfig::Imagenet { classes: 1000 }, freeze_backbone: false }
        .init(&Device::flex());
    let err = load_pretrained(&mut model, &cut).unwrap_err().to_string();
    assert!(err.starts_with(&format!("weights {}: ", cut.display())), "{err}");
}

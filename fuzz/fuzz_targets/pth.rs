//! The `.pth` reader (legacy pickles and zip archives): any file gives tensors or an error, and
//! never runs what a pickle asks for.
#![no_main]

use burn::store::{ModuleSnapshot, PytorchStore};
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use model_core::models::simple_cnn::SimpleCnnConfig;
use model_core::models::ClassifierConfig;

fuzz_target!(|bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("marquee-fuzz-{}.pth", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let mut model = SimpleCnnConfig { num_genres: 3, channels: [2, 2, 2, 2], dropout: 0.0 }.init(&Device::flex());
    let mut store = PytorchStore::from_file(&path).allow_partial(true);
    let _ = model.load_from(&mut store);
});

//! Bundle parsing: any bytes as a manifest, as the weights of a small model, and as a lexical
//! branch (then run on a plot) give a bundle or an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use model_core::bundle::{weights, Bundle};
use model_core::stacking::lexical::LexicalModel;
use model_core::models::simple_cnn::SimpleCnnConfig;
use model_core::models::{Classifier, ImageModelConfig, ModelConfig};

fn config() -> &'static ModelConfig {
    static CONFIG: OnceLock<ModelConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        ModelConfig::Image(ImageModelConfig::SimpleCnn(SimpleCnnConfig {
            num_genres: 3,
            channels: [2, 2, 2, 2],
            dropout: 0.0,
        }))
    })
}

fuzz_target!(|bytes: &[u8]| {
    let _ = Bundle::parse_manifest(bytes, "fuzz");
    let mut model: Classifier = config().init(&Device::flex());
    let _ = weights::load_into(&mut model, bytes);
    if let Ok(lexical) = LexicalModel::from_bytes(bytes, 3, "fuzz") {
        let _ = lexical.logits(&lexical.lexicon.vectorize("a ghost ship lost at sea, a ghost story"));
    }
});

//! Poster decoding and preprocessing: any bytes give an image or an error, never a panic, and a
//! decoded image always becomes the model's input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_core::preprocess::image::{decode_image, ImagePreprocessing, Normalization};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(image) = decode_image(bytes, "fuzz") {
        let preprocessing = ImagePreprocessing { size: 32, ..ImagePreprocessing::new(Normalization::IMAGENET) };
        assert_eq!(preprocessing.to_chw(&image).len(), 3 * 32 * 32);
    }
});

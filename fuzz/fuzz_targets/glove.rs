//! GloVe text files: any file gives an embedding table of the vocabulary's size, or an error
//! naming the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_core::models::lstm::load_glove;
use model_core::preprocess::text::WordVocab;

fuzz_target!(|bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("marquee-fuzz-glove-{}.txt", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let vocab = WordVocab::build(["the cat sat on the mat", "a dog"], 1, 100, 16);
    if let Ok((table, coverage)) = load_glove(&path, &vocab, 1) {
        assert_eq!(table.len(), vocab.len() * coverage.dim);
    }
});

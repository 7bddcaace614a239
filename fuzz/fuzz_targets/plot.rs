//! Plot tokenisation: any text through the default bundle's WordPiece tokenizer and a word
//! vocabulary gives ids within the vocabulary and within the length limit.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use model_core::preprocess::text::{BertTokenizer, WordVocab};

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let json = include_bytes!("../../www/models/default/tokenizer.json");
        BertTokenizer::from_bytes(json, 128, "tokenizer.json").expect("the default tokenizer")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let ids = tokenizer().encode(&text).expect("any text tokenises");
    assert!(ids.len() <= 128);
    let vocab = WordVocab::build([text.as_ref(), "a fixed plot"], 1, 100, 64);
    assert!(vocab.encode(&text).iter().all(|&id| (id as usize) < vocab.len()));
});

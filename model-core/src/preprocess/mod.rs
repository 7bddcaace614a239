//! Preprocessing shared by training, native prediction and the browser, so all three agree to
//! the bit: image decoding and normalisation, word vocabularies and BERT tokenisation. The step
//! that turns them into tensors is [`crate::batch::Batcher`].

pub mod image;
pub mod text;
mod wordpiece;

use crate::error::Result;
use text::{BertTokenizer, WordVocab, PAD_ID};

/// How plots become token ids.
#[derive(Debug, Clone)]
pub enum TextPreprocessor {
    /// Lower-cased words looked up in a vocabulary (the LSTMs).
    Words(WordVocab),
    /// A HuggingFace tokenizer (BERT models).
    Bert(BertTokenizer),
}

impl TextPreprocessor {
    /// The token ids of one plot.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextPreprocessor::Words(vocab) => Ok(vocab.encode(text)),
            TextPreprocessor::Bert(tokenizer) => tokenizer.encode(text),
        }
    }

    /// The id used for padding.
    pub fn pad_id(&self) -> u32 {
        match self {
            TextPreprocessor::Words(_) => PAD_ID,
            TextPreprocessor::Bert(tokenizer) => tokenizer.pad_id,
        }
    }
}

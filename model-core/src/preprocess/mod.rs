//! Preprocessing shared by training, native prediction and the browser, so all three agree to
//! the bit: image decoding and normalisation, word vocabularies and BERT tokenisation. The step
//! that turns them into tensors is [`crate::batch::Batcher`].

pub mod image;
pub mod text;
mod wordpiece;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use text::{BertTokenizer, WordSpan, WordVocab, PAD_ID};

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

    /// The token ids of one plot (as [`TextPreprocessor::encode`] gives them for a plot without
    /// special tokens) and the plot's words with their byte ranges and the ids each became.
    pub fn encode_words(&self, text: &str) -> (Vec<u32>, Vec<WordSpan>) {
        match self {
            TextPreprocessor::Bert(tokenizer) => tokenizer.encode_words(text),
            TextPreprocessor::Words(vocab) => {
                let mut spans = Vec::new();
                let mut start = None;
                for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
                    match (c.is_alphanumeric() && at < text.len(), start) {
                        (true, None) => start = Some(at),
                        (false, Some(s)) => {
                            let token = spans.len().min(vocab.max_len);
                            let tokens = token..(token + 1).min(vocab.max_len);
                            spans.push(WordSpan { start: s, end: at, tokens });
                            start = None;
                        }
                        _ => {}
                    }
                }
                (vocab.encode(text), spans)
            }
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

/// How plots are tokenised, and which part holds the vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TextSpec {
    /// Lower-cased words (`vocab.json`: the [`WordVocab`]).
    Words {
        /// The part holding the vocabulary.
        file: String,
    },
    /// A HuggingFace tokenizer (`tokenizer.json`).
    Bert {
        /// The part holding the tokenizer.
        file: String,
        /// Plots are cut to this many tokens.
        max_len: usize,
    },
}

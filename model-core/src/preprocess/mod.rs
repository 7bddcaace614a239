//! Preprocessing shared by training, native prediction and the browser, so all three agree to
//! the bit: image decoding and normalisation, word vocabularies and BERT tokenisation, and the
//! step that turns them into tensors.

pub mod image;
pub mod text;
mod wordpiece;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::Result;
use crate::models::TextInput;
use image::ImagePreprocessing;
use text::{pad_batch, BertTokenizer, WordVocab, PAD_ID};

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

    /// Pads already-encoded plots into a [`TextInput`] on `device`.
    pub fn to_input(&self, sequences: &[Vec<u32>], device: &Device) -> TextInput {
        let padded = pad_batch(sequences, self.pad_id());
        let shape = [padded.batch, padded.len];
        TextInput {
            ids: Tensor::<2, Int>::from_data(TensorData::new(padded.ids, shape), device),
            mask: Tensor::<2>::from_data(TensorData::new(padded.mask, shape), device),
        }
    }

    /// Encodes and pads plots into a [`TextInput`] on `device`.
    pub fn batch(&self, texts: &[&str], device: &Device) -> Result<TextInput> {
        let sequences = texts.iter().map(|t| self.encode(t)).collect::<Result<Vec<_>>>()?;
        Ok(self.to_input(&sequences, device))
    }
}

/// Stacks normalised CHW images (each `3 * size * size` floats) into `[batch, 3, size, size]`.
pub fn images_to_tensor(images: &[Vec<f32>], preprocessing: &ImagePreprocessing, device: &Device) -> Tensor<4> {
    let size = preprocessing.size as usize;
    let mut flat = Vec::with_capacity(images.len() * 3 * size * size);
    for image in images {
        flat.extend_from_slice(image);
    }
    Tensor::<4>::from_data(TensorData::new(flat, [images.len(), 3, size, size]), device)
}

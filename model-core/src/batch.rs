//! The one batcher: prepared movies in, a [`Batch`] of tensors out. Training, evaluation,
//! native and browser inference, feature caching and the benchmark all batch through it.

use std::borrow::Cow;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::preprocess::image::{ImagePreprocessing, IMAGE_SIZE};
use crate::preprocess::text::{pad_batch, PAD_ID};
use crate::preprocess::TextPreprocessor;

/// Padded token ids and their mask (1 for real tokens), `[batch, len]` each.
#[derive(Debug, Clone)]
pub struct TextInput {
    /// Token ids.
    pub ids: Tensor<2, Int>,
    /// 1.0 for real tokens, 0.0 for padding.
    pub mask: Tensor<2>,
}

/// One batch of model inputs. A model reads what it needs: the raw inputs, or, for frozen
/// parts, their outputs computed once and cached.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Plots, tokenised.
    pub text: Option<TextInput>,
    /// Posters, normalised, `[batch, 3, side, side]`.
    pub images: Option<Tensor<4>>,
    /// The frozen text part's output (a fusion's text branch output).
    pub text_cached: Option<Tensor<2>>,
    /// The frozen image part's output (a frozen backbone's features, or a fusion's image
    /// branch output).
    pub image_cached: Option<Tensor<2>>,
}

/// One movie's inputs, as far as they are prepared. Every item of a batch has the same fields.
#[derive(Debug, Clone, Default)]
pub struct BatchItem<'a> {
    /// The plot's token ids.
    pub tokens: Option<&'a [u32]>,
    /// The poster, normalised CHW floats.
    pub poster: Option<Cow<'a, [f32]>>,
    /// The frozen text part's cached output.
    pub text_cached: Option<&'a [f32]>,
    /// The frozen image part's cached output.
    pub image_cached: Option<&'a [f32]>,
}

/// Turns prepared movies into batches on a device.
#[derive(Debug, Clone)]
pub struct Batcher {
    /// The id plots are padded with.
    pub pad_id: u32,
    /// The posters' square side.
    pub image_size: u32,
    /// Where the tensors go.
    pub device: Device,
}

impl Batcher {
    /// A batcher for inputs prepared by `text` and `image` (padding and poster side from them).
    pub fn new(text: Option<&TextPreprocessor>, image: Option<&ImagePreprocessing>, device: &Device) -> Self {
        Self {
            pad_id: text.map_or(PAD_ID, TextPreprocessor::pad_id),
            image_size: image.map_or(IMAGE_SIZE, |i| i.size),
            device: device.clone(),
        }
    }

    /// The batch of `items`: cached outputs where the items have them, and otherwise their
    /// padded tokens and stacked posters.
    ///
    /// # Panics
    /// If `items` is empty or its items do not all carry the same fields.
    pub fn batch(&self, items: &[BatchItem]) -> Batch {
        let first = &items[0];
        let text_cached = first.text_cached.map(|_| self.rows(items, |i| i.text_cached));
        let image_cached = first.image_cached.map(|_| self.rows(items, |i| i.image_cached));
        let text = (text_cached.is_none() && first.tokens.is_some()).then(|| {
            let sequences: Vec<&[u32]> = items.iter().map(|i| i.tokens.expect("tokens for every item")).collect();
            let padded = pad_batch(&sequences, self.pad_id);
            let shape = [padded.batch, padded.len];
            TextInput {
                ids: Tensor::from_data(TensorData::new(padded.ids, shape), &self.device),
                mask: Tensor::from_data(TensorData::new(padded.mask, shape), &self.device),
            }
        });
        let images = (image_cached.is_none() && first.poster.is_some()).then(|| {
            let side = self.image_size as usize;
            let mut flat = Vec::with_capacity(items.len() * 3 * side * side);
            for item in items {
                flat.extend_from_slice(item.poster.as_deref().expect("a poster for every item"));
            }
            Tensor::from_data(TensorData::new(flat, [items.len(), 3, side, side]), &self.device)
        });
        Batch { text, images, text_cached, image_cached }
    }

    /// Stacks equal-width rows into `[rows, width]`.
    pub fn stack(&self, rows: &[&[f32]]) -> Tensor<2> {
        let width = rows[0].len();
        Tensor::from_data(TensorData::new(rows.concat(), [rows.len(), width]), &self.device)
    }

    fn rows<'a>(&self, items: &[BatchItem<'a>], field: impl Fn(&BatchItem<'a>) -> Option<&'a [f32]>) -> Tensor<2> {
        let rows: Vec<&[f32]> = items.iter().map(|i| field(i).expect("cached for every item")).collect();
        self.stack(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_tokens_stacks_posters_and_prefers_cached_outputs() {
        let device = Device::flex();
        let batcher = Batcher { pad_id: 0, image_size: 2, device: device.clone() };
        let poster = vec![0.5f32; 12];
        let items = [
            BatchItem { tokens: Some(&[5, 6, 7]), poster: Some(Cow::Borrowed(&poster)), ..Default::default() },
            BatchItem { tokens: Some(&[8]), poster: Some(Cow::Borrowed(&poster)), ..Default::default() },
        ];
        let batch = batcher.batch(&items);
        let text = batch.text.unwrap();
        assert_eq!(text.ids.into_data().iter::<i64>().collect::<Vec<_>>(), vec![5, 6, 7, 8, 0, 0]);
        assert_eq!(text.mask.into_data().iter::<f32>().collect::<Vec<_>>(), vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(batch.images.unwrap().dims(), [2, 3, 2, 2]);

        let cached = [1.0f32, 2.0];
        let items = [BatchItem { tokens: Some(&[5]), text_cached: Some(&cached), ..Default::default() }];
        let batch = batcher.batch(&items);
        assert!(batch.text.is_none() && batch.images.is_none());
        assert_eq!(batch.text_cached.unwrap().dims(), [1, 2]);
    }
}

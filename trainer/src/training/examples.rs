//! Training examples: each movie's tokens, resized poster and multi-hot target, prepared once
//! (posters decoded on all cores), and the batches made from them.

use std::sync::Arc;

use anyhow::Result;
use burn::tensor::{Device, Tensor};
use image::RgbImage;
use model_core::batch::{Batch, BatchItem, Batcher};
use model_core::data::{map_parallel, Dataset, GenreVocab, Movie, Split, SplitConfig};
use model_core::preprocess::image::{decode_image, ImagePreprocessing};
use model_core::preprocess::TextPreprocessor;

use super::progress;
use super::rng::Rng;

/// One movie, ready to batch.
#[derive(Debug, Clone)]
pub struct Example {
    /// The movie's id.
    pub id: String,
    /// The plot's token ids, for models that read plots.
    pub tokens: Option<Vec<u32>>,
    /// The poster resized to the model's square, for models that read posters.
    pub poster: Option<Arc<RgbImage>>,
    /// Where the poster is, to decode it later when it was not decoded up front.
    pub poster_path: std::path::PathBuf,
    /// Multi-hot genres.
    pub target: Vec<f32>,
    /// Cached output of a frozen text part.
    pub text_cached: Option<Arc<Vec<f32>>>,
    /// Cached output of a frozen image part.
    pub image_cached: Option<Arc<Vec<f32>>>,
}

/// The examples of the three splits.
#[derive(Debug, Clone, Default)]
pub struct SplitExamples {
    /// Fits the weights.
    pub train: Vec<Example>,
    /// Tunes thresholds, epochs and hyper-parameters.
    pub validation: Vec<Example>,
    /// Only reported.
    pub test: Vec<Example>,
}

impl SplitExamples {
    /// All examples of every split.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Example> {
        self.train.iter_mut().chain(self.validation.iter_mut()).chain(self.test.iter_mut())
    }

    /// All examples of every split.
    pub fn all(&self) -> impl Iterator<Item = &Example> {
        self.train.iter().chain(self.validation.iter()).chain(self.test.iter())
    }
}

/// Prepares the examples of `dataset`: tokenises plots with `text` and decodes and resizes
/// posters to `image`'s size, with a progress bar. Posters that fail to decode were already
/// moved to the data set's bad rows when it was loaded with poster decoding.
pub fn prepare(
    dataset: &Dataset,
    split: &SplitConfig,
    genres: &GenreVocab,
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
) -> Result<SplitExamples> {
    let movies: Vec<&Movie> = dataset.movies.iter().collect();
    let bar = progress::bar(movies.len() as u64, "preparing movies");
    let prepared: Vec<Result<Example>> = map_parallel(&movies, |movie| {
        let result = prepare_one(movie, genres, text, image);
        bar.inc(1);
        result
    });
    bar.finish_and_clear();
    let mut examples = SplitExamples::default();
    for (movie, example) in movies.iter().zip(prepared) {
        let example = example?;
        match dataset.split_of(movie, split) {
            Split::Train => examples.train.push(example),
            Split::Validation => examples.validation.push(example),
            Split::Test => examples.test.push(example),
        }
    }
    Ok(examples)
}

fn prepare_one(
    movie: &Movie,
    genres: &GenreVocab,
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
) -> Result<Example> {
    let tokens = text.map(|t| t.encode(&movie.overview)).transpose()?;
    let poster = image.map(|pre| load_poster(&movie.poster, pre)).transpose()?.map(Arc::new);
    Ok(Example {
        id: movie.id.clone(),
        tokens,
        poster,
        poster_path: movie.poster.clone(),
        target: genres.encode(&movie.genres),
        text_cached: None,
        image_cached: None,
    })
}

/// Reads, decodes and resizes a poster to `pre`'s square (normalisation comes at batch time).
pub fn load_poster(path: &std::path::Path, pre: &ImagePreprocessing) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("poster {}: {e}", path.display()))?;
    let decoded = decode_image(&bytes, &path.display().to_string())?;
    Ok(image::imageops::resize(&decoded, pre.size, pre.size, image::imageops::FilterType::Triangle))
}

/// Normalised CHW floats of an example's poster: the decoded one, or decoded now.
pub fn poster_chw(example: &Example, pre: &ImagePreprocessing) -> Result<Vec<f32>> {
    match &example.poster {
        Some(poster) => Ok(pre.to_chw(poster)),
        None => Ok(pre.to_chw(&load_poster(&example.poster_path, pre)?)),
    }
}

/// Light augmentation of a resized poster: a horizontal flip half of the time and a shift of
/// up to an eighth of the side, edges repeated.
fn augment(poster: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (w, h) = poster.dimensions();
    let flip = rng.next_f32() < 0.5;
    let max_shift = (w / 8) as i64;
    let dx = rng.below(2 * max_shift as usize + 1) as i64 - max_shift;
    let dy = rng.below(2 * max_shift as usize + 1) as i64 - max_shift;
    RgbImage::from_fn(w, h, |x, y| {
        let sx = if flip { w as i64 - 1 - x as i64 } else { x as i64 };
        let sx = (sx + dx).clamp(0, w as i64 - 1) as u32;
        let sy = (y as i64 + dy).clamp(0, h as i64 - 1) as u32;
        *poster.get_pixel(sx, sy)
    })
}

/// Builds a batch of `examples` on `device` with the one batcher: cached outputs where the
/// examples have them, else tokens and normalised posters (augmented when `rng` is given).
/// Returns the batch and its targets `[batch, genres]`.
///
/// # Panics
/// If a model that reads posters meets an example whose poster was not decoded up front.
pub fn batch(
    examples: &[&Example],
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
    device: &Device,
    mut rng: Option<&mut Rng>,
) -> (Batch, Tensor<2>) {
    let posters: Vec<Vec<f32>> = match image {
        Some(pre) if examples[0].image_cached.is_none() => examples
            .iter()
            .map(|e| {
                let poster = e.poster.as_ref().expect("decoded for image models");
                match rng.as_deref_mut() {
                    Some(rng) => pre.to_chw(&augment(poster, rng)),
                    None => pre.to_chw(poster),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let items = batch_items(examples, text.is_some(), &posters, true);
    let batcher = Batcher::new(text, image, device);
    let targets: Vec<&[f32]> = examples.iter().map(|e| e.target.as_slice()).collect();
    (batcher.batch(&items), batcher.stack(&targets))
}

/// The raw inputs of `examples` (tokens, and posters decoded now where they were not up front),
/// ignoring cached outputs: what frozen parts read to fill the feature cache.
pub fn raw_batch(
    examples: &[&Example],
    text: Option<&TextPreprocessor>,
    image: Option<&ImagePreprocessing>,
    device: &Device,
) -> Result<Batch> {
    let posters: Vec<Vec<f32>> = match image {
        Some(pre) => examples.iter().map(|e| poster_chw(e, pre)).collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let items = batch_items(examples, text.is_some(), &posters, false);
    Ok(Batcher::new(text, image, device).batch(&items))
}

/// The batcher's view of `examples`: their tokens where plots are read, their CHW `posters` (one
/// per example, or none), and their cached outputs where `cached` is set.
fn batch_items<'a>(
    examples: &[&'a Example],
    read_plots: bool,
    posters: &'a [Vec<f32>],
    cached: bool,
) -> Vec<BatchItem<'a>> {
    let cached_row = |row: &'a Option<Arc<Vec<f32>>>| row.as_deref().map(Vec::as_slice).filter(|_| cached);
    examples
        .iter()
        .enumerate()
        .map(|(i, e)| BatchItem {
            tokens: e.tokens.as_deref().filter(|_| read_plots),
            poster: posters.get(i).map(|p| p.as_slice().into()),
            text_cached: cached_row(&e.text_cached),
            image_cached: cached_row(&e.image_cached),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmentation_keeps_size_and_content() {
        let poster = RgbImage::from_fn(32, 32, |x, _| image::Rgb([x as u8 * 8, 0, 0]));
        let mut rng = Rng::new(3, 0);
        for _ in 0..10 {
            let out = augment(&poster, &mut rng);
            assert_eq!(out.dimensions(), (32, 32));
            assert!(out.pixels().all(|p| p.0[1] == 0 && p.0[0] % 8 == 0));
        }
    }
}

//! Inference from a bundle: a poster's bytes and a plot in, each genre's probability out. The
//! native CLI and the browser share this code path.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::{BatchItem, Batcher};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::models::{Classifier, GenreClassifier};
use crate::preprocess::image::ImagePreprocessing;
use crate::preprocess::TextPreprocessor;

/// One genre's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenrePrediction {
    /// The genre.
    pub genre: String,
    /// The model's probability.
    pub probability: f32,
    /// The genre's decision threshold.
    pub threshold: f32,
    /// Whether the probability reaches the threshold.
    pub predicted: bool,
}

/// Which inputs a prediction used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// The whole model, with every input it reads.
    Full,
    /// A fusion model's text branch alone (no poster given).
    TextBranch,
    /// A fusion model's image branch alone (no plot given).
    ImageBranch,
}

/// A loaded bundle, ready to classify.
#[derive(Debug)]
pub struct Predictor {
    /// The model, in inference mode.
    pub model: Classifier,
    /// How plots are tokenised, if the model reads them.
    pub text: Option<TextPreprocessor>,
    /// How posters are preprocessed, if the model reads them.
    pub image: Option<ImagePreprocessing>,
    /// The bundle it came from.
    pub bundle: Bundle,
    /// Where it runs.
    pub device: Device,
}

/// Preprocessed inputs of one movie, ready for [`Predictor::logits`].
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The poster as normalised CHW floats.
    pub poster: Option<Vec<f32>>,
    /// The plot's token ids.
    pub plot: Option<Vec<u32>>,
}

impl Predictor {
    /// Builds the model of a verified bundle on `device`.
    pub fn new(bundle: Bundle, device: Device) -> Result<Self> {
        let model = bundle.load_model(&device)?;
        let text = bundle.text_preprocessor()?;
        let image = bundle.manifest.image;
        Ok(Self { model, text, image, bundle, device })
    }

    /// The genres, in output order.
    pub fn genres(&self) -> &[String] {
        &self.bundle.manifest.genres
    }

    /// Decodes and tokenises the inputs. A missing input is fine where the model can answer
    /// without it; an input the model cannot read is ignored; an empty plot counts as missing.
    pub fn prepare(&self, poster: Option<(&[u8], &str)>, plot: Option<&str>) -> Result<Inputs> {
        let poster = match (poster, &self.image) {
            (Some((bytes, name)), Some(pre)) => Some(pre.apply(bytes, name)?),
            _ => None,
        };
        let plot = match (plot.map(str::trim).filter(|p| !p.is_empty()), &self.text) {
            (Some(text), Some(pre)) => Some(pre.encode(text)?),
            _ => None,
        };
        let inputs = Inputs { poster, plot };
        self.route(&inputs)?;
        Ok(inputs)
    }

    /// Which part of the model answers for these inputs, or an error if none can.
    pub fn route(&self, inputs: &Inputs) -> Result<Route> {
        let missing = |what: &str| Error::Config {
            name: self.bundle.manifest.name.clone(),
            reason: format!("this model needs {what}"),
        };
        match (&self.model, inputs.poster.is_some(), inputs.plot.is_some()) {
            (Classifier::Text(_), _, true) => Ok(Route::Full),
            (Classifier::Text(_), _, false) => Err(missing("a plot")),
            (Classifier::Image(_), true, _) => Ok(Route::Full),
            (Classifier::Image(_), false, _) => Err(missing("a poster")),
            (Classifier::Fusion(_), true, true) => Ok(Route::Full),
            (Classifier::Fusion(_), false, true) => Ok(Route::TextBranch),
            (Classifier::Fusion(_), true, false) => Ok(Route::ImageBranch),
            (Classifier::Fusion(_), false, false) => Err(missing("a poster, a plot, or both")),
        }
    }

    /// The logits `[1, genres]` for prepared inputs, and the route that produced them. Read them
    /// back with `into_data` natively or `into_data_async` in the browser.
    pub fn logits(&self, inputs: &Inputs) -> Result<(Tensor<2>, Route)> {
        let route = self.route(inputs)?;
        let batcher = Batcher::new(self.text.as_ref(), self.image.as_ref(), &self.device);
        let item = BatchItem {
            tokens: inputs.plot.as_deref(),
            poster: inputs.poster.as_deref().map(Into::into),
            ..BatchItem::default()
        };
        let batch = batcher.batch(&[item]);
        let logits = match (&self.model, route) {
            (Classifier::Fusion(m), Route::TextBranch) => m.text.forward(batch.text.as_ref().expect("routed")),
            (Classifier::Fusion(m), Route::ImageBranch) => m.image.forward(batch.images.as_ref().expect("routed")),
            (model, _) => model.forward(&batch),
        };
        Ok((logits, route))
    }

    /// Probabilities of the logits, as a tensor.
    pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
        crate::ops::sigmoid(logits)
    }

    /// The thresholds that apply on a route.
    pub fn thresholds(&self, route: Route) -> &[f32] {
        let manifest = &self.bundle.manifest;
        match (route, &manifest.branch_thresholds) {
            (Route::TextBranch, Some(branches)) => &branches.text,
            (Route::ImageBranch, Some(branches)) => &branches.image,
            _ => &manifest.thresholds,
        }
    }

    /// Per-genre answers from probabilities, most probable first.
    pub fn answers(&self, probabilities: &[f32], route: Route) -> Vec<GenrePrediction> {
        let thresholds = self.thresholds(route);
        let mut answers: Vec<GenrePrediction> = self
            .genres()
            .iter()
            .zip(probabilities)
            .zip(thresholds)
            .map(|((genre, &probability), &threshold)| GenrePrediction {
                genre: genre.clone(),
                probability,
                threshold,
                predicted: probability >= threshold,
            })
            .collect();
        answers.sort_by(|a, b| b.probability.total_cmp(&a.probability).then_with(|| a.genre.cmp(&b.genre)));
        answers
    }

    /// Classifies one movie (native only: reads the result back synchronously).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn predict(&self, poster: Option<(&[u8], &str)>, plot: Option<&str>) -> Result<(Vec<GenrePrediction>, Route)> {
        let inputs = self.prepare(poster, plot)?;
        let (logits, route) = self.logits(&inputs)?;
        let probabilities = Self::probabilities(logits).into_data().try_to_vec::<f32>().expect("f32 probabilities");
        Ok((self.answers(&probabilities, route), route))
    }
}

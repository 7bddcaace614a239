//! Inference from a bundle: a poster's bytes and a plot in, each genre's probability out. The
//! native CLI and the browser share this code path.

use std::borrow::Cow;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::batch::{Batch, BatchItem, Batcher};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::metrics::{logit, sigmoid};
use crate::models::{Classifier, GenreClassifier};
use crate::preprocess::image::ImagePreprocessing;
use crate::preprocess::TextPreprocessor;
use crate::stacking::lexical::{Details, LexicalModel, SparseTerms};

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
    /// The lexical branch blended with the model's answers, if the bundle has one.
    pub lexical: Option<LexicalModel>,
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
    /// The plot's TF-IDF terms, for a bundle with a lexical branch.
    pub lexical: Option<SparseTerms>,
}

impl Predictor {
    /// Builds the model of a verified bundle on `device`.
    pub fn new(bundle: Bundle, device: Device) -> Result<Self> {
        let model = bundle.load_model(&device)?;
        let text = bundle.text_preprocessor()?;
        let image = bundle.manifest.image;
        let lexical = bundle.load_lexical()?;
        Ok(Self { model, text, image, lexical, bundle, device })
    }

    /// The genres, in output order.
    pub fn genres(&self) -> &[String] {
        &self.bundle.manifest.genres
    }

    /// Decodes and tokenises the inputs. A missing input is fine where the model can answer
    /// without it; an input the model cannot read is ignored; an empty plot counts as missing.
    pub fn prepare(&self, poster: Option<(&[u8], &str)>, plot: Option<&str>) -> Result<Inputs> {
        self.prepare_with(poster, plot, Details::default())
    }

    /// [`Predictor::prepare`] with a movie's optional details, which a lexical branch made with
    /// them reads beside the plot (the other parts never read them).
    pub fn prepare_with(
        &self,
        poster: Option<(&[u8], &str)>,
        plot: Option<&str>,
        details: Details<'_>,
    ) -> Result<Inputs> {
        let poster = match (poster, &self.image) {
            (Some((bytes, name)), Some(pre)) => Some(pre.apply(bytes, name)?),
            _ => None,
        };
        let plot_text = plot.map(str::trim).filter(|p| !p.is_empty());
        let plot = match (plot_text, &self.text) {
            (Some(text), Some(pre)) => Some(pre.encode(text)?),
            _ => None,
        };
        let lexical = plot.as_ref().and(plot_text).and_then(|text| self.lexical_terms(text, details));
        let inputs = Inputs { poster, plot, lexical };
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

    /// The logits `[1, genres]` for prepared inputs, and the route that produced them; on the
    /// full route of a fusion whose lexical blend reads the branches, `[1, 3 × genres]`: the
    /// model's, then its text and image branches' ([`Predictor::answers`] reads either). Read
    /// them back with `into_data` natively or `into_data_async` in the browser.
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
            _ => self.forward(&batch),
        };
        Ok((logits, route))
    }

    /// The whole model's logits for a batch: `[batch, genres]`, or `[batch, 3 × genres]` with a
    /// fusion's branches' after its own where the lexical blend reads them.
    pub fn forward(&self, batch: &Batch) -> Tensor<2> {
        match self.lexical_reads_branches() {
            true => self.model.forward_with_branches(batch),
            false => self.model.forward(batch),
        }
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

    /// A plot's TF-IDF terms (with the details its lexical branch reads), where the bundle has a
    /// lexical branch.
    pub fn lexical_terms(&self, plot: &str, details: Details<'_>) -> Option<SparseTerms> {
        let config = self.bundle.manifest.lexical.as_ref().map(|spec| &spec.config);
        self.lexical
            .as_ref()
            .zip(config)
            .map(|(model, config)| model.lexicon.vectorize(&config.document(plot, details)))
    }

    /// Whether the full route also computes a fusion's branch logits for the lexical blend.
    pub fn lexical_reads_branches(&self) -> bool {
        self.lexical.is_some() && self.bundle.manifest.lexical.as_ref().is_some_and(|spec| spec.reads_branches())
    }

    /// The model's probabilities on a route (with its branches' after them where
    /// [`Predictor::logits`] computed those) blended with the lexical branch's, where the bundle
    /// has one and the route reads the plot (`lexical`, its terms); the model's own otherwise.
    pub fn blended<'a>(
        &self,
        probabilities: &'a [f32],
        lexical: Option<&[(u32, f32)]>,
        route: Route,
    ) -> Cow<'a, [f32]> {
        let genres = self.genres().len().min(probabilities.len());
        let (own, branches) = probabilities.split_at(genres);
        let (Some(model), Some(spec), Some(terms)) = (&self.lexical, &self.bundle.manifest.lexical, lexical) else {
            return Cow::Borrowed(own);
        };
        let blend = match (route, &spec.text_blend) {
            (Route::Full, _) => &spec.blend,
            (Route::TextBranch, Some(blend)) => blend,
            _ => return Cow::Borrowed(own),
        };
        let to_logits = |probabilities: &[f32]| -> Vec<f32> { probabilities.iter().map(|&p| logit(p)).collect() };
        let mut sources = vec![to_logits(own), model.logits(terms)];
        sources.extend(branches.chunks(genres).map(to_logits));
        if blend.weights.first().is_some_and(|w| w.len() != sources.len()) {
            return Cow::Borrowed(own);
        }
        let sources: Vec<&[f32]> = sources.iter().map(Vec::as_slice).collect();
        Cow::Owned(blend.apply(&sources).into_iter().map(sigmoid).collect())
    }

    /// Per-genre answers from the model's probabilities for `inputs` (blended with the lexical
    /// branch where there is one), most probable first.
    pub fn answers(&self, probabilities: &[f32], inputs: &Inputs, route: Route) -> Vec<GenrePrediction> {
        let probabilities = self.blended(probabilities, inputs.lexical.as_deref(), route);
        let thresholds = self.thresholds(route);
        let mut answers: Vec<GenrePrediction> = self
            .genres()
            .iter()
            .zip(probabilities.iter())
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
    pub fn predict(
        &self,
        poster: Option<(&[u8], &str)>,
        plot: Option<&str>,
        details: Details<'_>,
    ) -> Result<(Vec<GenrePrediction>, Route)> {
        let inputs = self.prepare_with(poster, plot, details)?;
        let (logits, route) = self.logits(&inputs)?;
        let probabilities = Self::probabilities(logits).into_data().try_to_vec::<f32>().expect("f32 probabilities");
        Ok((self.answers(&probabilities, &inputs, route), route))
    }
}

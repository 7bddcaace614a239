//! The explain package's face (feature `explain`): `MarqueeExplainer`, why the model gave a movie
//! its genres, per word of the plot, per cell of the poster and per source. `marquee.js` fetches
//! this package on a page's first `explain` call. It runs on the CPU (`flex`) with burn's
//! autodiff: an explanation reads its gradients back synchronously, which WebGPU cannot.

use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Array, Function, Promise, Uint8Array};
use model_core::explain::{ExplainOptions, Explainer};
use model_core::inference::Predictor;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::api::{js_error, option_value, to_js};
use crate::check_poster_size;
use crate::download::{fetch_bundle, Progress};

/// The `genre` option: the names asked for, and whether one name was given as a string (the
/// answer is then that genre's explanation, not a list).
fn asked_genres(options: &JsValue) -> Result<(Vec<String>, bool), String> {
    let Some(value) = option_value(options, "genre") else {
        return Ok((Vec::new(), false));
    };
    match value.as_string() {
        Some(name) => Ok((vec![name], true)),
        None if Array::is_array(&value) => Array::from(&value)
            .iter()
            .map(|name| {
                name.as_string().ok_or_else(|| "options.genre lists a value that is not a genre's name".to_string())
            })
            .collect::<Result<_, _>>()
            .map(|names| (names, false)),
        None => Err("options.genre must be a genre's name or a list of names".into()),
    }
}

/// Explains a bundle's answers in the browser.
#[wasm_bindgen]
pub struct MarqueeExplainer {
    explainer: Option<Rc<Explainer>>,
}

#[wasm_bindgen]
impl MarqueeExplainer {
    /// `await MarqueeExplainer.load(bundleUrl, { onProgress })`: the bundle as `Marquee.load`
    /// gets it (from Cache Storage once a classifier loaded it), built on the CPU twice: to
    /// answer, and with autodiff to take gradients.
    pub async fn load(bundle_url: String, options: JsValue) -> Result<MarqueeExplainer, JsError> {
        let on_progress = option_value(&options, "onProgress").and_then(|f| f.dyn_into::<Function>().ok());
        let downloaded =
            fetch_bundle(&bundle_url, &mut Progress::new(on_progress)).await.map_err(|e| JsError::new(&e))?;
        let predictor = Predictor::new(downloaded.bundle, Device::flex()).map_err(|e| JsError::new(&e.to_string()))?;
        let explainer = Explainer::new(predictor).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(MarqueeExplainer { explainer: Some(Rc::new(explainer)) })
    }

    /// `await explain(posterBytes, plotText, { genre })`: per explained genre `{ genre,
    /// probability, threshold, predicted, logit, words: [{ word, start, end, score, lexical,
    /// read }], poster: { rows, cols, scores } | null, sources: { text, image, lexical, joint,
    /// bias }, route, wordMethod, posterMethod }`, `start` and `end` indexing `plotText`;
    /// `words` ("occlusion", "gradient", "integrated-gradients") and `regions` ("occlusion",
    /// "grad-cam", "gradient") pick other methods than the default occlusion. `genre`
    /// one name: that genre's explanation; a list of names, or absent (every predicted genre, or
    /// the most probable one): a list, most probable first. Inputs as `classify`'s.
    pub fn explain(&self, poster: Option<Uint8Array>, plot: Option<String>, options: JsValue) -> Promise {
        let explainer = self.explainer.clone();
        future_to_promise(async move {
            let explainer = explainer.ok_or_else(|| js_error("this explainer was disposed; load it again"))?;
            let (genres, one) = asked_genres(&options).map_err(|e| js_error(&e))?;
            let poster = match poster {
                Some(array) => {
                    check_poster_size(array.length() as usize).map_err(|e| js_error(&e))?;
                    Some(array.to_vec())
                }
                None => None,
            };
            let movie = explainer
                .prepare(poster.as_deref().map(|bytes| (bytes, "the poster")), plot.as_deref())
                .map_err(|e| js_error(&e.to_string()))?;
            let method = |key: &str| option_value(&options, key).and_then(|v| v.as_string());
            let mut chosen = ExplainOptions { genres, ..ExplainOptions::default() };
            if let Some(name) = method("words") {
                chosen.words = name.parse().map_err(|e: String| js_error(&format!("options.words: {e}")))?;
            }
            if let Some(name) = method("regions") {
                chosen.poster = name.parse().map_err(|e: String| js_error(&format!("options.regions: {e}")))?;
            }
            let explanation = explainer.explain(&movie, &chosen).map_err(|e| js_error(&e.to_string()))?;
            let why = explanation.reports(plot.as_deref().unwrap_or(""));
            match one {
                true => to_js(&why.first()),
                false => to_js(&why),
            }
            .map_err(JsValue::from)
        })
    }

    /// Frees both copies of the model; later calls reject.
    pub fn dispose(&mut self) {
        self.explainer = None;
    }
}

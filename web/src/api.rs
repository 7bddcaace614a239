//! The JavaScript face: `Marquee.load`, `classify`, `dispose`, and what the page shows about a
//! loaded model. Every failure rejects the promise with an `Error` whose message names the
//! input at fault; a failed call leaves the classifier usable.

use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use model_core::inference::Predictor;
use model_core::stacking::lexical::{Details, YEARS};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backend::{self, Preference};
use crate::check_poster_size;
use crate::download::{fetch_bundle, Progress};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// `await startThreads(helpers)` (the threaded package only, on a cross-origin-isolated page):
/// starts `helpers` web workers sharing this module's memory; from then on the CPU kernels split
/// their work over them and the calling thread. Call it once, before loading a model.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = startThreads)]
pub async fn start_threads(helpers: usize) -> Result<(), JsValue> {
    wasm_bindgen_futures::JsFuture::from(wasm_bindgen_rayon::init_thread_pool(helpers)).await?;
    kernels::parallel::set_helpers(helpers);
    Ok(())
}

struct Loaded {
    predictor: Predictor,
    backend: &'static str,
    fallback_reason: Option<String>,
    from_cache: bool,
}

/// A classifier loaded from a bundle, in the browser.
#[wasm_bindgen]
pub struct Marquee {
    loaded: Option<Rc<Loaded>>,
}

/// `options[key]`, unless `options` or it is absent (`undefined` or `null`).
pub(crate) fn option_value(options: &JsValue, key: &str) -> Option<JsValue> {
    if options.is_undefined() || options.is_null() {
        return None;
    }
    Reflect::get(options, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

#[wasm_bindgen]
impl Marquee {
    /// `await Marquee.load(bundleUrl, { onProgress, backend })`: downloads the bundle at
    /// `bundleUrl` (a folder URL or its `manifest.json`) with progress in bytes, verifies every
    /// part, caches it for offline visits and builds the model on WebGPU, or on the CPU where
    /// WebGPU is missing. `backend` may be `"auto"` (default), `"webgpu"` or `"cpu"`.
    pub async fn load(bundle_url: String, options: JsValue) -> Result<Marquee, JsError> {
        let on_progress = option_value(&options, "onProgress").and_then(|f| f.dyn_into::<Function>().ok());
        let preference = Preference::parse(option_value(&options, "backend").and_then(|b| b.as_string()).as_deref())
            .map_err(|e| JsError::new(&e))?;
        let mut progress = Progress::new(on_progress);
        let downloaded = fetch_bundle(&bundle_url, &mut progress).await.map_err(|e| JsError::new(&e))?;
        let chosen = backend::choose(preference).await.map_err(|e| JsError::new(&e))?;
        let predictor = Predictor::new(downloaded.bundle, chosen.device).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Marquee {
            loaded: Some(Rc::new(Loaded {
                predictor,
                backend: chosen.name,
                fallback_reason: chosen.fallback_reason,
                from_cache: downloaded.from_cache,
            })),
        })
    }

    fn loaded(&self) -> Result<&Rc<Loaded>, JsError> {
        self.loaded.as_ref().ok_or_else(|| JsError::new("this classifier was disposed; load it again"))
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<String, JsError> {
        Ok(self.loaded()?.backend.into())
    }

    /// Why WebGPU is not in use, when it was asked for and the CPU took over.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Result<Option<String>, JsError> {
        Ok(self.loaded()?.fallback_reason.clone())
    }

    /// Whether every part of the bundle came from Cache Storage (no download).
    #[wasm_bindgen(getter, js_name = fromCache)]
    pub fn from_cache(&self) -> Result<bool, JsError> {
        Ok(self.loaded()?.from_cache)
    }

    /// The model's name, from its manifest.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> Result<String, JsError> {
        Ok(self.loaded()?.predictor.bundle.manifest.name.clone())
    }

    /// The genres it tells, in output order.
    #[wasm_bindgen(getter)]
    pub fn genres(&self) -> Result<Vec<String>, JsError> {
        Ok(self.loaded()?.predictor.genres().to_vec())
    }

    /// Which inputs the model reads: `{ poster, plot, title, year }` (booleans; a title and a
    /// year are optional details that the bundle's lexical branch may read beside the plot).
    #[wasm_bindgen(getter)]
    pub fn reads(&self) -> Result<JsValue, JsError> {
        let predictor = &self.loaded()?.predictor;
        let lexical = predictor.bundle.manifest.lexical.as_ref().map(|spec| &spec.config);
        to_js(&serde_json::json!({
            "poster": predictor.image.is_some(),
            "plot": predictor.text.is_some(),
            "title": lexical.is_some_and(|config| config.reads_title),
            "year": lexical.is_some_and(|config| config.reads_year),
        }))
    }

    /// The manifest's provenance (`info`: data, split, commit, metrics).
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&self.loaded()?.predictor.bundle.manifest.info)
    }

    /// `await classify(posterBytes, plotText, { title, year })`: each genre's `{ genre,
    /// probability, threshold, predicted }`, most probable first. Either input may be `null`
    /// where the model can answer without it (a fusion model falls back to one branch); the
    /// details, and each of their fields, are optional.
    pub fn classify(&self, poster: Option<Uint8Array>, plot: Option<String>, details: JsValue) -> Promise {
        let loaded = self.loaded.clone();
        future_to_promise(async move {
            let loaded = loaded.ok_or_else(|| js_error("this classifier was disposed; load it again"))?;
            let details = MovieDetails::from_js(details).map_err(|e| js_error(&e))?;
            let poster = match poster {
                Some(array) => {
                    check_poster_size(array.length() as usize).map_err(|e| js_error(&e))?;
                    Some(array.to_vec())
                }
                None => None,
            };
            let predictor = &loaded.predictor;
            let inputs = predictor
                .prepare_with(poster.as_deref().map(|bytes| (bytes, "the poster")), plot.as_deref(), details.borrowed())
                .map_err(|e| js_error(&e.to_string()))?;
            let (logits, route) = predictor.logits(&inputs).map_err(|e| js_error(&e.to_string()))?;
            let data = Predictor::probabilities(logits).into_data_async().await.map_err(|e| {
                js_error(&format!("reading the result back from the {} backend: {e:?}", loaded.backend))
            })?;
            let probabilities = data.try_to_vec::<f32>().map_err(|e| js_error(&format!("{e:?}")))?;
            to_js(&predictor.answers(&probabilities, &inputs, route)).map_err(JsValue::from)
        })
    }

    /// Frees the model (its GPU buffers included); later calls reject.
    pub fn dispose(&mut self) {
        self.loaded = None;
    }
}

/// A movie's optional details as JavaScript passes them: `{ title?: string, year?: number }`,
/// or nothing.
#[derive(Debug, Default, serde::Deserialize)]
struct MovieDetails {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    year: Option<u16>,
}

impl MovieDetails {
    /// Reads `value` (`undefined` and `null` are no details), or says what is wrong with it.
    fn from_js(value: JsValue) -> Result<Self, String> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self::default());
        }
        let must = format!(
            "the details must be {{ title?: string, year?: number from {} to {} }}",
            YEARS.start(),
            YEARS.end()
        );
        let details: Self = serde_wasm_bindgen::from_value(value).map_err(|e| format!("{must}: {e}"))?;
        match details.year {
            Some(year) if !YEARS.contains(&year) => Err(format!("{must}: the year is {year}")),
            _ => Ok(details),
        }
    }

    fn borrowed(&self) -> Details<'_> {
        Details { title: self.title.as_deref(), year: self.year }
    }
}

/// An `Error` with `message`, as a rejection value.
pub(crate) fn js_error(message: &str) -> JsValue {
    JsError::new(message).into()
}

/// Plain JavaScript objects and arrays (not `Map`s).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

//! Where the model runs: WebGPU through burn's wgpu backend when the browser has an adapter
//! (the WebGPU package, feature `webgpu`), otherwise burn's `flex` CPU backend in wasm (SIMD128).
//! The CPU package has no WebGPU code at all; `www/pkg/marquee.js` picks the package.

#[cfg(feature = "webgpu")]
use std::cell::RefCell;

use burn::tensor::Device;
#[cfg(feature = "webgpu")]
use burn::tensor::Tensor;
#[cfg(feature = "webgpu")]
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
#[cfg(feature = "webgpu")]
use wasm_bindgen_futures::JsFuture;

/// Which backend a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// WebGPU if it works here, else the CPU.
    Auto,
    /// WebGPU or an error.
    WebGpu,
    /// The CPU, even where WebGPU works.
    Cpu,
}

impl Preference {
    /// Parses the `backend` option: `"auto"` (or absent), `"webgpu"`, `"cpu"`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("auto") {
            "auto" => Ok(Self::Auto),
            "webgpu" => Ok(Self::WebGpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!("unknown backend \"{other}\": use \"auto\", \"webgpu\" or \"cpu\"")),
        }
    }
}

/// A device and its name as the page shows it (`"webgpu"` or `"cpu"`).
pub struct Chosen {
    /// Where tensors live.
    pub device: Device,
    /// `"webgpu"` or `"cpu"`.
    pub name: &'static str,
    /// Why WebGPU is not used, when the CPU was picked under [`Preference::Auto`].
    pub fallback_reason: Option<String>,
}

#[cfg(feature = "webgpu")]
thread_local! {
    /// burn's wgpu runtime is initialised once per page; later loads reuse it (or its failure).
    static WEBGPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
}

/// Picks the device for `preference`: the CPU package only has the CPU.
#[cfg(not(feature = "webgpu"))]
pub async fn choose(preference: Preference) -> Result<Chosen, String> {
    match preference {
        Preference::WebGpu => Err("this is Marquee's CPU package, without WebGPU: load marquee.js, which picks the WebGPU package where the browser offers an adapter".into()),
        Preference::Auto | Preference::Cpu => Ok(Chosen { device: Device::flex(), name: "cpu", fallback_reason: None }),
    }
}

/// Picks the device for `preference`.
#[cfg(feature = "webgpu")]
pub async fn choose(preference: Preference) -> Result<Chosen, String> {
    let cpu = |reason: Option<String>| Chosen { device: Device::flex(), name: "cpu", fallback_reason: reason };
    if preference == Preference::Cpu {
        return Ok(cpu(None));
    }
    match webgpu().await {
        Ok(device) => Ok(Chosen { device, name: "webgpu", fallback_reason: None }),
        Err(reason) if preference == Preference::Auto => Ok(cpu(Some(reason))),
        Err(reason) => Err(format!("WebGPU is not available: {reason}")),
    }
}

#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, String> {
    if let Some(known) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return known;
    }
    let result = init_webgpu().await;
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(result.clone()));
    result
}

/// Asks the browser for an adapter first (burn is only started where one exists), then
/// initialises burn's runtime and checks it with a small computation read back asynchronously.
#[cfg(feature = "webgpu")]
async fn init_webgpu() -> Result<Device, String> {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).map_err(|_| "no navigator".to_string())?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no navigator.gpu".into());
    }
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request.call0(&gpu).map_err(describe)?.dyn_into().map_err(describe)?;
    let adapter = JsFuture::from(promise).await.map_err(describe)?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser offers no WebGPU adapter".into());
    }
    let device = Device::wgpu_options().init_async().await.map_err(|e| format!("burn's wgpu runtime: {e}"))?;
    let check = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device).sum().into_data_async().await;
    match check.map(|data| data.try_to_vec::<f32>()) {
        Ok(Ok(values)) if values == [6.0] => Ok(device),
        other => Err(format!("a test computation on WebGPU failed: {other:?}")),
    }
}

/// A JavaScript exception as text.
pub fn describe(value: JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

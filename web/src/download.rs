//! Downloads a bundle: the manifest, then each part with byte-level progress, every part checked
//! against the manifest's sha256 and kept in the browser's Cache Storage so that a second visit
//! loads offline. Parts are cached under their checksum, so a changed bundle is never served stale,
//! and only after they were verified: a cached part is not hashed again on later visits (its
//! size is checked), which keeps a second visit quick.

use std::collections::BTreeMap;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use model_core::bundle::{Bundle, Manifest, MANIFEST};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, ReadableStreamDefaultReader, Request, RequestCache, RequestInit, Response};

use crate::backend::describe;
use crate::bundle_base;

/// The Cache Storage cache Marquee keeps bundle parts in.
pub const CACHE_NAME: &str = "marquee-bundles-v1";

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` of a window or a worker.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// Reports download progress to the page's `onProgress` callback as
/// `{ loaded, total, part, fromCache }` (bytes).
pub struct Progress {
    callback: Option<Function>,
    loaded: u64,
    total: u64,
}

impl Progress {
    /// Progress reported to `callback`, if any.
    pub fn new(callback: Option<Function>) -> Self {
        Self { callback, loaded: 0, total: 0 }
    }

    fn report(&self, part: &str, from_cache: bool) {
        let Some(callback) = &self.callback else {
            return;
        };
        let event = Object::new();
        for (key, value) in [
            ("loaded", JsValue::from_f64(self.loaded as f64)),
            ("total", JsValue::from_f64(self.total as f64)),
            ("part", JsValue::from_str(part)),
            ("fromCache", JsValue::from_bool(from_cache)),
        ] {
            let _ = Reflect::set(&event, &key.into(), &value);
        }
        // A throwing callback must not break the download.
        let _ = callback.call1(&JsValue::NULL, &event);
    }
}

/// What a download gives: the verified bundle and whether every part came from the cache.
pub struct Downloaded {
    /// The verified bundle.
    pub bundle: Bundle,
    /// Every part was served by Cache Storage (no network).
    pub from_cache: bool,
}

/// Downloads, verifies and caches the bundle at `url` (its folder or its `manifest.json`).
pub async fn fetch_bundle(url: &str, progress: &mut Progress) -> Result<Downloaded, String> {
    let base = bundle_base(url);
    let cache = open_cache().await;
    let manifest_url = format!("{base}{MANIFEST}");
    // The manifest is always asked of the network first (it is small and says what is current);
    // offline, the cached copy is used.
    let manifest_bytes = match fetch_bytes(&manifest_url, None, 0).await {
        Ok(bytes) => {
            if let Some(cache) = &cache {
                cache_put(cache, &manifest_url, &bytes).await;
            }
            bytes
        }
        Err(network) => match cached(cache.as_ref(), &manifest_url).await {
            Some(bytes) => bytes,
            None => return Err(format!("cannot download the bundle manifest {manifest_url}: {network}")),
        },
    };
    let manifest: Manifest = Bundle::parse_manifest(&manifest_bytes, &base).map_err(|e| e.to_string())?;
    progress.total = manifest.parts.values().map(|p| p.bytes).sum();
    progress.report(MANIFEST, false);
    let mut parts = BTreeMap::new();
    let mut all_cached = true;
    for (name, entry) in &manifest.parts {
        let part_url = format!("{base}{name}");
        let key = format!("{part_url}?sha256={}", entry.sha256);
        // Stored under its checksum after it was verified: the size check guards against a
        // cache entry cut short.
        let kept = cached(cache.as_ref(), &key).await;
        let bytes = match kept.filter(|b| entry.check_size(b, &base, name).is_ok()) {
            Some(bytes) => {
                progress.loaded += bytes.len() as u64;
                progress.report(name, true);
                bytes
            }
            None => {
                all_cached = false;
                let bytes = fetch_bytes(&part_url, Some((progress, name)), entry.bytes as usize)
                    .await
                    .map_err(|e| format!("bundle part {name}: {e}"))?;
                entry.check(&bytes, &base, name).map_err(|e| e.to_string())?;
                if let Some(cache) = &cache {
                    cache_put(cache, &key, &bytes).await;
                }
                bytes
            }
        };
        parts.insert(name.clone(), bytes);
    }
    // Every part's sha256 was checked above, when it was downloaded (or before it was cached).
    let bundle = Bundle::from_checksummed_parts(&base, manifest, parts).map_err(|e| e.to_string())?;
    Ok(Downloaded { bundle, from_cache: all_cached })
}

/// Fetches `url` whole, reporting each chunk to `progress` under the part's name; `expected`
/// bytes are reserved up front (the manifest's size), so the body is copied once.
async fn fetch_bytes(
    url: &str,
    mut progress: Option<(&mut Progress, &str)>,
    expected: usize,
) -> Result<Vec<u8>, String> {
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoCache);
    let request = Request::new_with_str_and_init(url, &init).map_err(describe)?;
    let response: Response = JsFuture::from(global_fetch(&request))
        .await
        .map_err(|e| format!("download of {url} failed: {}", describe(e)))?
        .dyn_into()
        .map_err(describe)?;
    if !response.ok() {
        return Err(format!("{url} answered HTTP {}", response.status()));
    }
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|o: js_sys::Object| describe(o.into()))?;
    let mut bytes = Vec::with_capacity(expected);
    loop {
        let chunk =
            JsFuture::from(reader.read()).await.map_err(|e| format!("download of {url} broke off: {}", describe(e)))?;
        if Reflect::get(&chunk, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
            break;
        }
        let value: Uint8Array =
            Reflect::get(&chunk, &"value".into()).map_err(describe)?.dyn_into().map_err(describe)?;
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if let Some((progress, part)) = progress.as_mut() {
            progress.loaded += u64::from(value.length());
            progress.report(part, false);
        }
    }
    Ok(bytes)
}

/// Cache Storage, where the page may use it (secure contexts); `None` elsewhere.
async fn open_cache() -> Option<Cache> {
    let caches: CacheStorage = Reflect::get(&js_sys::global(), &"caches".into()).ok()?.dyn_into().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

async fn cached(cache: Option<&Cache>, key: &str) -> Option<Vec<u8>> {
    let found = JsFuture::from(cache?.match_with_str(key)).await.ok()?;
    let response: Response = found.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Stores `bytes` under `key`; a full or unavailable cache only costs the offline visit.
async fn cache_put(cache: &Cache, key: &str, bytes: &[u8]) {
    let array = Uint8Array::from(bytes);
    if let Ok(response) = Response::new_with_opt_buffer_source(Some(&array)) {
        let _ = JsFuture::from(cache.put_with_str(key, &response)).await;
    }
}

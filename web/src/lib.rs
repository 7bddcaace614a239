//! Marquee in the browser: a bundle's fused text + image classifier compiled to wasm.
//!
//! Built five times (`scripts/build-web.sh`): `www/pkg/cpu-threads/` (burn `flex` only, features
//! `relaxed-simd` and `threads`: the kernels' work split over web workers, for
//! cross-origin-isolated pages), `www/pkg/cpu-relaxed/` (the same on one thread),
//! `www/pkg/cpu/` (plain SIMD128), `www/pkg/webgpu/` (feature `webgpu`) and `www/pkg/explain/`
//! (feature `explain`: cpu-relaxed with burn's autodiff, for explanations, fetched on the first
//! `explain` call). From JavaScript, through `www/pkg/marquee.js` (`web/js/marquee.js`), which
//! fetches the WebGPU package only where the browser offers an adapter (see `www/`):
//!
//! ```js
//! import init, { Marquee } from "./pkg/marquee.js";
//! await init();
//! const classifier = await Marquee.load("models/default/", { onProgress: p => console.log(p.loaded, p.total) });
//! classifier.backend;                                     // "webgpu" or "cpu"
//! const genres = await classifier.classify(posterBytes, plotText); // [{ genre, probability, threshold, predicted }]
//! const why = await classifier.explain(posterBytes, plotText, { genre: "Horror" }); // words, poster cells, sources
//! classifier.dispose();
//! ```
//!
//! Preprocessing, the models and the bundle checks are `model-core`'s, the same code the
//! native `marquee predict` runs. The browser-only parts live in [`download`] (fetch with
//! progress, Cache Storage, checksums), [`backend`] (WebGPU, or `flex` on the CPU), [`api`]
//! (the wasm-bindgen face) and `explain` (the explain package's face).
#![forbid(unsafe_code)]

/// The largest poster file the browser classifier accepts (10 MiB): larger ones are refused
/// before decoding, with an error that says so.
pub const MAX_POSTER_BYTES: usize = 10 * 1024 * 1024;

/// The folder URL (ending in `/`) of a bundle given as its folder or its `manifest.json`.
pub fn bundle_base(url: &str) -> String {
    let url = url.trim();
    if let Some(folder) = url.strip_suffix(model_core::bundle::MANIFEST) {
        folder.to_string()
    } else if url.ends_with('/') || url.is_empty() {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// Refuses a poster that is empty or larger than [`MAX_POSTER_BYTES`], before decoding it.
pub fn check_poster_size(bytes: usize) -> Result<(), String> {
    match bytes {
        0 => Err("the poster file is empty (0 bytes)".into()),
        n if n > MAX_POSTER_BYTES => Err(format!(
            "the poster is {:.1} MB; the limit is {} MB: save it smaller and try again",
            n as f64 / 1e6,
            MAX_POSTER_BYTES / (1024 * 1024)
        )),
        _ => Ok(()),
    }
}

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod backend;
#[cfg(target_arch = "wasm32")]
pub mod download;
#[cfg(all(target_arch = "wasm32", feature = "explain"))]
pub mod explain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_urls_resolve_to_their_folder() {
        assert_eq!(bundle_base("models/default"), "models/default/");
        assert_eq!(bundle_base("models/default/"), "models/default/");
        assert_eq!(bundle_base("https://x.org/b/manifest.json"), "https://x.org/b/");
        assert_eq!(bundle_base(" m/ "), "m/");
    }

    #[test]
    fn empty_and_huge_posters_are_refused_before_decoding() {
        assert!(check_poster_size(0).unwrap_err().contains("empty"));
        let huge = check_poster_size(20 * 1000 * 1000).unwrap_err();
        assert!(huge.contains("20.0 MB") && huge.contains("limit is 10 MB"), "{huge}");
        assert!(check_poster_size(200_000).is_ok());
    }
}

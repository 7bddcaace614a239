//! Marquee in the browser. The wasm-bindgen face (load, classify, dispose) lands
//! with its own issue; until then this crate is an empty shell in the workspace.

//! Links OpenBLAS for the `openblas` feature (native targets): statically where `libopenblas.a`
//! is found (so the binary runs where OpenBLAS is not installed), else dynamically.
//! `OPENBLAS_LIB_DIR` names another folder to look in.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=OPENBLAS_LIB_DIR");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    if std::env::var_os("CARGO_FEATURE_OPENBLAS").is_none() || wasm {
        return;
    }
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default());
    let mut folders: Vec<PathBuf> = std::env::var_os("OPENBLAS_LIB_DIR").map(PathBuf::from).into_iter().collect();
    folders.extend(
        [
            multiarch.as_str(),
            "/usr/lib",
            "/usr/local/lib",
            "/opt/homebrew/opt/openblas/lib",
            "/usr/local/opt/openblas/lib",
        ]
        .map(PathBuf::from),
    );
    let has = |name: &str| folders.iter().find(|f| f.join(name).exists()).cloned();
    if let Some(folder) = has("libopenblas.a") {
        println!("cargo:rustc-link-search=native={}", folder.display());
        println!("cargo:rustc-link-lib=static=openblas");
        println!("cargo:rustc-link-lib=dylib=pthread");
        println!("cargo:rustc-link-lib=dylib=m");
    } else if let Some(folder) = has("libopenblas.so").or_else(|| has("libopenblas.dylib")) {
        println!("cargo:rustc-link-search=native={}", folder.display());
        println!("cargo:rustc-link-lib=dylib=openblas");
    } else {
        panic!(
            "the `openblas` feature needs OpenBLAS (libopenblas.a or libopenblas.so): install it \
             (Debian/Ubuntu: apt-get install libopenblas-dev; macOS: brew install openblas), set \
             OPENBLAS_LIB_DIR to its folder, or build without the feature (--no-default-features \
             --features wgpu for the CLI)"
        );
    }
}

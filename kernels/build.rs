//! Links OpenBLAS for the `openblas` feature (native targets): statically where `libopenblas.a`
//! is found (so the binary runs where OpenBLAS is not installed), else dynamically.
//! `OPENBLAS_LIB_DIR` names another folder to look in.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=OPENBLAS_LIB_DIR");
    println!("cargo:rustc-check-cfg=cfg(openblas_dynamic_arch)");
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
        dynamic_arch(&folder.join("libopenblas.a"));
        println!("cargo:rustc-link-search=native={}", folder.display());
        println!("cargo:rustc-link-lib=static=openblas");
        println!("cargo:rustc-link-lib=dylib=pthread");
        println!("cargo:rustc-link-lib=dylib=m");
    } else if let Some((folder, file)) =
        ["libopenblas.so", "libopenblas.dylib"].into_iter().find_map(|file| has(file).map(|folder| (folder, file)))
    {
        dynamic_arch(&folder.join(file));
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

/// Sets the cfg `openblas_dynamic_arch` where the library chooses its core at run time
/// (`DYNAMIC_ARCH`: it exports `gotoblas_dynamic_init`), so that Marquee can choose another
/// (`kernels::product_kernel::use_fastest`).
fn dynamic_arch(library: &std::path::Path) {
    let bytes = std::fs::read(library).unwrap_or_default();
    let name = b"gotoblas_dynamic_init";
    if bytes.windows(name.len()).any(|window| window == name) {
        println!("cargo:rustc-cfg=openblas_dynamic_arch");
    }
}

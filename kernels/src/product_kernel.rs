//! Which kernel runs the CPU's matrix products, and, with OpenBLAS, making it one that uses the
//! processor's AVX2 or AVX-512 whatever OpenBLAS detected.
//!
//! An OpenBLAS built with `DYNAMIC_ARCH` (Debian's, Homebrew's) picks its core from the
//! processor's family and model when it loads. On a processor newer than the library it falls
//! back to `Prescott`, an SSE3 kernel. Debian's 0.3.21 does this on Intel family 6 model 207,
//! and MiniLM then ran 3x slower than with the SkylakeX kernel on the same machine.
//! [`use_fastest`] goes by the instruction set instead. Where the picked core has no AVX2
//! kernels but the processor has AVX2 (or AVX-512), it asks for `Haswell` (or `SkylakeX`)
//! through OpenBLAS's own `OPENBLAS_CORETYPE`. OpenBLAS reads that again after
//! `gotoblas_dynamic_quit`.

use std::fmt;
#[cfg(all(feature = "openblas", not(target_arch = "wasm32"), openblas_dynamic_arch))]
use std::sync::OnceLock;

/// OpenBLAS cores whose single-precision kernels use AVX2 or AVX-512, lower case.
const WIDE_CORES: [&str; 5] = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"];

/// The core OpenBLAS had picked itself, where [`use_fastest`] chose another.
#[cfg(all(feature = "openblas", not(target_arch = "wasm32"), openblas_dynamic_arch))]
static REPLACED: OnceLock<String> = OnceLock::new();

/// The kernel behind [`crate::gemm::sgemm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductKernel {
    /// The library: OpenBLAS with its version, or Marquee's packed product.
    pub library: String,
    /// OpenBLAS's core (`openblas_get_corename`), or the instruction set of the packed product.
    pub core: String,
    /// The core OpenBLAS had picked, where Marquee chose `core` instead.
    pub replaced: Option<String>,
}

impl ProductKernel {
    /// Whether the kernel computes with 256-bit (AVX2) or wider vectors.
    pub fn is_wide(&self) -> bool {
        WIDE_CORES.contains(&self.core.to_ascii_lowercase().as_str())
    }
}

impl fmt::Display for ProductKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.library, self.core)?;
        if let Some(replaced) = &self.replaced {
            write!(f, " (chosen by Marquee: OpenBLAS had picked {replaced}, which has no AVX2 kernels)")?;
        }
        Ok(())
    }
}

/// The OpenBLAS core with the widest kernels this processor runs: `SkylakeX` with AVX-512 (F,
/// BW, DQ and VL, which its kernels use), `Haswell` with AVX2 and FMA, none otherwise.
#[cfg_attr(not(all(feature = "openblas", not(target_arch = "wasm32"), openblas_dynamic_arch)), allow(dead_code))]
fn widest_core() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
            return Some("SkylakeX");
        }
        if has!("avx2") && has!("fma") {
            return Some("Haswell");
        }
    }
    None
}

/// The core to ask for where OpenBLAS `picked` one: `widest` where `picked` has no wide kernels,
/// none to keep `picked`.
#[cfg_attr(not(all(feature = "openblas", not(target_arch = "wasm32"), openblas_dynamic_arch)), allow(dead_code))]
fn better_core(picked: &str, widest: Option<&'static str>) -> Option<&'static str> {
    if WIDE_CORES.contains(&picked.to_ascii_lowercase().as_str()) {
        None
    } else {
        widest
    }
}

#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
mod ffi {
    use std::ffi::c_char;

    // Linked by this crate's build script.
    extern "C" {
        pub fn openblas_get_corename() -> *const c_char;
        pub fn openblas_get_config() -> *const c_char;
        #[cfg(openblas_dynamic_arch)]
        pub fn gotoblas_dynamic_quit();
        #[cfg(openblas_dynamic_arch)]
        pub fn gotoblas_dynamic_init();
    }

    /// A string OpenBLAS returns (static, NUL-terminated), owned.
    pub fn text(pointer: *const c_char) -> String {
        if pointer.is_null() {
            return String::new();
        }
        // SAFETY: OpenBLAS returns pointers to its static NUL-terminated strings.
        unsafe { std::ffi::CStr::from_ptr(pointer) }.to_string_lossy().into_owned()
    }
}

/// The kernel that runs the products now.
pub fn product_kernel() -> ProductKernel {
    #[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
    {
        // SAFETY: both return pointers to OpenBLAS's static strings.
        let (core, config) =
            unsafe { (ffi::text(ffi::openblas_get_corename()), ffi::text(ffi::openblas_get_config())) };
        // The configuration starts with the name and the version: "OpenBLAS 0.3.21 DYNAMIC_ARCH ...".
        let library = config.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        #[cfg(openblas_dynamic_arch)]
        let replaced = REPLACED.get().cloned();
        #[cfg(not(openblas_dynamic_arch))]
        let replaced = None;
        ProductKernel { library, core, replaced }
    }
    #[cfg(not(all(feature = "openblas", not(target_arch = "wasm32"))))]
    {
        let core = if cfg!(all(target_arch = "wasm32", feature = "relaxed-simd")) {
            "SIMD128 with relaxed fused multiply-adds"
        } else if cfg!(target_arch = "wasm32") {
            "SIMD128"
        } else {
            "portable, vectorised by the compiler for the build's target"
        };
        ProductKernel { library: "Marquee's packed product".into(), core: core.into(), replaced: None }
    }
}

/// Makes OpenBLAS run its widest kernels for this processor (see the module's documentation),
/// and returns the kernel that runs the products from now on. Without OpenBLAS, or with one
/// built for a single core (no `DYNAMIC_ARCH`), it only reports.
///
/// Call it first in `main`, before any product and before other threads read the environment:
/// it briefly sets `OPENBLAS_CORETYPE` (restored after) and re-initialises OpenBLAS's core table.
pub fn use_fastest() -> ProductKernel {
    #[cfg(all(feature = "openblas", not(target_arch = "wasm32"), openblas_dynamic_arch))]
    {
        let picked = product_kernel().core;
        if let Some(core) = better_core(&picked, widest_core()) {
            const VARIABLE: &str = "OPENBLAS_CORETYPE";
            let before = std::env::var_os(VARIABLE);
            std::env::set_var(VARIABLE, core);
            // SAFETY: OpenBLAS's own re-initialisation of its core table (it reads the variable
            // set above); no product runs meanwhile, by this function's contract.
            unsafe {
                ffi::gotoblas_dynamic_quit();
                ffi::gotoblas_dynamic_init();
            }
            match before {
                Some(value) => std::env::set_var(VARIABLE, value),
                None => std::env::remove_var(VARIABLE),
            }
            if product_kernel().core.eq_ignore_ascii_case(core) {
                let _ = REPLACED.set(picked);
            }
        }
    }
    product_kernel()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_without_wide_kernels_is_replaced_where_the_processor_has_them() {
        assert_eq!(better_core("Prescott", Some("SkylakeX")), Some("SkylakeX"));
        assert_eq!(better_core("Prescott", Some("Haswell")), Some("Haswell"));
        assert_eq!(better_core("Sandybridge", Some("Haswell")), Some("Haswell"));
        assert_eq!(better_core("Nehalem", None), None);
        for wide in ["Haswell", "Zen", "SkylakeX", "COOPERLAKE", "SapphireRapids"] {
            assert_eq!(better_core(wide, Some("SkylakeX")), None, "{wide} is kept");
        }
    }

    #[test]
    fn a_kernel_names_its_library_and_core() {
        let replaced = ProductKernel {
            library: "OpenBLAS 0.3.21".into(),
            core: "SkylakeX".into(),
            replaced: Some("Prescott".into()),
        };
        assert!(replaced.is_wide());
        assert_eq!(
            replaced.to_string(),
            "OpenBLAS 0.3.21, SkylakeX (chosen by Marquee: OpenBLAS had picked Prescott, which has no AVX2 kernels)"
        );
        let prescott = ProductKernel { core: "Prescott".into(), replaced: None, ..replaced };
        assert!(!prescott.is_wide());
        assert_eq!(prescott.to_string(), "OpenBLAS 0.3.21, Prescott");
    }
}

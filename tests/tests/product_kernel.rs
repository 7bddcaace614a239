//! The CLI's matrix products run a wide (AVX2 or AVX-512) kernel on every x86-64 processor that
//! has one, whatever core OpenBLAS detects: `marquee bench --kernel` names it, as OpenBLAS picks
//! it and as a processor newer than the library makes it pick (`OPENBLAS_CORETYPE=Prescott`, the
//! SSE3 core Debian's 0.3.21 falls back to on Intel family 6 model 207).

use std::process::Command;

use tests::marquee_bin;

/// `marquee bench --kernel`'s line, with `OPENBLAS_CORETYPE` set to `core` where given.
fn kernel_line(core: Option<&str>) -> String {
    let mut command = Command::new(marquee_bin());
    command.args(["bench", "--kernel"]).env_remove("OPENBLAS_CORETYPE");
    if let Some(core) = core {
        command.env("OPENBLAS_CORETYPE", core);
    }
    let output = command.output().expect("run marquee");
    assert!(output.status.success(), "marquee bench --kernel: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The core named in the line ("OpenBLAS 0.3.21, SkylakeX (chosen by ...)").
fn core(line: &str) -> &str {
    line.split(", ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or_else(|| panic!("no core in {line:?}"))
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_avx2_processor_runs_a_wide_product_kernel() {
    let wide = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"];
    let as_detected = kernel_line(None);
    let misdetected = kernel_line(Some("Prescott"));
    assert!(as_detected.starts_with("OpenBLAS "), "the CLI's products run on OpenBLAS: {as_detected}");
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        for line in [&as_detected, &misdetected] {
            assert!(wide.contains(&core(line).to_ascii_lowercase().as_str()), "a non-AVX product kernel: {line}");
        }
        assert!(misdetected.contains("OpenBLAS had picked Prescott"), "the replacement is named: {misdetected}");
    } else {
        assert_eq!(core(&misdetected), "Prescott", "a processor without AVX2 keeps OpenBLAS's choice");
    }
}

//! How the process gives memory back. Models allocate and free activations of tens to hundreds
//! of megabytes on every forward pass; glibc serves such blocks with `mmap` and returns them with
//! `munmap`, so every pass paid page faults, zeroing and cross-core TLB flushes (18-25% of
//! EfficientNet-Lite0's CPU time in `perf`). Marquee keeps freed memory in the heap for reuse
//! instead, and hands it back explicitly where a command wants to measure or shrink.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    pub const M_TRIM_THRESHOLD: c_int = -1;
    pub const M_MMAP_MAX: c_int = -4;

    extern "C" {
        pub fn mallopt(param: c_int, value: c_int) -> c_int;
        pub fn malloc_trim(pad: usize) -> c_int;
    }
}

/// Serves every allocation from the heap (no `mmap`) and keeps freed memory there for reuse
/// (glibc on Linux; elsewhere the allocator's defaults stay).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator settings; called before any threads start.
    unsafe {
        glibc::mallopt(glibc::M_MMAP_MAX, 0);
        glibc::mallopt(glibc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Returns freed heap memory to the system (glibc on Linux; elsewhere nothing to do).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases memory no allocation holds.
    unsafe {
        glibc::malloc_trim(0);
    }
}

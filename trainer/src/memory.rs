//! How the process gives memory back. Models allocate and free activations of tens to hundreds
//! of megabytes on every forward pass; glibc serves such blocks with `mmap` and returns them with
//! `munmap`, so every pass paid page faults, zeroing and cross-core TLB flushes (18-25% of
//! EfficientNet-Lite0's CPU time in `perf`). Marquee keeps freed memory in the heap for reuse
//! instead, and hands it back explicitly where a command wants to measure or shrink. One arena
//! serves every thread: batches evaluated on rayon's threads reuse each other's freed blocks
//! instead of each thread's arena growing its own heaps (with `mmap`, which the setting above
//! rules out for single blocks but not for arenas: 8 s of system time in one `marquee eval`).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    pub const M_TRIM_THRESHOLD: c_int = -1;
    pub const M_MMAP_MAX: c_int = -4;
    pub const M_ARENA_MAX: c_int = -8;

    extern "C" {
        pub fn mallopt(param: c_int, value: c_int) -> c_int;
        pub fn malloc_trim(pad: usize) -> c_int;
    }
}

/// Serves every allocation, on every thread, from the one heap (no `mmap`, one arena) and keeps
/// freed memory there for reuse (glibc on Linux; elsewhere the allocator's defaults stay).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator settings; called before any threads start.
    unsafe {
        glibc::mallopt(glibc::M_MMAP_MAX, 0);
        glibc::mallopt(glibc::M_TRIM_THRESHOLD, i32::MAX);
        glibc::mallopt(glibc::M_ARENA_MAX, 1);
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

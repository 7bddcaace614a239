//! Row-major f32 matrix products: [`sgemm`] everywhere (OpenBLAS's `cblas_sgemm` with the
//! feature `openblas` in native builds, which `build.rs` links; Marquee's packed SIMD product,
//! the module `packed`, otherwise), and [`batched_matmul`] with OpenBLAS or in wasm. OpenBLAS's Haswell kernel runs MiniLM's shapes at about twice the
//! speed of the `gemm` crate that burn-flex uses (35 against 17-20 GFLOP/s on one core here).
//!
//! OpenBLAS runs single-threaded; the work is split over the threads of module `parallel` (by
//! batch item, or by rows or columns of one product): rayon's natively, so the products share
//! its pool with the rest of burn instead of a second pool of spinning threads, and the web
//! workers of the threaded browser package.

#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
use std::ffi::c_int;
#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
use std::mem::MaybeUninit;
#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
use std::sync::Once;

#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
mod ffi {
    use std::ffi::c_int;

    pub const ROW_MAJOR: c_int = 101;
    pub const NO_TRANS: c_int = 111;
    pub const TRANS: c_int = 112;

    // Linked by this crate's build script (OpenBLAS, statically where the archive exists).
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        pub fn cblas_sgemm(
            order: c_int,
            trans_a: c_int,
            trans_b: c_int,
            m: c_int,
            n: c_int,
            k: c_int,
            alpha: f32,
            a: *const f32,
            lda: c_int,
            b: *const f32,
            ldb: c_int,
            beta: f32,
            c: *mut f32,
            ldc: c_int,
        );
        pub fn openblas_set_num_threads(threads: c_int);
    }
}

/// One operand of a product: a row-major matrix whose rows are `ld` values apart, read
/// transposed where `transposed` is set (BLAS's `op`).
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The matrix's values, from its first element on.
    pub values: &'a [f32],
    /// Values between the starts of consecutive rows.
    pub ld: usize,
    /// Whether the product reads the matrix transposed.
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    /// The matrix as stored.
    pub fn plain(values: &'a [f32], ld: usize) -> Self {
        Self { values, ld, transposed: false }
    }

    /// The matrix transposed.
    pub fn transposed(values: &'a [f32], ld: usize) -> Self {
        Self { values, ld, transposed: true }
    }
}

/// The sizes of `c = op(a) x op(b) + beta c`: `op(a)` is `m x k`, `op(b)` is `k x n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Rows of `op(a)` and `c`.
    pub m: usize,
    /// Columns of `op(b)` and `c`.
    pub n: usize,
    /// Columns of `op(a)`, rows of `op(b)`.
    pub k: usize,
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// One matrix operand of a batched product, as strided memory: element `(b, r, c)` is at
/// `data[offsets[b] + r * row_stride + c * col_stride]`.
#[derive(Debug, Clone)]
pub struct Strided<'a> {
    /// The whole buffer.
    pub data: &'a [f32],
    /// Where each batch item starts.
    pub offsets: Vec<usize>,
    /// Rows of each matrix.
    pub rows: usize,
    /// Columns of each matrix.
    pub cols: usize,
    /// Elements between consecutive rows.
    pub row_stride: usize,
    /// Elements between consecutive columns.
    pub col_stride: usize,
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// How BLAS reads a matrix: transposed or not, and its leading dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlasLayout {
    transposed: bool,
    leading: usize,
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
impl Strided<'_> {
    /// The BLAS layout of these matrices, or `None` when neither rows nor columns are
    /// contiguous (the caller copies such an operand first).
    fn blas_layout(&self) -> Option<BlasLayout> {
        let row_major = self.col_stride == 1 || self.cols == 1;
        let row_leading = if self.rows == 1 { self.cols } else { self.row_stride };
        if row_major && row_leading >= self.cols.max(1) {
            return Some(BlasLayout { transposed: false, leading: row_leading.max(1) });
        }
        let col_major = self.row_stride == 1 || self.rows == 1;
        let col_leading = if self.cols == 1 { self.rows } else { self.col_stride };
        if col_major && col_leading >= self.rows.max(1) {
            return Some(BlasLayout { transposed: true, leading: col_leading.max(1) });
        }
        None
    }

    /// Whether BLAS can read these matrices in place.
    pub fn blas_compatible(&self) -> bool {
        self.blas_layout().is_some()
    }

    /// Where element `(row, col)` of batch item `b` is.
    fn at(&self, b: usize, row: usize, col: usize) -> usize {
        self.offsets[b] + row * self.row_stride + col * self.col_stride
    }
}

#[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
/// Sets OpenBLAS to one thread, once: Marquee splits the work over rayon itself.
fn single_threaded_blas() {
    static ONCE: Once = Once::new();
    // SAFETY: a plain setter of OpenBLAS's thread count.
    ONCE.call_once(|| unsafe { ffi::openblas_set_num_threads(1) });
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// One block of the output: batch item, first row and row count, first column and column count.
#[derive(Debug, Clone, Copy)]
struct Block {
    batch: usize,
    row: usize,
    rows: usize,
    col: usize,
    cols: usize,
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// Products below this many multiply-adds run on one thread (about 50 us in wasm: less than
/// that does not pay for waking a web worker).
const PARALLEL_WORK: usize = 1 << 20;

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// Splits `batch` products of `m x k` by `k x n` into blocks for `threads` threads: whole
/// products when there are enough of them, else bands of the larger side (rows of `a`, or
/// columns of `b`), so that each thread packs its own part of the larger operand.
fn blocks(batch: usize, m: usize, n: usize, k: usize, threads: usize) -> Vec<Block> {
    use crate::packed::{MR, NR};
    let whole = |b| Block { batch: b, row: 0, rows: m, col: 0, cols: n };
    let work = batch * m * n * k;
    if threads <= 1 || work < PARALLEL_WORK || batch >= 2 * threads {
        return (0..batch).map(whole).collect();
    }
    // Four blocks per thread, so that a thread that starts late (a web worker waking up) or runs
    // slow leaves little for the others to wait on, each at least 16 wide and a whole number of
    // the packed product's tiles.
    let per_item = (4 * threads).div_ceil(batch);
    let split = |len: usize, tile: usize| -> Vec<(usize, usize)> {
        let parts = per_item.min(len.div_ceil(16)).max(1);
        let size = len.div_ceil(parts).next_multiple_of(tile);
        (0..len).step_by(size).map(|start| (start, size.min(len - start))).collect()
    };
    let mut out = Vec::new();
    for b in 0..batch {
        if m >= n {
            out.extend(split(m, MR).into_iter().map(|(row, rows)| Block { batch: b, row, rows, col: 0, cols: n }));
        } else {
            out.extend(split(n, NR).into_iter().map(|(col, cols)| Block { batch: b, row: 0, rows: m, col, cols }));
        }
    }
    out
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// A bias added to every product of [`batched_matmul`]: one value per row of the output (a
/// convolution's per-channel bias, its pixels as columns) or one per column (a linear layer's).
#[derive(Debug, Clone, Copy)]
pub enum Bias<'a> {
    /// No bias.
    None,
    /// `out[b][r][c] += bias[r]`.
    Rows(&'a [f32]),
    /// `out[b][r][c] += bias[c]`.
    Columns(&'a [f32]),
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// `lhs[b] x rhs[b] + bias` for every batch item `b`: a new contiguous `[batch, m, n]`, split
/// over the threads (module `parallel`). The output is not zeroed first: each block of it starts
/// as its bias (cache-hot, on the thread that then adds its product) or is written whole by its
/// product, which saves a pass over memory (in the threaded browser package, zeroing fresh
/// buffers took about 10% of the page thread's time).
///
/// # Panics
/// When the shapes disagree, an operand is not BLAS-compatible (see
/// [`Strided::blas_compatible`]), an index lies outside its buffer, or a size exceeds `c_int`.
pub fn batched_matmul(lhs: &Strided<'_>, rhs: &Strided<'_>, bias: Bias<'_>) -> Vec<f32> {
    let (batch, m, k, n) = (lhs.offsets.len(), lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.offsets.len(), batch, "batch sizes differ");
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    match bias {
        Bias::None => {}
        Bias::Rows(values) => assert_eq!(values.len(), m, "one bias per row"),
        Bias::Columns(values) => assert_eq!(values.len(), n, "one bias per column"),
    }
    let len = batch * m * n;
    if len == 0 || k == 0 {
        return match bias {
            Bias::None => vec![0.0; len],
            Bias::Rows(values) => {
                (0..batch).flat_map(|_| values.iter().flat_map(|&v| std::iter::repeat_n(v, n))).collect()
            }
            Bias::Columns(values) => (0..batch * m).flat_map(|_| values.iter().copied()).collect(),
        };
    }
    let a = lhs.blas_layout().expect("lhs is BLAS-compatible");
    let b = rhs.blas_layout().expect("rhs is BLAS-compatible");
    // Bounds: the last element each operand's matrices reach lies inside its buffer.
    for (operand, rows, cols) in [(lhs, m, k), (rhs, k, n)] {
        for item in 0..batch {
            assert!(operand.at(item, rows - 1, cols - 1) < operand.data.len(), "operand outside its buffer");
        }
    }
    let mut out = Vec::<f32>::with_capacity(len);
    let mut blocks = blocks(batch, m, n, k, crate::parallel::threads());
    let out_ptr = SendPtr(out.as_mut_ptr());
    crate::parallel::for_each(&mut blocks, |block| {
        let c_start = block.batch * m * n + block.row * n + block.col;
        // SAFETY: each block owns a disjoint rectangle of the output's allocation (rows
        // `row..row + rows`, columns `col..col + cols` of its item), inside its `len` values.
        let c = unsafe { out_ptr.get().add(c_start) };
        let beta = match bias {
            Bias::None => 0.0,
            Bias::Rows(values) => {
                for (r, &v) in values[block.row..block.row + block.rows].iter().enumerate() {
                    // SAFETY: row `r` of the block, within its rectangle (see above).
                    unsafe { std::slice::from_raw_parts_mut(c.add(r * n).cast::<MaybeUninit<f32>>(), block.cols) }
                        .fill(MaybeUninit::new(v));
                }
                1.0
            }
            Bias::Columns(values) => {
                let row_bias = &values[block.col..block.col + block.cols];
                for r in 0..block.rows {
                    // SAFETY: row `r` of the block, within its rectangle (see above).
                    unsafe { std::ptr::copy_nonoverlapping(row_bias.as_ptr(), c.add(r * n), block.cols) };
                }
                1.0
            }
        };
        // SAFETY: the operands' ranges were bounds-checked above; the block's rectangle is this
        // task's alone, and it holds the bias where beta is 1 (with beta 0 it is only written).
        unsafe {
            product(
                Dims { m: block.rows, n: block.cols, k },
                Operand {
                    values: &lhs.data[lhs.at(block.batch, block.row, 0)..],
                    ld: a.leading,
                    transposed: a.transposed,
                },
                Operand {
                    values: &rhs.data[rhs.at(block.batch, 0, block.col)..],
                    ld: b.leading,
                    transposed: b.transposed,
                },
                beta,
                c,
                n,
            )
        }
    });
    // SAFETY: the blocks cover the `[batch, m, n]` output exactly once (`blocks`), and each
    // block's product wrote every value of its rectangle.
    unsafe { out.set_len(len) };
    out
}

/// `c = op(a) x op(b) + beta c` for one product of strided row-major matrices, `c`'s rows `ldc`
/// apart, on the calling thread: OpenBLAS where built, else Marquee's packed product (module
/// `packed`: SIMD128 in wasm).
///
/// # Panics
/// When a matrix reaches outside its slice or a size exceeds `c_int`.
pub fn sgemm(dims: Dims, a: Operand<'_>, b: Operand<'_>, beta: f32, c: &mut [f32], ldc: usize) {
    let Dims { m, n, k } = dims;
    if m == 0 || n == 0 {
        return;
    }
    // The extent each operand's storage must have: `rows` rows of `cols` values, `ld` apart.
    let fits = |len: usize, rows: usize, cols: usize, ld: usize| {
        ld >= cols.max(1) && (rows == 0 || cols == 0 || (rows - 1) * ld + cols <= len)
    };
    let (a_rows, a_cols) = if a.transposed { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if b.transposed { (n, k) } else { (k, n) };
    assert!(fits(a.values.len(), a_rows, a_cols, a.ld), "sgemm: a outside its slice");
    assert!(fits(b.values.len(), b_rows, b_cols, b.ld), "sgemm: b outside its slice");
    assert!(fits(c.len(), m, n, ldc), "sgemm: c outside its slice");
    // SAFETY: every operand's extent was checked against its slice above, and `c` is borrowed
    // mutably for the call.
    unsafe { product(dims, a, b, beta, c.as_mut_ptr(), ldc) }
}

/// [`sgemm`] without the checks, `c` as a pointer (so threads can fill disjoint rectangles of one
/// matrix): OpenBLAS where built, else the packed product. With `beta` 0, `c` is only written
/// (BLAS's rule), so it may start uninitialised.
///
/// # Safety
/// `a` and `b` must hold their matrices, and `c` must be valid for `m` rows of `n` values `ldc`
/// apart that no other thread touches meanwhile (and initialised where `beta` is not 0).
unsafe fn product(dims: Dims, a: Operand<'_>, b: Operand<'_>, beta: f32, c: *mut f32, ldc: usize) {
    #[cfg(not(all(feature = "openblas", not(target_arch = "wasm32"))))]
    // SAFETY: the caller's contract is the packed product's.
    unsafe {
        crate::packed::sgemm(dims, a, b, beta, c, ldc)
    };
    #[cfg(all(feature = "openblas", not(target_arch = "wasm32")))]
    {
        let int = |v: usize| c_int::try_from(v).expect("matrix size fits BLAS's int");
        let trans = |operand: Operand<'_>| if operand.transposed { ffi::TRANS } else { ffi::NO_TRANS };
        single_threaded_blas();
        // SAFETY: the caller's contract: every operand holds its matrix.
        unsafe {
            ffi::cblas_sgemm(
                ffi::ROW_MAJOR,
                trans(a),
                trans(b),
                int(dims.m),
                int(dims.n),
                int(dims.k),
                1.0,
                a.values.as_ptr(),
                int(a.ld),
                b.values.as_ptr(),
                int(b.ld),
                beta,
                c,
                int(ldc),
            )
        }
    }
}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
/// A raw output pointer shared by the blocks, which write disjoint parts of it.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
// SAFETY: the blocks of one product write disjoint ranges (see `batched_matmul`).
unsafe impl Send for SendPtr {}
#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
// SAFETY: shared between the blocks only to be offset into their own disjoint ranges.
unsafe impl Sync for SendPtr {}

#[cfg(any(feature = "openblas", target_arch = "wasm32"))]
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(all(test, feature = "openblas", not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The naive product of `[b, m, k]` and `[b, k, n]` given by element functions.
    fn naive(
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize, usize) -> f32,
        b: impl Fn(usize, usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0; batch * m * n];
        for i in 0..batch {
            for r in 0..m {
                for c in 0..n {
                    out[(i * m + r) * n + c] =
                        (0..k).map(|j| f64::from(a(i, r, j)) * f64::from(b(i, j, c))).sum::<f64>() as f32;
                }
            }
        }
        out
    }

    fn value(seed: usize) -> f32 {
        ((seed * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0
    }

    #[test]
    fn plain_and_transposed_operands_match_the_naive_product() {
        for (batch, m, k, n) in
            [(1, 1, 1, 1), (3, 5, 7, 2), (2, 128, 64, 96), (1, 1, 50, 512), (4, 33, 17, 65), (1, 300, 40, 30)]
        {
            let a_data: Vec<f32> = (0..batch * m * k).map(value).collect();
            let b_data: Vec<f32> = (0..batch * k * n).map(|i| value(i + 7)).collect();
            let expected =
                naive(batch, m, k, n, |i, r, c| a_data[(i * m + r) * k + c], |i, r, c| b_data[(i * k + r) * n + c]);
            // The same values, stored transposed: a^T is [k, m] per item, read with swapped strides.
            let mut a_t = vec![0.0; a_data.len()];
            for i in 0..batch {
                for r in 0..m {
                    for c in 0..k {
                        a_t[(i * k + c) * m + r] = a_data[(i * m + r) * k + c];
                    }
                }
            }
            let plain_a = Strided {
                data: &a_data,
                offsets: (0..batch).map(|i| i * m * k).collect(),
                rows: m,
                cols: k,
                row_stride: k,
                col_stride: 1,
            };
            let transposed_a = Strided {
                data: &a_t,
                offsets: (0..batch).map(|i| i * m * k).collect(),
                rows: m,
                cols: k,
                row_stride: 1,
                col_stride: m,
            };
            let b = Strided {
                data: &b_data,
                offsets: (0..batch).map(|i| i * k * n).collect(),
                rows: k,
                cols: n,
                row_stride: n,
                col_stride: 1,
            };
            for a in [&plain_a, &transposed_a] {
                let out = batched_matmul(a, &b, Bias::None);
                for (x, y) in out.iter().zip(&expected) {
                    assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{batch}x{m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn a_shared_operand_and_a_strided_view_work() {
        // rhs shared by every batch item (offset 0 each time); lhs a view with a row stride
        // wider than its columns (like the heads of an attention projection).
        let (batch, m, k, n) = (3, 4, 5, 6);
        let wide = 9;
        let a_data: Vec<f32> = (0..batch * m * wide).map(value).collect();
        let b_data: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
        let a = Strided {
            data: &a_data,
            offsets: (0..batch).map(|i| i * m * wide + 2).collect(),
            rows: m,
            cols: k,
            row_stride: wide,
            col_stride: 1,
        };
        let b = Strided { data: &b_data, offsets: vec![0; batch], rows: k, cols: n, row_stride: n, col_stride: 1 };
        let expected =
            naive(batch, m, k, n, |i, r, c| a_data[i * m * wide + 2 + r * wide + c], |_, r, c| b_data[r * n + c]);
        let out = batched_matmul(&a, &b, Bias::None);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn a_bias_per_row_or_column_is_added_to_every_block() {
        // Large enough to be split into blocks over two threads or more.
        let (batch, m, k, n) = (1, 96, 128, 160);
        let a_data: Vec<f32> = (0..m * k).map(value).collect();
        let b_data: Vec<f32> = (0..k * n).map(|i| value(i + 5)).collect();
        let a = Strided { data: &a_data, offsets: vec![0], rows: m, cols: k, row_stride: k, col_stride: 1 };
        let b = Strided { data: &b_data, offsets: vec![0], rows: k, cols: n, row_stride: n, col_stride: 1 };
        let plain = naive(batch, m, k, n, |_, r, c| a_data[r * k + c], |_, r, c| b_data[r * n + c]);
        let (rows, columns): (Vec<f32>, Vec<f32>) =
            ((0..m).map(|i| value(i + 1)).collect(), (0..n).map(value).collect());
        for (bias, at) in [(Bias::Rows(&rows), 0), (Bias::Columns(&columns), 1)] {
            let out = batched_matmul(&a, &b, bias);
            for (i, (x, y)) in out.iter().zip(&plain).enumerate() {
                let added = if at == 0 { rows[i / n] } else { columns[i % n] };
                assert!((x - y - added).abs() <= 1e-4 * y.abs().max(1.0), "{i}: {x} vs {y} + {added}");
            }
        }
        // No inner dimension: the bias alone.
        let empty = Strided { data: &[], offsets: vec![0], rows: 2, cols: 0, row_stride: 0, col_stride: 1 };
        let empty_b = Strided { data: &[], offsets: vec![0], rows: 0, cols: 3, row_stride: 3, col_stride: 1 };
        assert_eq!(batched_matmul(&empty, &empty_b, Bias::Rows(&[1.0, 2.0])), [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(batched_matmul(&empty, &empty_b, Bias::Columns(&[1.0, 2.0, 3.0])), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn blocks_cover_the_output_once() {
        for (batch, m, n, k, threads) in
            [(1, 128, 384, 384, 2), (1, 1, 512, 128, 2), (3, 200, 10, 300, 4), (64, 8, 8, 8, 2), (1, 5, 5, 5, 8)]
        {
            let mut seen = vec![0u8; batch * m * n];
            for block in blocks(batch, m, n, k, threads) {
                for r in block.row..block.row + block.rows {
                    for c in block.col..block.col + block.cols {
                        seen[(block.batch * m + r) * n + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{batch}x{m}x{n}");
        }
    }

    #[test]
    fn incompatible_strides_are_reported() {
        let data = vec![0.0; 64];
        let both_strided = Strided { data: &data, offsets: vec![0], rows: 3, cols: 3, row_stride: 8, col_stride: 2 };
        assert!(!both_strided.blas_compatible());
    }
}

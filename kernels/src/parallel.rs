//! Work split over threads: natively over rayon's pool; in wasm over one thread, or, in the
//! threaded browser package (feature `threads`), over the web workers that `wasm-bindgen-rayon`
//! starts (they share the module's memory) together with the calling thread. The page's main
//! thread may not block, so it does not wait on rayon: it takes items itself beside the
//! workers, then spins only while the last items in flight finish.

#[cfg(all(target_arch = "wasm32", feature = "threads"))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Helper threads started in this wasm module (none until [`set_helpers`]).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
static HELPERS: AtomicUsize = AtomicUsize::new(0);

/// Records that rayon's global pool now runs `helpers` web workers, so that work is split over
/// them and the calling thread. Call it once the pool has started, and before it only if never.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn set_helpers(helpers: usize) {
    HELPERS.store(helpers, Ordering::Release);
}

/// How many threads [`for_each`] spreads work over.
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    return HELPERS.load(Ordering::Acquire) + 1;
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    return 1;
}

/// Calls `task` once on every item, spread over [`threads`] threads; returns when all are done.
pub fn for_each<T: Send>(items: &mut [T], task: impl Fn(&mut T) + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        items.par_iter_mut().for_each(&task);
    }
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    shared::for_each(items, &task);
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    items.iter_mut().for_each(task);
}

/// Runs `main` and `side` and returns both results. In the threaded wasm package, `side` runs on
/// a helper by itself while `main` runs here, splitting its work over the other helpers through
/// [`for_each`], and over the side's helper too once `side` is done; so give `side` the shorter
/// work (a model's image branch beside its text branch). Natively both start at once on rayon's
/// pool (`rayon::join`), each splitting its work over the threads the other leaves idle; in the
/// single-threaded wasm packages one after the other.
pub fn join<M, S, A, B>(main: M, side: S) -> (A, B)
where
    M: FnOnce() -> A + Send,
    S: FnOnce() -> B + Send,
    A: Send,
    B: Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::join(main, side);
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    return shared::join(main, side);
    #[allow(unreachable_code)]
    (main(), side())
}

/// [`for_each`] and [`join`] over the calling thread and the helpers in the threaded wasm package.
///
/// Each helper is a loop run on one of rayon's web workers that polls for work for a few
/// milliseconds before it returns to rayon's pool (which parks the worker): while a
/// classification runs, the products and convolutions follow each other closely, so the helpers
/// find each one at once instead of being woken for it. A thread offers a job through the
/// statics below (one job at a time: the thread that takes the free slot; others run their work
/// alone meanwhile), works on it itself, withdraws it and spins until the helpers inside it have
/// left. The page's main thread never blocks: where it waits (for a [`join`]'s side), it helps.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
mod shared {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    use super::HELPERS;

    /// Taken by the thread whose job is on offer.
    static SLOT: AtomicBool = AtomicBool::new(false);
    /// Odd while a job is on offer; each offer and each withdrawal adds one.
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    /// The offered job's address and the function that works on it.
    static JOB: AtomicUsize = AtomicUsize::new(0);
    static RUN: AtomicUsize = AtomicUsize::new(0);
    /// Helpers inside the offered job: the caller waits for none before the job's memory goes.
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    /// Helper loops running (polling or working).
    static AWAKE: AtomicUsize = AtomicUsize::new(0);
    /// Helper loops asked to return to rayon's pool, so that a worker runs a [`join`]'s side
    /// queued there.
    static LEAVE: AtomicUsize = AtomicUsize::new(0);
    /// Polls a helper makes without finding work before it leaves (several milliseconds: longer
    /// than the serial steps between products, such as decoding and resizing the poster).
    const IDLE_POLLS: usize = 1 << 20;

    thread_local! {
        /// Set while this thread works on an offered job (its own or another's), so that work
        /// inside a job (an element-wise pass inside an LSTM band, say) runs on this thread
        /// rather than waiting for the slot.
        static IN_JOB: Cell<bool> = const { Cell::new(false) };
    }

    /// One [`for_each`] call: the items and the next one to claim.
    struct Job<'a, T> {
        items: *mut T,
        len: usize,
        next: AtomicUsize,
        task: &'a (dyn Fn(&mut T) + Sync),
    }

    impl<T> Job<'_, T> {
        /// Claims and runs items until none is left.
        fn work(&self) {
            loop {
                let index = self.next.fetch_add(1, SeqCst);
                if index >= self.len {
                    return;
                }
                // SAFETY: `index` is claimed once (the counter only grows), so this is the only
                // reference to that item; the items outlive the job (see `for_each`).
                (self.task)(unsafe { &mut *self.items.add(index) });
            }
        }
    }

    /// A helper's share of the job at `address`.
    ///
    /// # Safety
    /// `address` is a live `Job<T>` that stays alive while this helper is counted in [`INSIDE`].
    unsafe fn help<T>(address: usize) {
        // SAFETY: the caller's contract.
        unsafe { &*(address as *const Job<'_, T>) }.work();
    }

    /// Works on the job on offer if there is one this thread has not seen (`seen`: the last
    /// offer's sequence number it worked on); whether there was.
    fn help_once(seen: &mut usize) -> bool {
        let sequence = SEQUENCE.load(SeqCst);
        if sequence.is_multiple_of(2) || sequence == *seen {
            return false;
        }
        INSIDE.fetch_add(1, SeqCst);
        // Still the same offer, so its owner waits for this thread before the job goes.
        if SEQUENCE.load(SeqCst) == sequence {
            let (address, run) = (JOB.load(SeqCst), RUN.load(SeqCst));
            // SAFETY: `RUN` holds the `help::<T>` that `for_each` stored with `JOB`'s job.
            let run: unsafe fn(usize) = unsafe { std::mem::transmute::<usize, unsafe fn(usize)>(run) };
            let outer = IN_JOB.with(|h| h.replace(true));
            // SAFETY: counted in `INSIDE` during an offer, so the job is alive.
            unsafe { run(address) };
            IN_JOB.with(|h| h.set(outer));
        }
        INSIDE.fetch_sub(1, SeqCst);
        *seen = sequence;
        true
    }

    /// A helper: works on every job offered until it has found none for [`IDLE_POLLS`] polls,
    /// or is asked to leave.
    fn helper_loop() {
        let (mut seen, mut idle) = (usize::MAX, 0);
        loop {
            if help_once(&mut seen) {
                idle = 0;
            } else if idle >= IDLE_POLLS
                || (LEAVE.load(SeqCst) > 0 && LEAVE.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok())
            {
                AWAKE.fetch_sub(1, SeqCst);
                return;
            } else {
                idle += 1;
                std::hint::spin_loop();
            }
        }
    }

    /// [`super::join`]: `side` queued on rayon's pool (one polling helper asked to leave so that
    /// its worker takes it), `main` here, then this thread helps with whatever `side` offers
    /// until it is done.
    pub(super) fn join<M, S, A, B>(main: M, side: S) -> (A, B)
    where
        M: FnOnce() -> A + Send,
        S: FnOnce() -> B + Send,
        A: Send,
        B: Send,
    {
        if HELPERS.load(SeqCst) == 0 || IN_JOB.with(Cell::get) {
            return (main(), side());
        }
        let mut result = None;
        let done = AtomicBool::new(false);
        let task: Box<dyn FnOnce() + Send + '_> = Box::new(|| {
            result = Some(side());
            done.store(true, SeqCst);
        });
        // SAFETY: the task borrows this frame (`side`'s captures, `result`, `done`); this
        // function does not return before the task has set `done` (below), its last access.
        let task: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(task) };
        if AWAKE.load(SeqCst) > 0 {
            LEAVE.fetch_add(1, SeqCst);
        }
        rayon::spawn(task);
        let main_result = main();
        let mut seen = usize::MAX;
        while !done.load(SeqCst) {
            if !help_once(&mut seen) {
                std::hint::spin_loop();
            }
        }
        (main_result, result.expect("the side ran"))
    }

    pub(super) fn for_each<T: Send>(items: &mut [T], task: &(dyn Fn(&mut T) + Sync)) {
        let helpers = HELPERS.load(SeqCst);
        if helpers == 0
            || items.len() < 2
            || IN_JOB.with(Cell::get)
            || SLOT.compare_exchange(false, true, SeqCst, SeqCst).is_err()
        {
            items.iter_mut().for_each(task);
            return;
        }
        IN_JOB.with(|h| h.set(true));
        let job = Job { items: items.as_mut_ptr(), len: items.len(), next: AtomicUsize::new(0), task };
        JOB.store(&job as *const Job<'_, T> as usize, SeqCst);
        RUN.store(help::<T> as unsafe fn(usize) as usize, SeqCst);
        SEQUENCE.fetch_add(1, SeqCst);
        // Helpers that left for want of work are started again (a parked worker wakes).
        while AWAKE.load(SeqCst) < helpers {
            AWAKE.fetch_add(1, SeqCst);
            rayon::spawn(helper_loop);
        }
        job.work();
        SEQUENCE.fetch_add(1, SeqCst);
        while INSIDE.load(SeqCst) != 0 {
            std::hint::spin_loop();
        }
        IN_JOB.with(|h| h.set(false));
        SLOT.store(false, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_visited_once() {
        let mut items: Vec<(usize, u32)> = (0..1000).map(|i| (i, 0)).collect();
        for_each(&mut items, |(i, visits)| {
            *visits += 1;
            *i *= 2;
        });
        assert!(items.iter().enumerate().all(|(i, &(v, visits))| v == 2 * i && visits == 1));
        assert!(threads() >= 1);
    }

    #[test]
    fn join_returns_both_sides() {
        let (mut left, mut right) = (vec![1, 2, 3], vec![4, 5]);
        let (a, b) = join(
            || {
                for_each(&mut left, |v| *v *= 10);
                left.iter().sum::<i32>()
            },
            || right.iter_mut().map(std::mem::take).sum::<i32>(),
        );
        assert_eq!((a, b), (60, 9));
        assert_eq!(right, [0, 0]);
    }
}

//! Running the two halves of a kernel at once, for a caller outside rayon's pool.
//!
//! Why not `rayon::join` alone: called from outside the pool (a user's own thread, where
//! generated functions usually run), it hands both halves to the pool and puts the caller to
//! sleep until they are done; and rayon's workers go to sleep a few microseconds after they run
//! out of work. Waking a sleeping thread is slow on a virtual machine: on the 2-core KVM guest
//! the benchmarks ran on, a join of two 20 µs halves that came after 100 µs of single-threaded
//! work (as each of B1's products comes after an elementwise pass) took 90 µs longer than the
//! halves themselves, against 18 µs when joins came back to back. B1 makes five joins a call.
//!
//! So, as OpenMP runtimes do by default: the caller runs the left half itself and spins, briefly,
//! until a helper thread has run the right one (the helpers are a pool of the runtime's own:
//! [`helpers`]); and after a join one helper stays awake for [`KEEP_WARM`], running any job that
//! arrives, so that the next join finds it ready.
//! Measured the same way: 2.5 µs over the halves after 100 µs of serial work, 6 µs after 300 µs;
//! past [`KEEP_WARM`] it is back to about 55 µs (the caller's spinning still saves one wake-up).
//! The price is one core kept busy for at most [`KEEP_WARM`] after the last join.
//!
//! Inside a pool (a kernel called from a user's `par_iter`, or a nested half), `rayon::join` is
//! already cheap and nobody spins.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::{ThreadPool, ThreadPoolBuilder};

use super::shape;

/// How long a helper stays awake after a join.
pub(crate) const KEEP_WARM: Duration = Duration::from_micros(500);

/// How long the caller spins for the right half after finishing the left one before it sleeps
/// until rayon wakes it: long enough for a half that a warm worker started late, short enough
/// that a busy machine is not kept busier.
const SPIN_FOR_RIGHT_HALF: Duration = Duration::from_micros(200);

/// Whether a keep-warm job is queued or running (there is never more than one, so that the
/// caller's own core is not taken by a second spinning helper).
static WARM_WORKER: AtomicBool = AtomicBool::new(false);

/// Until when (in [`now`]'s nanoseconds) the keep-warm job spins; each join moves it on.
static WARM_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Bytes an elementwise pass reads or writes below which it stays on the calling thread.
///
/// In B1 (f64, batch 1024: 2 MiB tensors, each half in the L2 of the core that wrote it in the
/// product before, as the caller takes the first half of both) two threads took the bias add
/// from 100 to 55–75 µs and relu's pullback from 150 to 90 µs. Not tuned further: at batch 64 a
/// pass (128 KiB) takes about 10 µs, less than waking a helper that has gone to sleep.
pub(crate) const MIN_PARALLEL_BYTES: usize = 512 << 10;

/// Whether a pass over `bytes` of memory goes in two halves ([`in_halves`] would cut it):
/// for a caller that prepares differently when it does.
pub(crate) fn worth_halving(bytes: usize) -> bool {
    bytes >= MIN_PARALLEL_BYTES && rayon::current_num_threads() >= 2
}

/// `f(offset, part)` over the two halves of `data`, cut at a multiple of `unit` elements, on two
/// threads when the pass moves at least [`MIN_PARALLEL_BYTES`] (`bytes`) and rayon's pool has
/// two threads; otherwise `f(0, data)`. The caller's thread takes the first half.
pub(crate) fn in_halves<T: Send>(
    data: &mut [T],
    unit: usize,
    bytes: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let at = (data.len() / 2).next_multiple_of(unit.max(1));
    if !worth_halving(bytes) || at == 0 || at >= data.len() {
        return f(0, data);
    }
    let (first, second) = data.split_at_mut(at);
    join(|| f(0, first), || f(at, second));
}

/// `left()` and `right()`, in parallel when rayon's pool has a thread to spare; returns when
/// both are done, and re-raises a panic of either. The calling thread's shape-error context is
/// set aside meanwhile, as a thread that waits in rayon may run other jobs: see
/// [`shape::without_context`].
pub(crate) fn join(left: impl FnOnce() + Send, right: impl FnOnce() + Send) {
    shape::without_context(|| join_halves(left, right));
}

fn join_halves(left: impl FnOnce() + Send, right: impl FnOnce() + Send) {
    if rayon::current_thread_index().is_some() {
        rayon::join(left, right);
        return;
    }
    let Some(helpers) = helpers() else {
        left();
        right();
        return;
    };
    let right_done = AtomicBool::new(false);
    helpers.in_place_scope(|scope| {
        scope.spawn(|_| {
            right();
            right_done.store(true, Ordering::Release);
        });
        left();
        let start = Instant::now();
        while !right_done.load(Ordering::Acquire) && start.elapsed() < SPIN_FOR_RIGHT_HALF {
            spin_loop();
        }
        // The scope then waits (asleep) for a right half that is still running, and re-raises
        // its panic if it had one.
    });
    keep_a_worker_awake(helpers);
}

/// The runtime's own pool for the halves callers hand off: one thread fewer than rayon's global
/// pool (the caller is the other), none when that has one. Its own, so that the caller and its
/// helpers never outnumber the cores: with the global pool's two workers on two cores, each
/// handed-off half woke both, and the one left without work spun on the core the caller's half
/// ran on (B2's Hessian at n = 500 took 15% longer than with plain `rayon::join`).
fn helpers() -> Option<&'static ThreadPool> {
    static HELPERS: OnceLock<Option<ThreadPool>> = OnceLock::new();
    HELPERS
        .get_or_init(|| {
            // Called outside any pool, so this is the global pool's size.
            let threads = rayon::current_num_threads();
            if threads < 2 {
                return None;
            }
            ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("autodiff-helper-{i}"))
                .build()
                .ok()
        })
        .as_ref()
}

/// Nanoseconds since the first call: the clock [`WARM_UNTIL`] is kept in.
fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let nanos = EPOCH.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Keeps one of the helpers awake for [`KEEP_WARM`] from now: extends the running keep-warm
/// job's time, or starts one.
fn keep_a_worker_awake(helpers: &ThreadPool) {
    let keep = u64::try_from(KEEP_WARM.as_nanos()).unwrap_or(u64::MAX);
    WARM_UNTIL.store(now().saturating_add(keep), Ordering::Relaxed);
    if !WARM_WORKER.swap(true, Ordering::AcqRel) {
        helpers.spawn(stay_awake);
    }
}

/// The keep-warm job: runs the helpers' pending jobs as they come, spinning between them, until
/// [`WARM_UNTIL`].
fn stay_awake() {
    loop {
        while now() < WARM_UNTIL.load(Ordering::Relaxed) {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                spin_loop();
            }
        }
        WARM_WORKER.store(false, Ordering::Release);
        // A join that moved WARM_UNTIL on between the last check and the store above saw this
        // job still running and started none: carry on for it, unless another job has started.
        if now() >= WARM_UNTIL.load(Ordering::Relaxed) || WARM_WORKER.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn both_halves_run_once_from_outside_and_inside_the_pool() {
        let (left, right) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let halves = || {
            join(
                || {
                    left.fetch_add(1, Ordering::Relaxed);
                },
                || {
                    right.fetch_add(1, Ordering::Relaxed);
                },
            )
        };
        halves();
        rayon::scope(|_| halves());
        assert_eq!(left.load(Ordering::Relaxed), 2);
        assert_eq!(right.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn halves_cover_the_data_once_cut_at_a_multiple_of_the_unit() {
        let parts = std::sync::Mutex::new(Vec::new());
        let mut data = vec![0u32; 1000];
        in_halves(&mut data, 64, MIN_PARALLEL_BYTES, |offset, part| {
            part.iter_mut().for_each(|x| *x += 1);
            parts.lock().unwrap().push((offset, part.len()));
        });
        let mut parts = parts.into_inner().unwrap();
        parts.sort();
        assert!(data.iter().all(|&x| x == 1));
        if rayon::current_num_threads() >= 2 {
            assert_eq!(parts, [(0, 512), (512, 488)]);
        } else {
            assert_eq!(parts, [(0, 1000)]);
        }
        // Small, or no cut left inside: one call on all of it.
        for (unit, bytes) in [(64, MIN_PARALLEL_BYTES - 1), (1000, MIN_PARALLEL_BYTES)] {
            let mut calls = 0;
            let calls_ref = std::sync::Mutex::new(&mut calls);
            in_halves(&mut data, unit, bytes, |offset, part| {
                assert_eq!((offset, part.len()), (0, 1000));
                **calls_ref.lock().unwrap() += 1;
            });
            assert_eq!(calls, 1);
        }
    }

    #[test]
    fn a_panic_in_either_half_reaches_the_caller() {
        for panicking_side in ["left", "right"] {
            let result = std::panic::catch_unwind(|| {
                join(
                    || assert_ne!(panicking_side, "left", "left half"),
                    || assert_ne!(panicking_side, "right", "right half"),
                )
            });
            let payload = result.expect_err("the panic is re-raised");
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert!(
                message.contains(&format!("{panicking_side} half")),
                "{message}"
            );
        }
    }

    #[test]
    fn the_keep_warm_job_ends() {
        join(|| {}, || {});
        let deadline = Instant::now() + Duration::from_secs(5);
        // Only this test's joins and the other tests' may be moving WARM_UNTIL on; each keeps
        // the worker for KEEP_WARM at most.
        while WARM_WORKER.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!WARM_WORKER.load(Ordering::Acquire));
    }
}

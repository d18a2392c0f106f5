//! The process-wide side of the buffer cache: the cap on all threads' cached bytes, and
//! `clear_all_caches`. (A file of its own: the count is process-wide, so nothing else may cache
//! buffers while these tests read it; they also take turns through `ONE_AT_A_TIME`.)
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use autodiff_core::buffer::{
    cached_bytes, clear_all_caches, MAX_CACHED_BYTES, MAX_TOTAL_CACHED_BYTES,
};
use autodiff_core::Matrix;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

/// A tensor of `mib` MiB of f64, which goes to its thread's cache when dropped.
fn tensor_of_mib(mib: usize) -> Matrix<f64> {
    Matrix::zeros(mib, MIB / 8)
}

#[test]
fn many_threads_together_never_cache_more_than_the_cap() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = cached_bytes();
    // Each thread offers half its own limit per element type (in 8 MiB buffers), so only the
    // process-wide cap can refuse them; together they offer twice the cap.
    const THREADS: usize = 8;
    let per_type = MAX_CACHED_BYTES / 2;
    assert!(THREADS * 2 * per_type >= 2 * MAX_TOTAL_CACHED_BYTES);
    let buffers = per_type / (8 * MIB);
    let dropped = Arc::new(Barrier::new(THREADS + 1));
    let checked = Arc::new(Barrier::new(THREADS + 1));
    // Spawned and joined, not scoped: `join` returns only once a thread's thread-locals (its
    // caches) are dropped, a scope as soon as its closure returns.
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (dropped, checked) = (Arc::clone(&dropped), Arc::clone(&checked));
            thread::spawn(move || {
                let f64s: Vec<_> = (0..buffers).map(|_| tensor_of_mib(8)).collect();
                let f32s: Vec<_> = (0..buffers)
                    .map(|_| Matrix::<f32>::zeros(8, MIB / 4))
                    .collect();
                drop((f64s, f32s));
                dropped.wait();
                // Keep this thread, and so its cache, alive until the total is read.
                checked.wait();
            })
        })
        .collect();
    dropped.wait();
    let total = cached_bytes() - before;
    checked.wait();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(
        total <= MAX_TOTAL_CACHED_BYTES,
        "{total} bytes cached, cap {MAX_TOTAL_CACHED_BYTES}"
    );
    assert!(
        total > MAX_TOTAL_CACHED_BYTES - 8 * MIB,
        "the cap was reached (buffers were refused only past it): {total} bytes"
    );
    assert_eq!(
        cached_bytes(),
        before,
        "the exited threads' caches left the count"
    );
}

#[test]
fn clear_all_caches_empties_rayon_workers_now_and_other_threads_on_their_next_use() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = cached_bytes();

    // A thread outside rayon caches 1 MiB and then waits: `clear_all_caches` cannot reach it.
    let (to_idle, idle_inbox) = mpsc::channel::<()>();
    let (idle_done, from_idle) = mpsc::channel::<()>();
    let idle = thread::spawn(move || {
        drop(tensor_of_mib(1));
        idle_done.send(()).unwrap();
        // Its next use, a tensor its cached buffer cannot hold: that buffer, cached before the
        // clear, is freed (without the clear it would stay).
        idle_inbox.recv().unwrap();
        let tensor = tensor_of_mib(3);
        idle_done.send(()).unwrap();
        idle_inbox.recv().unwrap();
        drop(tensor); // cached again
        idle_done.send(()).unwrap();
        idle_inbox.recv().unwrap();
        let tensor = tensor_of_mib(3); // taken back from the cache
        idle_done.send(()).unwrap();
        idle_inbox.recv().unwrap();
        drop(tensor);
    });
    from_idle.recv().unwrap();

    // Every worker of the global pool caches 2 MiB, and this thread 4 MiB.
    let workers = rayon::broadcast(|_| drop(tensor_of_mib(2))).len();
    drop(tensor_of_mib(4));
    assert_eq!(cached_bytes() - before, MIB + workers * 2 * MIB + 4 * MIB);

    clear_all_caches();
    assert_eq!(
        cached_bytes() - before,
        MIB,
        "only the waiting thread's buffer is left"
    );
    let step = |expected: usize, what: &str| {
        to_idle.send(()).unwrap();
        from_idle.recv().unwrap();
        assert_eq!(cached_bytes() - before, expected, "{what}");
    };
    step(0, "the waiting thread dropped its cache on its next use");
    step(3 * MIB, "its new tensor, dropped, is cached");
    step(0, "and taken back out");
    to_idle.send(()).unwrap();
    idle.join().unwrap();
    assert_eq!(
        cached_bytes() - before,
        0,
        "its exit took the buffer of its last drop out of the count"
    );
}

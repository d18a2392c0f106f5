//! The shape-error context of a generated function stays on its own work: other rayon jobs that
//! its thread runs while it waits inside a GEMM do not report their shape errors as its own.
//! (A file of its own: the test silences the panic hook of the whole process.)
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use autodiff_core::{kernels, Matrix};

/// The message of a caught panic.
fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast::<&str>()
            .map_or_else(|_| "<not a string>".to_string(), |text| text.to_string()),
    }
}

/// The message of the shape mismatch that `f` panics with.
fn shape_error(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("a shape mismatch");
    message(payload)
}

fn mismatched_sum() {
    let _ = &Matrix::<f64>::zeros(2, 3) + &Matrix::<f64>::zeros(3, 3);
}

#[test]
fn jobs_run_while_a_product_waits_do_not_see_its_context() {
    // Hundreds of panics are expected; their messages are read below, not printed.
    panic::set_hook(Box::new(|_| {}));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // 128³ multiply-adds is twice the runtime's minimum per thread: the product is cut in two
    // blocks and its thread waits in `rayon::join` for the other one.
    let a = Matrix::from_fn(128, 128, |i, j| ((i + 2 * j) % 5) as f64);
    const JOBS: usize = 2000;
    let remaining = AtomicUsize::new(JOBS);
    let messages = Mutex::new(Vec::new());
    let own_message = Mutex::new(String::new());
    // `in_place_scope` puts the jobs in the pool's shared queue, the one a thread waiting in
    // `join` (its own queue empty, its other block taken by the other thread) takes work from.
    pool.in_place_scope(|s| {
        s.spawn(|_| {
            let _context = kernels::enter("owner");
            kernels::at("a.matmul(a)");
            let mut rounds = 0;
            while remaining.load(Ordering::Relaxed) > 0 && rounds < 100_000 {
                let _ = a.matmul(&a);
                rounds += 1;
            }
            *own_message.lock().unwrap() = shape_error(mismatched_sum);
        });
        for _ in 0..JOBS {
            s.spawn(|_| {
                let text = shape_error(mismatched_sum);
                messages.lock().unwrap().push(text);
                remaining.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    let _ = panic::take_hook();

    let messages = messages.into_inner().unwrap();
    assert_eq!(messages.len(), JOBS);
    let expected = "autodiff: shape mismatch in `add`: left is 2×3, right is 3×3";
    let leaked: Vec<&String> = messages.iter().filter(|m| m.as_str() != expected).collect();
    assert!(
        leaked.is_empty(),
        "{} of {JOBS} jobs reported another context, e.g. {:?}",
        leaked.len(),
        leaked[0]
    );
    assert_eq!(
        own_message.into_inner().unwrap(),
        format!("{expected} (in `owner`, at `a.matmul(a)`)"),
        "the function's own context is back after its products"
    );
}

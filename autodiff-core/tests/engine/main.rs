//! Engine tests without the macro: IR programs are built by hand and run through the interpreter
//! `symbolic::eval`. One module per section:
//!
//! 1. `reverse`: the reverse program against central five-point finite differences: one table
//!    row per op and kind combination (with broadcasting on either side and each operand active
//!    or not), composite programs, and 2000 random programs of the generator the property tests
//!    use (`common::programs`); in f64, and with the derived program run in f32.
//! 2. `simplify`: the simplifier never changes a value (returned values bit for bit, derived
//!    values to 1e-12), adds no tensor work and is idempotent; each rewrite fires, and does not
//!    fire where it would be wrong.
//! 3. `structure`: the structure of derived programs (matmul pullbacks, the B1 MLP, activity
//!    analysis, zero gradients) and their derivation text.
//! 4. `kind_errors`: kind errors are errors, not panics, with lowercase messages.
//! 5. `printer`: the printer.
//! 6. `interpreter`: the interpreter's meaning of each op against numbers worked by hand.
//! 7. `forward`: forward mode. On every table row and random program, the tangent program's
//!    `J·v` against five-point differences of the primal along `v` (f64, and the tangent program
//!    run in f32) and against reverse mode by the dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`; its
//!    value is the primal's bit for bit, simplifying it changes nothing, and it computes no
//!    tangent of an inactive value. Every derived program (adjoints and tangents of the same
//!    rows) is differentiated forward again and checked the same way, which covers the
//!    derivative kernels' forward rules (forward-over-reverse Hessian-vector products). Then the
//!    structure of forward programs (`dy = dx·w + x·dw`, the B1 MLP's three tangent GEMMs, bias
//!    expansion, zero tangents) and malformed requests.
//! 8. `integers`: integer values and named constants: their meaning, their printed form, that
//!    they have no derivative and make nothing active, and that float math refuses them.
//! 9. `loops`: a recurrent loop (a `Loop` whose body is a program) through reverse, forward
//!    and forward-over-reverse mode against central differences of the interpreted primal.
//! 10. `fuse`: loop fusion changes no value, bit for bit, on every table row and random
//!     program; the loops it makes of Rosenbrock's gradient, and where it must not fuse.
//!
//! `tables` holds the rows the sections share and `support` the tolerances, inputs and helpers.
//! Table tests run every row and report every failing row at once (with the program's listing),
//! like JAX's `check_vjp` tables.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

#[path = "../common/mod.rs"]
mod common;

mod forward;
mod fuse;
mod integers;
mod interpreter;
mod kind_errors;
mod loops;
mod printer;
mod reverse;
mod simplify;
mod structure;
mod trace;

mod support;
mod tables;

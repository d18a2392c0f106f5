//! Shapes as printed in error messages, the one shape-mismatch panic, and NumPy broadcasting.

use std::fmt;

/// The shape of an operand, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A matrix of `rows × cols`.
    Matrix(usize, usize),
    /// A vector of `n` entries.
    Vector(usize),
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Matrix(r, c) => write!(f, "{r}×{c}"),
            Shape::Vector(n) => write!(f, "vector of {n}"),
        }
    }
}

/// Panics with a message naming the operation and both operand shapes, and, inside generated
/// code, the function and the operation as written in its source.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn shape_mismatch(op: &str, left: Shape, right: Shape) -> ! {
    let place = place();
    panic!("autodiff: shape mismatch in `{op}`: left is {left}, right is {right}{place}")
}

/// Panics with `what` (an index or range and the shape it does not fit) and, inside generated
/// code, the function and the expression as written, as [`shape_mismatch`] does.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn out_of_range(what: fmt::Arguments<'_>) -> ! {
    let place = place();
    panic!("autodiff: {what}{place}")
}

/// Panics with `what` (a matrix that an operation cannot take: not square, or singular) and,
/// inside generated code, the function and the operation as written, as [`shape_mismatch`] does.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn unfit_matrix(what: fmt::Arguments<'_>) -> ! {
    let place = place();
    panic!("autodiff: {what}{place}")
}

/// ` (in `f`, at `x[i]`)`: where generated code is, for a panic message.
fn place() -> String {
    CONTEXT.with(|c| match c.get() {
        Some(Context {
            function,
            source: Some(source),
        }) => format!(" (in `{function}`, at `{source}`)"),
        Some(Context {
            function,
            source: None,
        }) => format!(" (in `{function}`)"),
        None => String::new(),
    })
}

/// Where generated code is: the function, and the operation as written in the user's source.
#[derive(Clone, Copy)]
struct Context {
    function: &'static str,
    source: Option<&'static str>,
}

thread_local! {
    // (A `Cell`: every generated function sets it on entry, so no borrow flag to check.)
    static CONTEXT: std::cell::Cell<Option<Context>> = const { std::cell::Cell::new(None) };
}

/// Marks the start of a generated function for shape-error messages, until the guard drops.
#[inline]
pub fn enter(function: &'static str) -> ContextGuard {
    let previous = CONTEXT.with(|c| {
        c.replace(Some(Context {
            function,
            source: None,
        }))
    });
    ContextGuard { previous }
}

/// Records the operation (as written in the user's source) that generated code runs next.
#[inline]
pub fn at(source: &'static str) {
    CONTEXT.with(|c| {
        if let Some(context) = c.get() {
            c.set(Some(Context {
                source: Some(source),
                ..context
            }));
        }
    });
}

/// Runs `f` with this thread's context set aside, and puts it back when `f` returns (or unwinds).
///
/// Why: a thread that waits in rayon (`join`, `broadcast`) runs other rayon jobs meanwhile, and
/// their shape errors must not name the generated function that is waiting here. The runtime
/// wraps each of its calls into rayon in this.
pub(crate) fn without_context<R>(f: impl FnOnce() -> R) -> R {
    let _restore = ContextGuard {
        previous: CONTEXT.with(|c| c.take()),
    };
    f()
}

/// Restores the enclosing context when a generated function returns (or unwinds).
pub struct ContextGuard {
    previous: Option<Context>,
}

impl Drop for ContextGuard {
    #[inline]
    fn drop(&mut self) {
        let previous = self.previous;
        CONTEXT.with(|c| c.set(previous));
    }
}

/// The NumPy broadcast of two matrix shapes: along each axis equal, or one side 1.
#[track_caller]
pub(crate) fn broadcast(op: &str, a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    let axis = |x: usize, y: usize| match (x, y) {
        _ if x == y => Some(x),
        (1, _) => Some(y),
        (_, 1) => Some(x),
        _ => None,
    };
    match (axis(a.0, b.0), axis(a.1, b.1)) {
        (Some(r), Some(c)) => (r, c),
        _ => shape_mismatch(op, Shape::Matrix(a.0, a.1), Shape::Matrix(b.0, b.1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_as_documented() {
        assert_eq!(Shape::Matrix(2, 3).to_string(), "2×3");
        assert_eq!(Shape::Vector(3).to_string(), "vector of 3");
    }

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast("add", (2, 3), (1, 3)), (2, 3));
        assert_eq!(broadcast("add", (2, 1), (2, 3)), (2, 3));
        assert_eq!(broadcast("add", (2, 1), (1, 3)), (2, 3));
        assert_eq!(broadcast("add", (1, 1), (4, 5)), (4, 5));
        assert_eq!(broadcast("add", (0, 3), (1, 3)), (0, 3));
    }

    #[test]
    #[should_panic(expected = "autodiff: shape mismatch in `add`: left is 2×3, right is 3×3")]
    fn broadcast_rejects_incompatible_rows() {
        broadcast("add", (2, 3), (3, 3));
    }
}

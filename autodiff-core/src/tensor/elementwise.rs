//! The [`Elementwise`] trait shared by scalars, vectors and matrices, the slice kernels every
//! elementwise method is built from, and the methods common to `Matrix` and `Vector`.

use super::buffer;
use super::matrix::Matrix;
use super::scalar::Real;
use super::threads;
use super::vector::Vector;

/// Values that elementwise kernels work on: a scalar `T` itself, a `Vector<T>` or a `Matrix<T>`.
///
/// The fused derivative kernels in [`kernels`](super::kernels) are generic over this trait, so the
/// same kernel serves scalars and tensors.
pub trait Elementwise<T: Real>: Clone {
    /// Applies `f` to every element.
    fn map(&self, f: impl Fn(T) -> T) -> Self;
    /// Combines two values of the same shape elementwise; panics naming `op` on a shape mismatch.
    #[track_caller]
    fn zip_map(&self, other: &Self, op: &'static str, f: impl Fn(T, T) -> T) -> Self;
    /// [`zip_map`](Self::zip_map) into `self`'s own buffer.
    #[track_caller]
    fn zip_map_in_place(self, other: &Self, op: &'static str, f: impl Fn(T, T) -> T + Sync)
        -> Self;
    /// Combines three values of the same shape elementwise; panics naming `op` on a mismatch.
    #[track_caller]
    fn zip_map3(&self, b: &Self, c: &Self, op: &'static str, f: impl Fn(T, T, T) -> T) -> Self;
    /// Number of elements (1 for a scalar).
    fn numel(&self) -> usize;
    /// A value of the same shape with every element equal to `value`.
    fn fill_like(&self, value: T) -> Self;
    /// Sum of all elements.
    fn sum_all(&self) -> T;
    /// The elements, row-major (one for a scalar).
    fn as_flat(&self) -> &[T];
    /// A value of the same shape holding `data` (row-major); panics if the length differs.
    #[track_caller]
    fn with_flat(&self, data: Vec<T>) -> Self;
}

impl<T: Real> Elementwise<T> for T {
    #[inline]
    fn map(&self, f: impl Fn(T) -> T) -> Self {
        f(*self)
    }
    #[inline]
    fn zip_map(&self, other: &Self, _op: &'static str, f: impl Fn(T, T) -> T) -> Self {
        f(*self, *other)
    }
    #[inline]
    fn zip_map_in_place(
        self,
        other: &Self,
        _op: &'static str,
        f: impl Fn(T, T) -> T + Sync,
    ) -> Self {
        f(self, *other)
    }
    #[inline]
    fn zip_map3(&self, b: &Self, c: &Self, _op: &'static str, f: impl Fn(T, T, T) -> T) -> Self {
        f(*self, *b, *c)
    }
    #[inline]
    fn numel(&self) -> usize {
        1
    }
    #[inline]
    fn fill_like(&self, value: T) -> Self {
        value
    }
    #[inline]
    fn sum_all(&self) -> T {
        *self
    }
    #[inline]
    fn as_flat(&self) -> &[T] {
        std::slice::from_ref(self)
    }
    #[track_caller]
    fn with_flat(&self, data: Vec<T>) -> Self {
        assert_eq!(data.len(), 1, "autodiff: a scalar holds one element");
        data[0]
    }
}

/// `f` of every element, into a new buffer, compiled for this CPU's instruction set as
/// [`map_in_place`] is. Each block of [`MAP_BLOCK`] elements is copied, then mapped in place
/// while it is in L1: `f` vectorizes in place where it would not through `extend`'s iterator
/// (`tanh`), and the buffer is still crossed once (copying all of it first, then mapping,
/// made a 2 MiB relu 1.45× slower). A large `x` is done in two halves at once
/// ([`threads::in_halves`]), each writing its part of the new buffer.
#[inline]
pub(crate) fn map_slice<T: Real>(x: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let bytes = 2 * std::mem::size_of_val(x);
    if !threads::worth_halving(bytes) {
        return map_slice_here(x, f);
    }
    let mut out = buffer::overwritable(x.len());
    threads::in_halves(&mut out, 1, bytes, |offset, part| {
        let x = &x[offset..offset + part.len()];
        for (out, x) in part.chunks_mut(MAP_BLOCK).zip(x.chunks(MAP_BLOCK)) {
            out.copy_from_slice(x);
            map_on_this_thread(out, &f);
        }
    });
    out
}

/// [`map_slice`] on the calling thread, for any `f`.
#[inline]
pub(crate) fn map_slice_here<T: Real>(x: &[T], f: impl Fn(T) -> T) -> Vec<T> {
    let mut out = buffer::alloc(x.len());
    for block in x.chunks(MAP_BLOCK) {
        let start = out.len();
        out.extend_from_slice(block);
        map_on_this_thread(&mut out[start..], &f);
    }
    out
}

/// Elements per block of [`map_slice`]: 8 KiB of f64, a quarter of the smallest L1.
const MAP_BLOCK: usize = 1024;

/// `f` of every element, in place, compiled for the instruction set this CPU has (AVX2 or
/// AVX-512, found at run time by `pulp`): a branch-free `f` such as
/// [`fast_math::tanh`](super::fast_math) then runs 4–16 elements at a time, where the
/// baseline x86-64 build (SSE2) leaves the loop scalar (28 µs for 4,096 f64 `tanh`, 7.6 µs
/// with AVX-512). A large `x` is done in two halves at once ([`threads::in_halves`]).
#[inline]
pub(crate) fn map_in_place<T: Copy + Send>(x: &mut [T], f: impl Fn(T) -> T + Sync) {
    let bytes = 2 * std::mem::size_of_val(x);
    threads::in_halves(x, 1, bytes, |_, part| map_on_this_thread(part, &f));
}

/// [`map_in_place`] on the calling thread.
#[inline]
fn map_on_this_thread<T: Copy>(x: &mut [T], f: impl Fn(T) -> T) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || x.iter_mut().for_each(|a| *a = f(*a)),
    );
}

/// `f` of corresponding elements of two slices of equal length; a large pair in two halves at
/// once ([`threads::in_halves`]), each writing its part of the new buffer.
#[inline]
pub(crate) fn zip_slice<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    debug_assert_eq!(a.len(), b.len());
    let bytes = 3 * std::mem::size_of_val(a);
    if !threads::worth_halving(bytes) {
        return zip_slice_here(a, b, f);
    }
    let mut out = buffer::overwritable(a.len());
    threads::in_halves(&mut out, 1, bytes, |offset, part| {
        let end = offset + part.len();
        let pairs = a[offset..end].iter().zip(&b[offset..end]);
        part.iter_mut()
            .zip(pairs)
            .for_each(|(o, (&x, &y))| *o = f(x, y));
    });
    out
}

/// [`zip_slice`] on the calling thread, for any `f`.
#[inline]
pub(crate) fn zip_slice_here<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> Vec<T> {
    debug_assert_eq!(a.len(), b.len());
    buffer::collect(a.len(), a.iter().zip(b).map(|(&x, &y)| f(x, y)))
}

/// `dst[i] = f(dst[i], src[i])` over two slices of equal length; a large pair in two halves at
/// once ([`threads::in_halves`]).
#[inline]
pub(crate) fn zip_in_place<T: Copy + Send + Sync>(
    dst: &mut [T],
    src: &[T],
    f: impl Fn(T, T) -> T + Sync,
) {
    debug_assert_eq!(dst.len(), src.len());
    let bytes = 2 * std::mem::size_of_val(dst);
    threads::in_halves(dst, 1, bytes, |offset, part| {
        let src = &src[offset..offset + part.len()];
        part.iter_mut().zip(src).for_each(|(x, &y)| *x = f(*x, y));
    });
}

/// `f` of corresponding elements of three slices of equal length.
#[inline]
pub(crate) fn zip3_slice<T: Real>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) -> Vec<T> {
    debug_assert!(a.len() == b.len() && b.len() == c.len());
    let elements = a.iter().zip(b).zip(c).map(|((&x, &y), &z)| f(x, y, z));
    buffer::collect(a.len(), elements)
}

/// Number of independent accumulators in reductions, so they vectorize: a fused loop's lanes,
/// so that its sums add in the same order.
use super::fused::LANES;

/// Sum of a slice with `LANES` accumulators (vectorizes, and is more accurate than a running sum).
pub(crate) fn sum_slice<T: Real>(x: &[T]) -> T {
    let chunks = x.chunks_exact(LANES);
    let tail: T = chunks.remainder().iter().copied().sum();
    let mut acc = [T::zero(); LANES];
    for chunk in chunks {
        acc.iter_mut().zip(chunk).for_each(|(s, &v)| *s += v);
    }
    acc.iter().copied().sum::<T>() + tail
}

/// Dot product of two slices of equal length with `LANES` accumulators.
pub(crate) fn dot_slice<T: Real>(a: &[T], b: &[T]) -> T {
    debug_assert_eq!(a.len(), b.len());
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: T = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    let mut acc = [T::zero(); LANES];
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().copied().sum::<T>() + tail
}

/// `y += alpha·x` over two slices of equal length.
#[inline]
pub(crate) fn axpy<T: Real>(alpha: T, x: &[T], y: &mut [T]) {
    zip_in_place(y, x, |yi, xi| yi + alpha * xi);
}

/// Implements [`Elementwise`], the elementwise methods, `sum` and `mean` for a dense tensor type
/// that has `data: Buffer<T>`, `fn with_data(&self, Vec<T>) -> Self` and `pub(crate) fn layout(&self) -> Shape`.
macro_rules! impl_dense_common {
    ($Ty:ident) => {
        impl<T: Real> Elementwise<T> for $Ty<T> {
            fn map(&self, f: impl Fn(T) -> T) -> Self {
                self.with_data(map_slice_here(&self.data, f))
            }
            #[track_caller]
            fn zip_map(&self, other: &Self, op: &'static str, f: impl Fn(T, T) -> T) -> Self {
                if self.layout() != other.layout() {
                    shape_mismatch(op, self.layout(), other.layout());
                }
                self.with_data(zip_slice_here(&self.data, &other.data, f))
            }
            #[track_caller]
            fn zip_map_in_place(
                mut self,
                other: &Self,
                op: &'static str,
                f: impl Fn(T, T) -> T + Sync,
            ) -> Self {
                if self.layout() != other.layout() {
                    shape_mismatch(op, self.layout(), other.layout());
                }
                zip_in_place(&mut self.data, &other.data, f);
                self
            }
            #[track_caller]
            fn zip_map3(
                &self,
                b: &Self,
                c: &Self,
                op: &'static str,
                f: impl Fn(T, T, T) -> T,
            ) -> Self {
                for other in [b, c] {
                    if self.layout() != other.layout() {
                        shape_mismatch(op, self.layout(), other.layout());
                    }
                }
                self.with_data(zip3_slice(&self.data, &b.data, &c.data, f))
            }
            fn numel(&self) -> usize {
                self.data.len()
            }
            fn fill_like(&self, value: T) -> Self {
                self.with_data(buffer::filled(self.data.len(), value))
            }
            fn sum_all(&self) -> T {
                sum_slice(&self.data)
            }
            fn as_flat(&self) -> &[T] {
                &self.data
            }
            #[track_caller]
            fn with_flat(&self, data: Vec<T>) -> Self {
                assert_eq!(
                    data.len(),
                    self.data.len(),
                    "autodiff: `with_flat` needs as many elements as the value has"
                );
                self.with_data(data)
            }
        }

        impl<T: Real> $Ty<T> {
            crate::__elementwise_functions!(crate::tensor::elementwise::unary_methods);

            /// The elementwise larger of `self` and `other` (a value of the same shape, or a
            /// scalar): NaN in either gives NaN, as NumPy's `maximum` (for scalars, `f64::max`
            /// ignores NaN).
            #[track_caller]
            pub fn maximum(&self, other: impl crate::tensor::Pointwise<T, Self>) -> Self {
                other.apply_to(
                    self,
                    "maximum",
                    |a, b| if a >= b || a.is_nan() { a } else { b },
                )
            }
            /// The elementwise smaller of `self` and `other`, as [`maximum`](Self::maximum).
            #[track_caller]
            pub fn minimum(&self, other: impl crate::tensor::Pointwise<T, Self>) -> Self {
                other.apply_to(
                    self,
                    "minimum",
                    |a, b| if a <= b || a.is_nan() { a } else { b },
                )
            }
            /// [`Elementwise::map`] for a function threads can share: a large tensor in two
            /// halves at once (`Elementwise::map` takes any function, and stays on one thread).
            pub(crate) fn map_shared(&self, f: impl Fn(T) -> T + Sync) -> Self {
                self.with_data(map_slice(&self.data, f))
            }
            /// Each element to the power `p`.
            pub fn powf(&self, p: T) -> Self {
                self.map_shared(|x| x.powf(p))
            }
            /// Each element limited to `[lo, hi]`, as `f64::clamp` (NaN stays NaN). Panics
            /// unless `lo ≤ hi`.
            #[track_caller]
            pub fn clamp(&self, lo: T, hi: T) -> Self {
                assert!(
                    lo <= hi,
                    "autodiff: `clamp` needs lo ≤ hi, found lo = {lo}, hi = {hi}"
                );
                self.map_shared(|x| {
                    if x < lo {
                        lo
                    } else if x > hi {
                        hi
                    } else {
                        x
                    }
                })
            }
            /// Elementwise integer power.
            pub fn powi(&self, n: i32) -> Self {
                self.map_shared(|x| x.powi(n))
            }
            /// Sum of all elements.
            pub fn sum(&self) -> T {
                sum_slice(&self.data)
            }
            /// Mean of all elements (NaN when empty).
            pub fn mean(&self) -> T {
                self.sum() / T::from_f64(self.data.len() as f64)
            }
        }
    };
}
pub(crate) use impl_dense_common;

/// The second operand of an elementwise function of two values (`maximum`, `minimum`, the
/// masks of their derivatives): a value of the first's shape (or a reference to one), or a
/// scalar applied to every element.
pub trait Pointwise<T, A> {
    /// `f(a, self)` elementwise.
    fn apply_to(&self, a: &A, name: &'static str, f: impl Fn(T, T) -> T) -> A;
}

macro_rules! pointwise_operands {
    ($($tensor:ident),*) => {$(
        impl<T: Real> Pointwise<T, $tensor<T>> for $tensor<T> {
            #[track_caller]
            fn apply_to(&self, a: &$tensor<T>, name: &'static str, f: impl Fn(T, T) -> T) -> $tensor<T> {
                a.zip_map(self, name, f)
            }
        }
        impl<T: Real> Pointwise<T, $tensor<T>> for &$tensor<T> {
            #[track_caller]
            fn apply_to(&self, a: &$tensor<T>, name: &'static str, f: impl Fn(T, T) -> T) -> $tensor<T> {
                a.zip_map(*self, name, f)
            }
        }
        impl<T: Real> Pointwise<T, $tensor<T>> for T {
            fn apply_to(&self, a: &$tensor<T>, _: &'static str, f: impl Fn(T, T) -> T) -> $tensor<T> {
                let b = *self;
                a.map(|x| f(x, b))
            }
        }
    )*};
}

pointwise_operands!(Matrix, Vector);

macro_rules! pointwise_scalars {
    ($($t:ty),*) => {$(
        impl Pointwise<$t, $t> for $t {
            fn apply_to(&self, a: &$t, _: &'static str, f: impl Fn($t, $t) -> $t) -> $t {
                f(*a, *self)
            }
        }
    )*};
}

pointwise_scalars!(f32, f64);

/// The methods of `Matrix` and `Vector` for the table in [`crate::functions`]: `m.tanh()`.
macro_rules! unary_methods {
    ([] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            $($rest:tt)*
        }
    )*) => {$(
        /// Elementwise:
        $(#[$doc])*
        pub fn $method(&self) -> Self {
            self.map_shared(|$x| $value)
        }
    )*};
}
pub(crate) use unary_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_hand_sums() {
        let x: Vec<f64> = (1..=19).map(f64::from).collect();
        assert_eq!(sum_slice(&x), 190.0);
        assert_eq!(dot_slice(&x, &x), 2470.0);
        assert_eq!(sum_slice::<f32>(&[]), 0.0);
    }

    #[test]
    fn scalars_are_elementwise() {
        assert_eq!(2.0f64.zip_map(&3.0, "mul", |a, b| a * b), 6.0);
        assert_eq!(2.0f32.fill_like(5.0), 5.0);
        assert_eq!(Elementwise::numel(&1.0f32), 1);
    }
}

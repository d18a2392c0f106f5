//! What a differentiable function returns, seen as one list of entries: a scalar, a vector or a
//! matrix (row-major), or a tuple of them (each part's entries in turn). The dense Jacobian of a
//! function with a tuple result stacks its parts' rows in this order, and gradient checks probe
//! every part at once.

use super::{Matrix, Real, Vector};

/// A function's result as a list of entries (see the module documentation).
pub trait Results<T: Real>: Clone {
    /// How many entries it has.
    fn entry_count(&self) -> usize;
    /// Appends its entries to `out`, in order.
    fn push_entries(&self, out: &mut Vec<T>);
    /// A value shaped like `self` holding entries taken, in order, from `entries`.
    #[track_caller]
    fn with_entries(&self, entries: &mut dyn Iterator<Item = T>) -> Self;
    /// Its shape, for messages: `a scalar`, `a vector of 3`, `a 2×3 matrix`, `(.., ..)`.
    fn shape(&self) -> String;
}

/// Its entries, in order.
pub fn entries<T: Real, R: Results<T>>(r: &R) -> Vec<T> {
    let mut out = Vec::with_capacity(r.entry_count());
    r.push_entries(&mut out);
    out
}

/// A value shaped like `like` holding `data` (exactly its number of entries).
#[track_caller]
pub fn from_entries<T: Real, R: Results<T>>(like: &R, data: Vec<T>) -> R {
    assert_eq!(
        data.len(),
        like.entry_count(),
        "autodiff: a result of {} entries from {} values",
        like.entry_count(),
        data.len()
    );
    like.with_entries(&mut data.into_iter())
}

impl<T: Real> Results<T> for T {
    fn entry_count(&self) -> usize {
        1
    }
    fn push_entries(&self, out: &mut Vec<T>) {
        out.push(*self);
    }
    fn with_entries(&self, entries: &mut dyn Iterator<Item = T>) -> Self {
        entries
            .next()
            .expect("autodiff: too few entries for a result")
    }
    fn shape(&self) -> String {
        "a scalar".to_string()
    }
}

impl<T: Real> Results<T> for Vector<T> {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn push_entries(&self, out: &mut Vec<T>) {
        out.extend_from_slice(self.as_slice());
    }
    fn with_entries(&self, entries: &mut dyn Iterator<Item = T>) -> Self {
        Vector::from_vec(entries.take(self.len()).collect())
    }
    fn shape(&self) -> String {
        format!("a vector of {}", self.len())
    }
}

impl<T: Real> Results<T> for Matrix<T> {
    fn entry_count(&self) -> usize {
        self.rows() * self.cols()
    }
    fn push_entries(&self, out: &mut Vec<T>) {
        out.extend_from_slice(self.as_slice());
    }
    fn with_entries(&self, entries: &mut dyn Iterator<Item = T>) -> Self {
        let data: Vec<T> = entries.take(self.rows() * self.cols()).collect();
        Matrix::from_vec(self.rows(), self.cols(), data)
    }
    fn shape(&self) -> String {
        format!("a {}×{} matrix", self.rows(), self.cols())
    }
}

macro_rules! tuple_results {
    ($(($($part:ident $index:tt),+))*) => {$(
        impl<T: Real, $($part: Results<T>),+> Results<T> for ($($part,)+) {
            fn entry_count(&self) -> usize {
                0 $(+ self.$index.entry_count())+
            }
            fn push_entries(&self, out: &mut Vec<T>) {
                $(self.$index.push_entries(out);)+
            }
            fn with_entries(&self, entries: &mut dyn Iterator<Item = T>) -> Self {
                ($(self.$index.with_entries(entries),)+)
            }
            fn shape(&self) -> String {
                let parts: Vec<String> = vec![$(self.$index.shape()),+];
                format!("({})", parts.join(", "))
            }
        }
    )*};
}
tuple_results! {
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tuple_lists_its_parts_in_order_each_row_major() {
        let r = (
            2.0f64,
            Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]),
            Vector::from_vec(vec![5.0, 6.0]),
        );
        assert_eq!(r.entry_count(), 7);
        assert_eq!(entries(&r), vec![2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let back = from_entries(&r, (10..17).map(f64::from).collect());
        assert_eq!(back.0, 10.0);
        assert_eq!(back.1.as_slice(), &[11.0, 12.0, 13.0, 14.0]);
        assert_eq!(back.2.as_slice(), &[15.0, 16.0]);
    }

    #[test]
    #[should_panic(expected = "a result of 3 entries from 2 values")]
    fn the_wrong_number_of_entries_is_an_error() {
        from_entries(
            &(1.0f32, Vector::from_vec(vec![1.0f32, 2.0])),
            vec![0.0, 1.0],
        );
    }
}

//! Tensor storage, and a per-thread cache that lets large buffers be reused instead of freed.
//!
//! Why: a gradient call allocates its large intermediates afresh every time. glibc serves big
//! blocks with `mmap` or trims them off the heap when they are freed, so each call faults the
//! same memory in again, page by page. In B1 at batch 1024 (f64) that was about 1400 page faults
//! per call and a fifth of its run time. So a buffer of at least [`MIN_CACHED_BYTES`] that a
//! runtime-built tensor drops goes to this thread's cache, and the runtime's next allocation of
//! about that size takes it from there, already faulted in.
//!
//! Each thread's cache holds at most [`MAX_CACHED_BUFFERS`] buffers and [`MAX_CACHED_BYTES`] per
//! element type, the oldest going first, and all threads' caches together at most
//! [`MAX_TOTAL_CACHED_BYTES`]: a buffer that would pass that is freed instead. The total is one
//! atomic counter, [`cached_bytes`], kept exact as buffers enter and leave caches and as threads
//! exit. [`clear_thread_cache`] frees this thread's cache; [`clear_all_caches`] every thread's.
//!
//! `Matrix<T>` and `Vector<T>` put no bound on `T`, and a `Drop` impl cannot add one, so a
//! buffer built where `T: Real` is known carries plain function pointers to its type's cache
//! (`Buffer::cached`); one built from a caller's `Vec` (`Buffer::plain`) does not, and is
//! freed as usual.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::scalar::{sealed::Sealed, Real};
use super::shape;

/// Buffers smaller than this are left to the allocator, which reuses them without faults.
pub const MIN_CACHED_BYTES: usize = 64 << 10;
/// Most bytes one thread keeps per element type.
pub const MAX_CACHED_BYTES: usize = 64 << 20;
/// Most buffers one thread keeps per element type.
pub const MAX_CACHED_BUFFERS: usize = 32;
/// Most bytes all threads keep together, both element types: room for two threads' full caches
/// (the working set of a gradient and of the thread that runs the next one), while idle threads
/// (rayon's workers live as long as the process) can no longer hold 128 MiB each.
pub const MAX_TOTAL_CACHED_BYTES: usize = 256 << 20;

/// Bytes in all threads' caches: what [`cached_bytes`] reads.
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bumped by [`clear_all_caches`]; a cache that last saw an older value empties itself when it is
/// next used. Relaxed loads suffice: it only says that a clear was asked for, and publishes no data.
static GENERATION: AtomicUsize = AtomicUsize::new(0);

/// A tensor's elements: a `Vec`, and where it goes when dropped.
pub(crate) struct Buffer<T> {
    vec: Vec<T>,
    cache: Option<CacheFns<T>>,
}

/// Entry points into one element type's cache, as function pointers so that code without a
/// `T: Real` bound (`Drop`, `Clone`) can reach them.
struct CacheFns<T> {
    take: fn(usize) -> Vec<T>,
    give: fn(Vec<T>),
}

impl<T> Clone for CacheFns<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for CacheFns<T> {}

impl<T> Buffer<T> {
    /// `vec` as is, freed normally when dropped (no `T: Real` bound to reach a cache).
    pub(crate) fn plain(vec: Vec<T>) -> Self {
        Buffer { vec, cache: None }
    }

    /// The elements as a `Vec`, leaving the cache out of it.
    pub(crate) fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.vec)
    }
}

impl<T: Real> Buffer<T> {
    /// `vec`, returned to this thread's cache when dropped.
    pub(crate) fn cached(vec: Vec<T>) -> Self {
        Buffer {
            vec,
            cache: Some(CacheFns {
                take: alloc::<T>,
                give: recycle::<T>,
            }),
        }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        if let Some(cache) = self.cache {
            (cache.give)(std::mem::take(&mut self.vec));
        }
    }
}

impl<T: Clone> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        let vec = match self.cache {
            Some(cache) => {
                let mut vec = (cache.take)(self.vec.len());
                vec.extend_from_slice(&self.vec);
                vec
            }
            None => self.vec.clone(),
        };
        Buffer {
            vec,
            cache: self.cache,
        }
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.vec
    }
}

impl<T> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.vec
    }
}

impl<T: PartialEq> PartialEq for Buffer<T> {
    fn eq(&self, other: &Self) -> bool {
        self.vec == other.vec
    }
}

/// Prints as the `Vec` would, so `Matrix`'s derived `Debug` reads as before.
impl<T: fmt::Debug> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.vec.fmt(f)
    }
}

/// An empty `Vec` with room for `len` elements, from this thread's cache when it holds one.
/// (Inlined, with the cache out of line: small buffers, which the cache never holds, cost
/// only the allocation, as a `vec!` written by hand does.)
#[inline]
pub(crate) fn alloc<T: Real>(len: usize) -> Vec<T> {
    if is_cacheable::<T>(len) {
        if let Some(mut vec) = take_cached(len) {
            vec.clear();
            return vec;
        }
    }
    Vec::with_capacity(len)
}

/// `len` elements of no particular value (a reused buffer's old ones, or zeros), for a pass that
/// overwrites all of them: threads can then each write a part of it in place. A fresh buffer
/// comes zeroed from the allocator (`calloc`: untouched pages, faulted in by whoever writes them
/// first), not written twice.
pub(crate) fn overwritable<T: Real>(len: usize) -> Vec<T> {
    match is_cacheable::<T>(len).then(|| take_cached(len)).flatten() {
        Some(mut vec) => {
            if vec.len() >= len {
                vec.truncate(len);
            } else {
                vec.resize(len, T::zero());
            }
            vec
        }
        None => vec![T::zero(); len],
    }
}

#[inline(never)]
fn take_cached<T: Real>(len: usize) -> Option<Vec<T>> {
    T::with_buffer_cache(|cache| cache.take(len)).flatten()
}

/// `len` copies of `value`.
#[inline]
pub(crate) fn filled<T: Real>(len: usize, value: T) -> Vec<T> {
    let mut vec = alloc(len);
    vec.resize(len, value);
    vec
}

/// The `len` items of `items` (which must yield exactly that many).
pub(crate) fn collect<T: Real>(len: usize, items: impl Iterator<Item = T>) -> Vec<T> {
    let mut vec = alloc(len);
    vec.extend(items);
    debug_assert_eq!(vec.len(), len);
    vec
}

/// Keeps `vec`'s memory in this thread's cache if it is large enough; frees it otherwise.
/// (Inlined, with the cache out of line, as [`alloc`] is.)
#[inline]
fn recycle<T: Real>(vec: Vec<T>) {
    if is_cacheable::<T>(vec.capacity()) {
        give_cached(vec);
    }
}

#[inline(never)]
fn give_cached<T: Real>(vec: Vec<T>) {
    // The elements stay (plain numbers, nothing to drop), for `overwritable`; `alloc` clears.
    // During thread teardown the cache may be gone; the buffer is then simply freed.
    let _ = T::with_buffer_cache(|cache| cache.give(vec));
}

#[inline]
fn is_cacheable<T>(len: usize) -> bool {
    len.saturating_mul(std::mem::size_of::<T>()) >= MIN_CACHED_BYTES
}

/// Frees the buffers this thread keeps for reuse (both element types).
pub fn clear_thread_cache() {
    let _ = f32::with_buffer_cache(BufferCache::clear);
    let _ = f64::with_buffer_cache(BufferCache::clear);
}

/// Frees the buffers that every thread keeps for reuse.
///
/// What it guarantees: every buffer that a thread's cache holds when this is called is freed,
/// never lent again, and leaves [`cached_bytes`]:
/// - by the time this returns, for this thread and for every thread of the current rayon pool
///   (the global pool, unless this is called from inside another pool), which each run a job
///   that clears their cache: so this waits for each of them to finish the job it is running;
/// - for any other thread, on its next use of the cache (the next time it allocates or frees a
///   tensor of [`MIN_CACHED_BYTES`] or more); a thread that never does keeps its buffers until
///   it exits.
///
/// Buffers cached once it has started (by another thread, or by a rayon worker after its
/// clearing job) are kept as usual.
pub fn clear_all_caches() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    clear_thread_cache();
    // The caller's shape-error context stays out of the jobs this thread runs while it waits.
    shape::without_context(|| rayon::broadcast(|_| clear_thread_cache()));
}

/// Bytes that all threads' caches hold now, both element types (at most
/// [`MAX_TOTAL_CACHED_BYTES`]).
pub fn cached_bytes() -> usize {
    CACHED_BYTES.load(Ordering::Relaxed)
}

/// One thread's cached buffers of one element type, oldest first.
#[doc(hidden)]
pub struct BufferCache<T> {
    buffers: Vec<Vec<T>>,
    bytes: usize,
    /// The [`GENERATION`] this cache was last emptied or used in.
    generation: usize,
}

impl<T> BufferCache<T> {
    pub(crate) const fn new() -> Self {
        BufferCache {
            buffers: Vec::new(),
            bytes: 0,
            generation: 0,
        }
    }

    /// Empties the cache if [`clear_all_caches`] was called since its last use.
    fn catch_up(&mut self) {
        let generation = GENERATION.load(Ordering::Relaxed);
        if generation != self.generation {
            self.clear();
            self.generation = generation;
        }
    }

    /// The smallest cached buffer with room for `len` elements and at most twice that (a larger
    /// one would pin memory that a smaller tensor does not need).
    fn take(&mut self, len: usize) -> Option<Vec<T>> {
        self.catch_up();
        let fits = |vec: &Vec<T>| vec.capacity() >= len && vec.capacity() / 2 <= len;
        let (index, _) = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, vec)| fits(vec))
            .min_by_key(|(_, vec)| vec.capacity())?;
        Some(self.remove(index))
    }

    /// Keeps the buffer `vec`, first dropping the oldest ones to stay within this thread's
    /// limits; frees it instead if all caches together would pass [`MAX_TOTAL_CACHED_BYTES`].
    fn give(&mut self, vec: Vec<T>) {
        self.catch_up();
        let bytes = byte_size(&vec);
        if bytes > MAX_CACHED_BYTES {
            return;
        }
        while self.buffers.len() >= MAX_CACHED_BUFFERS || self.bytes + bytes > MAX_CACHED_BYTES {
            drop(self.remove(0));
        }
        let reserved = CACHED_BYTES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
            total
                .checked_add(bytes)
                .filter(|&total| total <= MAX_TOTAL_CACHED_BYTES)
        });
        if reserved.is_ok() {
            self.bytes += bytes;
            self.buffers.push(vec);
        }
    }

    /// Takes buffer `index` out of the cache and out of the count.
    fn remove(&mut self, index: usize) -> Vec<T> {
        let vec = self.buffers.remove(index);
        let bytes = byte_size(&vec);
        self.bytes -= bytes;
        CACHED_BYTES.fetch_sub(bytes, Ordering::Relaxed);
        vec
    }

    fn clear(&mut self) {
        CACHED_BYTES.fetch_sub(self.bytes, Ordering::Relaxed);
        self.buffers.clear();
        self.bytes = 0;
    }
}

/// A thread's caches are dropped when it exits: their bytes leave the count.
impl<T> Drop for BufferCache<T> {
    fn drop(&mut self) {
        self.clear();
    }
}

fn byte_size<T>(vec: &Vec<T>) -> usize {
    vec.capacity() * std::mem::size_of::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elements in a buffer of `MIN_CACHED_BYTES` f64s.
    const MIN_LEN: usize = MIN_CACHED_BYTES / 8;

    fn cached_lens() -> Vec<usize> {
        f64::with_buffer_cache(|cache| cache.buffers.iter().map(Vec::capacity).collect()).unwrap()
    }

    #[test]
    fn a_dropped_large_buffer_is_reused_by_the_next_allocation_of_its_size() {
        clear_thread_cache();
        let first = Buffer::cached(filled(2 * MIN_LEN, 1.0f64));
        let address = first.as_ptr();
        drop(first);
        assert_eq!(cached_lens(), [2 * MIN_LEN]);
        let second = alloc::<f64>(2 * MIN_LEN - 3);
        assert_eq!(second.as_ptr(), address);
        assert!(second.is_empty());
        assert!(cached_lens().is_empty());
    }

    #[test]
    fn an_overwritable_buffer_has_its_length_reused_or_zeroed() {
        clear_thread_cache();
        let fresh = overwritable::<f64>(2 * MIN_LEN);
        assert_eq!(fresh.len(), 2 * MIN_LEN);
        assert!(fresh.iter().all(|&x| x == 0.0), "a fresh one is zeroed");
        drop(Buffer::cached(fresh));
        // Reused and cut to the length asked for, holding the old values.
        let first = Buffer::cached(filled(2 * MIN_LEN, 1.5f64));
        let address = first.as_ptr();
        drop(first);
        let shorter = overwritable::<f64>(2 * MIN_LEN - 3);
        assert_eq!(
            (shorter.as_ptr(), shorter.len()),
            (address, 2 * MIN_LEN - 3)
        );
        assert!(shorter.iter().all(|&x| x == 1.5));
        // Reused for a longer length within its capacity: the new tail is filled.
        let mut short = Vec::with_capacity(2 * MIN_LEN);
        short.resize(MIN_LEN, 2.5f64);
        drop(Buffer::cached(short));
        let longer = overwritable::<f64>(2 * MIN_LEN);
        assert_eq!(longer.len(), 2 * MIN_LEN);
        assert_eq!((longer[0], longer[2 * MIN_LEN - 1]), (2.5, 0.0));
    }

    #[test]
    fn small_plain_and_much_larger_buffers_are_not_served_from_the_cache() {
        clear_thread_cache();
        drop(Buffer::cached(filled(MIN_LEN / 2, 1.0f64)));
        drop(Buffer::plain(vec![0.0f64; MIN_LEN]));
        assert!(
            cached_lens().is_empty(),
            "small and plain buffers are freed"
        );
        drop(Buffer::cached(filled(4 * MIN_LEN, 1.0f64)));
        assert_eq!(
            alloc::<f64>(MIN_LEN).capacity(),
            MIN_LEN,
            "4× too big to lend"
        );
        assert_eq!(cached_lens(), [4 * MIN_LEN]);
        clear_thread_cache();
        assert!(cached_lens().is_empty());
    }

    #[test]
    fn the_cache_keeps_the_newest_buffers_within_its_limits() {
        clear_thread_cache();
        let big = MAX_CACHED_BYTES / 8 / 4; // four of these fill the byte limit
        for len in [big, big + 1, big + 2, big + 3, big + 4] {
            drop(Buffer::cached(filled(len, 0.0f64)));
        }
        assert_eq!(cached_lens(), [big + 2, big + 3, big + 4]);
        drop(Buffer::cached(filled(MAX_CACHED_BYTES / 8 + 1, 0.0f64)));
        assert_eq!(cached_lens().len(), 3, "a buffer over the limit is freed");
        clear_thread_cache();
        for _ in 0..MAX_CACHED_BUFFERS + 5 {
            let buffers: Vec<_> = (0..MAX_CACHED_BUFFERS + 5)
                .map(|_| Buffer::cached(filled(MIN_LEN, 0.0f64)))
                .collect();
            drop(buffers);
        }
        assert_eq!(cached_lens().len(), MAX_CACHED_BUFFERS);
        clear_thread_cache();
    }

    #[test]
    fn clones_and_equality_see_only_the_elements() {
        let a = Buffer::cached(filled(MIN_LEN, 2.0f32));
        let b = a.clone();
        assert_eq!(a, b);
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert_eq!(
            Buffer::plain(vec![1.0f32, 2.0]),
            Buffer::cached(vec![1.0f32, 2.0])
        );
        assert_eq!(format!("{:?}", Buffer::plain(vec![1.0f64])), "[1.0]");
    }
}

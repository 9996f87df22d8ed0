//! Per-thread recycling of object allocations: where the last reference to an
//! object hands its allocation back, and where new objects (and the plain objects
//! and arrays a clone builds in place) take one from.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::property_map::INDEX_THRESHOLD;
use super::{ArrayData, ArrayElements, JsString, Object, ObjectData, PropertyMap, Value};

/// Per-thread free lists of object allocations, with their small content buffers.
///
/// Building and freeing objects is most of the cost of a structured clone (one
/// `Rc` allocation per object, one more for a container's contents), and glibc's
/// per-thread cache holds only 7 blocks of a size, so freeing a cloned message
/// (dozens of same-sized blocks at once) goes through its slow path. Objects are
/// `!Send`, so they are always freed on the thread that made them: the last
/// reference to an object hands its (emptied) allocation back here, plain objects
/// and arrays together with their emptied buffer (keyed by its exact capacity),
/// and the clone takes them back. Bounded, so little memory is kept.
pub(super) struct Pool {
    /// Allocations holding [`EMPTY`] (owning nothing).
    pub(super) objects: Vec<Rc<RefCell<ObjectData>>>,
    /// Plain objects with no properties and room for exactly `i + 1`.
    pub(super) plain: [Vec<Rc<RefCell<ObjectData>>>; POOL_CLASSES],
    /// Arrays with no elements or properties and room for exactly `i + 1` elements.
    pub(super) arrays: [Vec<Rc<RefCell<ObjectData>>>; POOL_CLASSES],
    /// Empty Map and Set entry buffers with room for exactly `i + 1`.
    pub(super) entries: [Vec<Vec<(Value, Value)>>; POOL_CLASSES],
}

/// What a pooled allocation without a buffer holds.
pub(super) const EMPTY: ObjectData = ObjectData::BooleanObject(false);
/// Buffers of capacity 1 to `POOL_CLASSES` are recycled.
pub(super) const POOL_CLASSES: usize = 16;
/// At most this many buffer-less object allocations are kept per thread.
pub(super) const POOL_OBJECTS: usize = 128;
/// At most this many objects or buffers of each capacity and kind are kept.
pub(super) const POOL_BUFFERS: usize = 16;

thread_local! {
    pub(super) static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            objects: Vec::new(),
            plain: [const { Vec::new() }; POOL_CLASSES],
            arrays: [const { Vec::new() }; POOL_CLASSES],
            entries: [const { Vec::new() }; POOL_CLASSES],
        })
    };
}

/// Frees the object allocations this thread keeps for reuse (at most
/// `POOL_OBJECTS` buffer-less ones and `POOL_BUFFERS` per buffer size and kind, a few
/// hundred KB at worst), as `malloc_trim` does for an allocator: after a burst of
/// messages, or before measuring memory. New objects allocate afresh until the pool
/// fills again.
pub fn trim_pool() {
    let taken = with_pool(|p| {
        Some(Pool {
            objects: std::mem::take(&mut p.objects),
            plain: std::mem::replace(&mut p.plain, [const { Vec::new() }; POOL_CLASSES]),
            arrays: std::mem::replace(&mut p.arrays, [const { Vec::new() }; POOL_CLASSES]),
            entries: std::mem::replace(&mut p.entries, [const { Vec::new() }; POOL_CLASSES]),
        })
    });
    // Dropped outside the pool's borrow: each allocation owns nothing (or an emptied
    // buffer), so this frees exactly them.
    drop(taken);
}

/// Runs `f` on this thread's pool, unless it is gone (thread exit) or busy.
#[inline(always)]
pub(super) fn with_pool<R>(f: impl FnOnce(&mut Pool) -> Option<R>) -> Option<R> {
    POOL.try_with(|p| match p.try_borrow_mut() {
        Ok(mut p) => f(&mut p),
        Err(_) => None,
    })
    .ok()
    .flatten()
}

/// A Map or Set entry buffer with room for exactly `n` entries (crate use).
#[inline]
pub(crate) fn take_entries_buffer(n: usize) -> Vec<(Value, Value)> {
    if n.wrapping_sub(1) < POOL_CLASSES {
        if let Some(v) = with_pool(|p| p.entries[n - 1].pop()) {
            return v;
        }
    }
    Vec::with_capacity(n)
}

impl Object {
    /// A new plain object, with room for exactly `n` properties, whose properties
    /// `fill` pushes; their keys must be distinct (crate use: copying an object).
    #[inline]
    pub(crate) fn build_plain<E>(
        n: usize,
        fill: impl FnOnce(&mut Vec<(JsString, Value)>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Object, E> {
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.plain[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Plain(PropertyMap::with_capacity(
                n,
            ))))
        });
        let r = match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Plain(p)) => {
                let r = fill(&mut p.entries);
                if p.entries.len() > INDEX_THRESHOLD {
                    p.rebuild_index();
                }
                r
            }
            _ => unreachable!("a pooled plain object is a plain object"),
        };
        let o = Object(ManuallyDrop::new(rc));
        r.map(|()| o)
    }

    /// A new plain object of these entries, as [`PropertyMap::from_entries`] builds
    /// them (crate use: decoding), in a recycled object of the right size if any.
    #[inline]
    pub(crate) fn build_plain_from_entries(
        entries: impl ExactSizeIterator<Item = (JsString, Value)>,
    ) -> Object {
        let n = entries.len();
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.plain[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Plain(PropertyMap::with_capacity(
                n,
            ))))
        });
        match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Plain(p)) => p.extend_entries(entries),
            _ => unreachable!("a pooled plain object is a plain object"),
        }
        Object(ManuallyDrop::new(rc))
    }

    /// A new Array of `length`, with room for exactly `n` elements, whose elements
    /// `fill` pushes and whose extra properties it returns (crate use: copying).
    #[inline]
    pub(crate) fn build_array<E>(
        n: usize,
        length: u32,
        fill: impl FnOnce(&mut ArrayElements) -> std::result::Result<Option<Box<PropertyMap>>, E>,
    ) -> std::result::Result<Object, E> {
        let pooled = if n.wrapping_sub(1) < POOL_CLASSES {
            with_pool(|p| p.arrays[n - 1].pop())
        } else {
            None
        };
        let mut rc = pooled.unwrap_or_else(|| {
            Rc::new(RefCell::new(ObjectData::Array(ArrayData {
                length: 0,
                elements: ArrayElements::with_capacity(n),
                props: None,
            })))
        });
        let r = match Rc::get_mut(&mut rc).map(RefCell::get_mut) {
            Some(ObjectData::Array(a)) => fill(&mut a.elements).map(|props| {
                a.props = props;
                a.length = length;
            }),
            _ => unreachable!("a pooled array is an array"),
        };
        let o = Object(ManuallyDrop::new(rc));
        r.map(|()| o)
    }

    /// An object with the given data.
    #[inline]
    pub fn from_data(data: ObjectData) -> Object {
        match with_pool(|p| p.objects.pop()) {
            Some(mut rc) => {
                if let Some(cell) = Rc::get_mut(&mut rc) {
                    // SAFETY: the cell is ours alone (`get_mut`); it holds `EMPTY`,
                    // which owns nothing, so overwriting it without dropping it leaks
                    // nothing.
                    unsafe { std::ptr::write(cell.get_mut(), data) };
                    return Object(ManuallyDrop::new(rc));
                }
                Object(ManuallyDrop::new(Rc::new(RefCell::new(data))))
            }
            None => Object(ManuallyDrop::new(Rc::new(RefCell::new(data)))),
        }
    }
}

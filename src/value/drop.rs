//! Dropping objects: freeing the last reference to an object, and with it
//! everything only it kept alive, without recursion (so a graph of any depth can
//! be dropped on any stack), handing the allocations back to the pool.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::object::ObjectRc;
use super::pool::{with_pool, EMPTY, POOL_BUFFERS, POOL_CLASSES, POOL_OBJECTS};
use super::{Object, ObjectData, PropertyMap, Value};

impl Drop for Object {
    #[inline]
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) == 1 {
            // SAFETY: `self.0` is not used again (this is `drop`).
            recycle(unsafe { ManuallyDrop::take(&mut self.0) });
        } else if !super::cycles::buffer_possible_root(&mut self.0) {
            // SAFETY: as above. Not the last reference: this only decrements the count.
            unsafe { ManuallyDrop::drop(&mut self.0) }
        }
    }
}

/// Where a recycled allocation goes.
enum Keep {
    Plain(usize),
    Array(usize),
    Entries(Vec<(Value, Value)>),
    Object,
}

thread_local! {
    /// The work list of [`recycle`], kept between calls (empty) so that freeing a
    /// graph allocates nothing. A nested call (a port's drop code dropping values)
    /// finds it taken and starts with a fresh one.
    pub(super) static FREE_LIST: Cell<Vec<ObjectRc>> = const { Cell::new(Vec::new()) };
}

/// The work list is given back to the thread unless it grew past this many entries.
pub(super) const FREE_LIST_KEEP: usize = 1024;

/// Frees the last reference to an object, and with it everything only it kept
/// alive, without recursion: emptying an object drops what it holds in place, except
/// the objects it held the last reference to, whose allocations go onto a work list
/// and are emptied in turn by the loop here. So the stack depth is constant however
/// deep the graph is (the drop glue of `ObjectData` would recurse once per level and
/// overflow at a depth of a few thousand). Objects are emptied in the order a
/// recursive drop would reach them (depth first, children in order), and their
/// allocations and small buffers are kept for reuse.
#[inline(never)]
fn recycle(rc: ObjectRc) {
    let mut work = FREE_LIST.try_with(Cell::take).unwrap_or_default();
    let mut next = Some(rc);
    while let Some(rc) = next {
        recycle_one(rc, &mut work);
        next = work.pop();
    }
    if work.capacity() <= FREE_LIST_KEEP {
        let _ = FREE_LIST.try_with(|c| c.set(work));
    }
}

/// Drops `v`, except that an object it holds the last reference to goes onto `work`
/// (to be emptied by [`recycle`]'s loop) instead of being freed here.
#[inline(always)]
fn dispose_value(v: Value, work: &mut Vec<ObjectRc>) {
    match v {
        Value::Object(o) => dispose_object(o, work),
        v if v.owns_nothing() => std::mem::forget(v),
        v => drop(v),
    }
}

/// Drops `o`, except that if it is the last reference, its allocation goes onto
/// `work` (see [`dispose_value`]).
#[inline(always)]
fn dispose_object(o: Object, work: &mut Vec<ObjectRc>) {
    if Rc::strong_count(&o.0) == 1 {
        let mut o = ManuallyDrop::new(o);
        // SAFETY: `o` is never dropped (`ManuallyDrop`) nor used again, so the
        // reference is moved out of it exactly once.
        work.push(unsafe { ManuallyDrop::take(&mut o.0) });
    } else {
        drop(o);
    }
}

/// Drops these properties, putting the objects they held the last reference to on
/// `work`.
fn dispose_props(p: PropertyMap, work: &mut Vec<ObjectRc>) {
    for (k, v) in p.entries {
        drop(k);
        dispose_value(v, work);
    }
}

/// Drops object data taken out of its object, putting the objects it held the last
/// reference to on `work`.
fn dispose_data(d: ObjectData, work: &mut Vec<ObjectRc>) {
    match d {
        ObjectData::Plain(p) => dispose_props(p, work),
        ObjectData::Array(a) => {
            if let Some(p) = a.props {
                dispose_props(*p, work);
            }
            for v in a.elements.into_iter().flatten() {
                dispose_value(v, work);
            }
        }
        ObjectData::Map(c) | ObjectData::Set(c) => {
            for (k, v) in c.entries {
                dispose_value(k, work);
                dispose_value(v, work);
            }
        }
        ObjectData::View(v) => dispose_object(v.buffer, work),
        ObjectData::FileList(l) => {
            for o in l {
                dispose_object(o, work);
            }
        }
        d => drop(d),
    }
}

/// Drops the value `v` points to in place, except that an object it holds the last
/// reference to goes onto `work` (see [`dispose_value`]).
///
/// # Safety
///
/// `v` points to a valid value that is neither used nor dropped again.
#[inline(always)]
unsafe fn dispose_value_in_place(v: *mut Value, work: &mut Vec<ObjectRc>) {
    // SAFETY: `v` is valid and ours to drop (the caller's contract).
    unsafe {
        if let Value::Object(o) = &mut *v {
            if Rc::strong_count(&o.0) == 1 {
                // The reference is moved out; the value, never dropped or used again,
                // does not hold it any more.
                work.push(ManuallyDrop::take(&mut o.0));
                return;
            }
        }
        std::ptr::drop_in_place(v);
    }
}

/// Empties `v`, in order, without a call per item that owns nothing: every other
/// item is handed to `dispose` (by pointer, once, and never reached through `v`
/// again, so `dispose` owns it: it drops it or moves out what it owns; an item it
/// leaves is leaked, as are the items after one whose drop panics).
#[inline(always)]
fn clear_entries<T>(v: &mut Vec<T>, trivial: impl Fn(&T) -> bool, mut dispose: impl FnMut(*mut T)) {
    let len = v.len();
    let p = v.as_mut_ptr();
    // SAFETY: the length is set to 0 first, so the items (each handed over at most
    // once below) are never reached again through `v`; `p.add(i)` for `i < len` is
    // in bounds and points to a valid item not yet handed over.
    unsafe {
        v.set_len(0);
        for i in 0..len {
            let item = p.add(i);
            if !trivial(&*item) {
                dispose(item);
            }
        }
    }
}

/// Empties the object `rc` is the last reference to (see [`recycle`]): what it holds
/// is dropped, except the objects it held the last reference to, which go onto
/// `work`; the allocation and its small buffer are kept for reuse.
#[inline(always)]
fn recycle_one(mut rc: ObjectRc, work: &mut Vec<ObjectRc>) {
    let start = work.len();
    let Some(cell) = Rc::get_mut(&mut rc) else {
        // Weak references exist (this crate makes none): free the data, not the
        // allocation, still without recursion.
        if let Ok(cell) = Rc::try_unwrap(rc) {
            dispose_data(cell.into_inner(), work);
            work[start..].reverse();
        }
        return;
    };
    // Empty the object in place (dropping what it holds, which may run a port's drop
    // code and so recycle more objects: neither the pool nor the work list is
    // borrowed meanwhile).
    let d = cell.get_mut();
    let keep = match d {
        ObjectData::Plain(p) => {
            p.index = None;
            clear_entries(
                &mut p.entries,
                |(k, v)| !k.owns_heap() && v.owns_nothing(),
                // SAFETY: `clear_entries` hands each entry over once, to be dropped.
                |e| unsafe {
                    if (*e).0.owns_heap() {
                        std::ptr::drop_in_place(&mut (*e).0);
                    }
                    dispose_value_in_place(&mut (*e).1, work);
                },
            );
            Keep::Plain(p.entries.capacity())
        }
        ObjectData::Array(a) => {
            if let Some(p) = a.props.take() {
                dispose_props(*p, work);
            }
            a.length = 0;
            clear_entries(
                &mut a.elements,
                |e| e.as_ref().is_none_or(Value::owns_nothing),
                // SAFETY: as above; `trivial` let only `Some` through.
                |e| unsafe {
                    if let Some(v) = &mut *e {
                        dispose_value_in_place(v, work);
                    }
                },
            );
            Keep::Array(a.elements.capacity())
        }
        ObjectData::Map(c) | ObjectData::Set(c) => {
            c.index = None;
            clear_entries(
                &mut c.entries,
                |(k, v)| k.owns_nothing() && v.owns_nothing(),
                // SAFETY: as above.
                |e| unsafe {
                    dispose_value_in_place(&mut (*e).0, work);
                    dispose_value_in_place(&mut (*e).1, work);
                },
            );
            Keep::Entries(std::mem::take(&mut c.entries))
        }
        ObjectData::View(_) | ObjectData::FileList(_) => {
            dispose_data(std::mem::replace(d, EMPTY), work);
            Keep::Object
        }
        _ => Keep::Object,
    };
    // The loop pops from the end: reversed, this object's children are emptied first
    // to last, each before the next (as a recursive drop would).
    if work.len() - start > 1 {
        work[start..].reverse();
    }
    let keep = match keep {
        Keep::Plain(cap) | Keep::Array(cap) if cap.wrapping_sub(1) >= POOL_CLASSES => Keep::Object,
        k => k,
    };
    if let Keep::Object | Keep::Entries(_) = keep {
        *cell.get_mut() = EMPTY;
    }
    with_pool(|p| {
        let list = match keep {
            Keep::Plain(cap) => &mut p.plain[cap - 1],
            Keep::Array(cap) => &mut p.arrays[cap - 1],
            Keep::Entries(v) => {
                let cap = v.capacity();
                if cap.wrapping_sub(1) < POOL_CLASSES && p.entries[cap - 1].len() < POOL_BUFFERS {
                    p.entries[cap - 1].push(v);
                }
                if p.objects.len() < POOL_OBJECTS {
                    p.objects.push(rc);
                }
                return Some(());
            }
            Keep::Object => {
                if p.objects.len() < POOL_OBJECTS {
                    p.objects.push(rc);
                }
                return Some(());
            }
        };
        if list.len() < POOL_BUFFERS {
            list.push(rc);
        }
        Some(())
    });
}

//! Reclaiming cycles: objects kept alive only by references among themselves.
//!
//! Objects are reference counted, so a cycle (`a.self = a`, a message whose graph
//! points back to its root) would never be freed: a peer could exhaust memory by
//! sending cyclic messages, which JavaScript's garbage collector reclaims. This is a
//! synchronous cycle collector in the manner of Bacon and Rajan ("Concurrent cycle
//! collection in reference counted systems", ECOOP 2001), on the containers only
//! (ordinary objects, Arrays, Maps, Sets: the objects whose data holds other
//! objects, so the only ones a cycle can run through):
//!
//! 1. *Possible roots.* When a reference to a container is dropped and others remain,
//!    the container may have become the entry of a garbage cycle. Its reference moves
//!    into this thread's candidate buffer instead of being released (no count changes
//!    hands: the buffer owns it now).
//! 2. *Collection*, at safe points (before each deserialization, and after each task in
//!    the runtime; or on demand, [`collect_cycles`]) once the buffer holds
//!    [`CycleCollector::threshold`] entries: the containers reachable from the
//!    candidates are found, and for each the references from inside that set are
//!    counted. A container with more references than those (and the buffer's) is held
//!    from outside: it, and everything it reaches, is live. The rest is garbage: only
//!    its own members refer to it. Its members are emptied (which drops the references
//!    that made the cycles), then freed as usual, through the allocation pool.
//! 3. The threshold doubles with the work a collection found live, so a thread whose
//!    live graph keeps handing out references pays amortized constant time per
//!    candidate.
//!
//! Conservative where in doubt: a container that is borrowed when a collection looks at
//! it counts as held from outside. So no live object is ever freed; at worst a cycle
//! waits for a later collection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::object::ObjectRc;
use super::pool::EMPTY;
use super::{Object, ObjectData, Value};

/// Collections run once the buffer holds at least this many candidates.
const MIN_THRESHOLD: usize = 1024;

/// What one collection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Distinct containers examined (reachable from the candidates).
    pub examined: usize,
    /// Containers found garbage and freed.
    pub freed: usize,
}

/// This thread's candidate buffer and its threshold.
pub struct CycleCollector {
    candidates: Vec<Object>,
    threshold: usize,
    collecting: bool,
    total_freed: u64,
}

thread_local! {
    static COLLECTOR: RefCell<CycleCollector> = const {
        RefCell::new(CycleCollector {
            candidates: Vec::new(),
            threshold: MIN_THRESHOLD,
            collecting: false,
            total_freed: 0,
        })
    };
}

impl CycleCollector {
    /// How many candidates this thread's buffer holds.
    pub fn pending() -> usize {
        COLLECTOR
            .try_with(|c| c.try_borrow().map(|c| c.candidates.len()).unwrap_or(0))
            .unwrap_or(0)
    }

    /// The buffer size at which the next collection runs on this thread.
    pub fn threshold() -> usize {
        COLLECTOR
            .try_with(|c| c.try_borrow().map(|c| c.threshold).unwrap_or(0))
            .unwrap_or(0)
    }

    /// How many containers collections have freed on this thread so far.
    pub fn total_freed() -> u64 {
        COLLECTOR
            .try_with(|c| c.try_borrow().map(|c| c.total_freed).unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Whether `d` can hold other objects that could lead back to it.
#[inline(always)]
fn is_container(d: &ObjectData) -> bool {
    matches!(
        d,
        ObjectData::Plain(_) | ObjectData::Array(_) | ObjectData::Map(_) | ObjectData::Set(_)
    )
}

/// Called by `Object`'s drop for a reference that is not the last: moves it into the
/// candidate buffer if its object is a container (returns true: the caller must not
/// release it). While a collection runs, or once the thread is exiting, references
/// are released as usual.
#[inline]
pub(super) fn buffer_possible_root(rc: &mut ManuallyDrop<ObjectRc>) -> bool {
    // A container, or borrowed right now (then possibly one: keep it to be safe).
    if !rc.try_borrow().map(|d| is_container(&d)).unwrap_or(true) {
        return false;
    }
    COLLECTOR
        .try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return false;
            };
            if c.collecting {
                return false;
            }
            // SAFETY: the reference moves into the buffer; the caller (the drop of its
            // `Object`) neither uses nor releases it again, as this returns true.
            let rc = unsafe { ManuallyDrop::take(rc) };
            c.candidates.push(Object(ManuallyDrop::new(rc)));
            true
        })
        .unwrap_or(false)
}

/// Collects if this thread's buffer has reached its threshold (a safe point: call it
/// where no object of this thread is being built in place).
#[inline]
pub fn collect_cycles_if_due() -> Option<CycleStats> {
    let due = COLLECTOR
        .try_with(|c| {
            c.try_borrow()
                .map(|c| !c.collecting && c.candidates.len() >= c.threshold)
                .unwrap_or(false)
        })
        .unwrap_or(false);
    due.then(collect_cycles)
}

/// A node of a collection: one distinct container reachable from the candidates.
struct Node {
    /// A reference held for the collection (counted out below).
    obj: Object,
    /// References from containers of the examined set.
    internal: usize,
    /// References held by the candidate buffer.
    buffered: usize,
    /// Held from outside (or could not be examined).
    live: bool,
    /// Its children in the examined set, by index (one per reference).
    children: Vec<usize>,
}

/// Runs a collection on this thread now: frees every container that only other
/// garbage containers refer to, and empties the candidate buffer.
pub fn collect_cycles() -> CycleStats {
    let candidates = COLLECTOR
        .try_with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            if c.collecting {
                return None;
            }
            c.collecting = true;
            Some(std::mem::take(&mut c.candidates))
        })
        .ok()
        .flatten();
    let Some(candidates) = candidates else {
        return CycleStats::default();
    };
    let stats = collect(&candidates);
    // Releasing the buffer's references (and the nodes', inside `collect`) frees the
    // garbage; while `collecting` is set, the releases are not buffered again.
    drop(candidates);
    let _ = COLLECTOR.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.collecting = false;
            c.threshold = MIN_THRESHOLD.max(2 * (stats.examined - stats.freed));
            c.total_freed += stats.freed as u64;
        }
    });
    stats
}

fn collect(candidates: &[Object]) -> CycleStats {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut intern = |o: &Object, nodes: &mut Vec<Node>, stack: &mut Vec<usize>| -> usize {
        *index.entry(o.addr()).or_insert_with(|| {
            nodes.push(Node {
                obj: o.clone(),
                internal: 0,
                buffered: 0,
                live: false,
                children: Vec::new(),
            });
            stack.push(nodes.len() - 1);
            nodes.len() - 1
        })
    };
    for c in candidates {
        let i = intern(c, &mut nodes, &mut stack);
        nodes[i].buffered += 1;
    }
    // Step 1: the containers reachable from the candidates, and the references among
    // them.
    while let Some(i) = stack.pop() {
        let obj = nodes[i].obj.clone();
        let Ok(data) = obj.0.try_borrow() else {
            nodes[i].live = true;
            continue;
        };
        if !is_container(&data) {
            nodes[i].live = true;
            continue;
        }
        let mut children = Vec::new();
        for_each_child(&data, |child| {
            let is_candidate = child
                .0
                .try_borrow()
                .map(|d| is_container(&d))
                .unwrap_or(true);
            if is_candidate {
                let j = intern(child, &mut nodes, &mut stack);
                nodes[j].internal += 1;
                children.push(j);
            }
        });
        drop(data);
        drop(obj);
        nodes[i].children = children;
    }
    // Step 2: held from outside: more references than the set's, the buffer's and the
    // node's own.
    let mut live_stack: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter_mut().enumerate() {
        let count = Rc::strong_count(&n.obj.0);
        if n.live || count > n.internal + n.buffered + 1 {
            n.live = true;
            live_stack.push(i);
        }
    }
    // Step 3: what a live container reaches is live.
    while let Some(i) = live_stack.pop() {
        for k in 0..nodes[i].children.len() {
            let j = nodes[i].children[k];
            if !nodes[j].live {
                nodes[j].live = true;
                live_stack.push(j);
            }
        }
    }
    // Step 4: empty the garbage, which drops the references among its members; then
    // the nodes' and the buffer's references are all that is left, and releasing them
    // frees it.
    let mut emptied: Vec<ObjectData> = Vec::new();
    for n in nodes.iter().filter(|n| !n.live) {
        if let Ok(mut d) = n.obj.0.try_borrow_mut() {
            emptied.push(std::mem::replace(&mut *d, EMPTY));
        }
    }
    let stats = CycleStats {
        examined: nodes.len(),
        freed: emptied.len(),
    };
    // Dropped through `Value` drops (children are released one by one, the last
    // reference of each freed without recursion).
    for d in emptied {
        drop_data(d);
    }
    drop(nodes);
    stats
}

/// Releases what `d` holds: each object reference through `Object`'s drop, so a last
/// reference is freed through the pool, without recursion.
fn drop_data(d: ObjectData) {
    drop(d);
}

/// Calls `f` once per object reference `d` holds directly (one call per reference).
fn for_each_child(d: &ObjectData, mut f: impl FnMut(&Object)) {
    let mut value = |v: &Value| {
        if let Value::Object(o) = v {
            f(o)
        }
    };
    match d {
        ObjectData::Plain(p) => p.iter().for_each(|(_, v)| value(v)),
        ObjectData::Array(a) => {
            a.elements.iter().flatten().for_each(&mut value);
            if let Some(p) = &a.props {
                p.iter().for_each(|(_, v)| value(v));
            }
        }
        ObjectData::Map(c) | ObjectData::Set(c) => c.iter().for_each(|(k, v)| {
            value(k);
            value(v);
        }),
        _ => {}
    }
}

//! `Debug` for values and objects: linear in the size of the graph and safe on
//! cycles (shared objects are labelled once and printed as back-references).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use super::{Object, ObjectData, Value};

/// Objects nested deeper than this are elided (`[Array ...]`) by `Debug`, which
/// recurses.
const DEBUG_MAX_DEPTH: usize = 24;

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undefined => f.write_str("undefined"),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => {
                if *n == 0.0 && n.is_sign_negative() {
                    f.write_str("-0")
                } else {
                    write!(f, "{n}")
                }
            }
            Value::BigInt(n) => write!(f, "{n}n"),
            Value::String(s) => fmt::Debug::fmt(s, f),
            Value::Symbol(s) => fmt::Debug::fmt(s, f),
            Value::Object(o) => fmt::Debug::fmt(o, f),
        }
    }
}

/// Prints the graph reachable from the object, each object once: an object met
/// more than once is labelled where it is first printed (`<ref #1> {...}`), and
/// printed as a back-reference afterwards (`#1`, or `[Circular #1]` inside itself),
/// so the output is linear in the size of the graph. Labels are numbered in printing
/// order, so isomorphic graphs (an object and its structured clone) print the same.
/// Objects nested more than 24 deep are elided (`[Array ...]`).
impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two passes over the same traversal: the first (into nothing) counts how
        // often each object is met, so that the second labels those met twice.
        let g = RefCell::new(DebugGraph {
            counting: true,
            ..DebugGraph::default()
        });
        let _ = fmt::Write::write_fmt(&mut Discard, format_args!("{:?}", InGraph(self, &g)));
        {
            let mut g = g.borrow_mut();
            g.counting = false;
            g.stack.clear();
            for s in g.seen.values_mut() {
                s.entered = false;
            }
        }
        debug_object(self, &g, f)
    }
}

/// What `Debug` knows of the graph it prints.
#[derive(Default)]
struct DebugGraph {
    /// True in the first pass, which only counts.
    counting: bool,
    /// The objects met, by address (they all live while the graph is printed).
    seen: HashMap<usize, Seen>,
    /// The objects being printed: the current one and its ancestors.
    stack: Vec<usize>,
    /// The last label given.
    labels: u32,
}

/// An object met while printing.
#[derive(Default)]
struct Seen {
    /// How often the first pass met it (not counting elided occurrences).
    visits: u32,
    /// Its label (0 for none yet).
    label: u32,
    /// True once printing (or counting) its contents has begun in this pass.
    entered: bool,
}

/// A writer that drops what it is given (the counting pass).
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

/// A value or object printed as part of the graph `.1`.
struct InGraph<'a, T>(&'a T, &'a RefCell<DebugGraph>);

impl fmt::Debug for InGraph<'_, Value> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Object(o) => debug_object(o, self.1, f),
            v => fmt::Debug::fmt(v, f),
        }
    }
}

impl fmt::Debug for InGraph<'_, Object> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_object(self.0, self.1, f)
    }
}

impl fmt::Debug for InGraph<'_, Vec<Object>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|o| InGraph(o, self.1)))
            .finish()
    }
}

/// Prints `o` as part of the graph `g`: a back-reference if it was printed before,
/// else its contents (labelled if it is met again later).
fn debug_object(o: &Object, g: &RefCell<DebugGraph>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let addr = o.addr();
    let mut gm = g.borrow_mut();
    let DebugGraph {
        counting,
        seen,
        stack,
        labels,
    } = &mut *gm;
    if let Some(s) = seen.get_mut(&addr).filter(|s| s.entered) {
        if *counting {
            s.visits += 1;
        } else if s.label == 0 {
            // Not seen twice by the first pass (cannot happen: both passes make the
            // same traversal); a label keeps the output finite anyway.
            *labels += 1;
            s.label = *labels;
        }
        let (label, circular) = (s.label, stack.contains(&addr));
        drop(gm);
        return if circular {
            write!(f, "[Circular #{label}]")
        } else {
            write!(f, "#{label}")
        };
    }
    let Ok(d) = o.0.try_borrow() else {
        drop(gm);
        return f.write_str("[Object (mutably borrowed)]");
    };
    if stack.len() >= DEBUG_MAX_DEPTH {
        drop(gm);
        return write!(f, "[{} ...]", d.class_name());
    }
    let s = seen.entry(addr).or_default();
    s.entered = true;
    let label = if *counting {
        s.visits = 1;
        0
    } else if s.visits > 1 {
        *labels += 1;
        s.label = *labels;
        s.label
    } else {
        0
    };
    stack.push(addr);
    drop(gm);
    if label != 0 {
        write!(f, "<ref #{label}> ")?;
    }
    let r = debug_data(&d, g, f);
    g.borrow_mut().stack.pop();
    r
}

fn debug_data(d: &ObjectData, g: &RefCell<DebugGraph>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match d {
        ObjectData::Plain(p) => f
            .debug_map()
            .entries(p.iter().map(|(k, v)| (k, InGraph(v, g))))
            .finish(),
        ObjectData::Array(a) => {
            let mut l = f.debug_list();
            for i in 0..a.length.min(a.elements.len() as u32) {
                match a.get(i) {
                    Some(v) => l.entry(&InGraph(v, g)),
                    None => l.entry(&format_args!("<hole>")),
                };
            }
            if (a.elements.len() as u32) < a.length {
                l.entry(&format_args!(
                    "<{} holes>",
                    a.length - a.elements.len() as u32
                ));
            }
            for (k, v) in a.props() {
                l.entry(&format_args!("{k}: {:?}", InGraph(v, g)));
            }
            l.finish()
        }
        ObjectData::BooleanObject(b) => write!(f, "[Boolean: {b}]"),
        ObjectData::NumberObject(n) => write!(f, "[Number: {:?}]", Value::Number(*n)),
        ObjectData::StringObject(s) => write!(f, "[String: {s:?}]"),
        ObjectData::BigIntObject(n) => write!(f, "[BigInt: {n}n]"),
        ObjectData::Date(t) => write!(f, "Date({:?})", Value::Number(*t)),
        ObjectData::RegExp(r) => write!(f, "/{}/{}", r.source, r.flags),
        ObjectData::ArrayBuffer(ab) => {
            if ab.detached {
                f.write_str("ArrayBuffer(detached)")
            } else {
                write!(f, "ArrayBuffer({} bytes", ab.bytes.len())?;
                if let Some(m) = ab.max_byte_length {
                    write!(f, ", max {m}")?;
                }
                f.write_str(")")
            }
        }
        ObjectData::View(v) => write!(
            f,
            "{}(offset {}, length {:?}, buffer {:?})",
            v.kind.class_name(),
            v.byte_offset,
            v.length,
            InGraph(&v.buffer, g)
        ),
        ObjectData::Blob(b) => write!(f, "Blob({} bytes, {:?})", b.bytes.len(), b.mime),
        ObjectData::File(fd) => write!(
            f,
            "File({:?}, {} bytes, {:?}, {})",
            fd.name,
            fd.blob.bytes.len(),
            fd.blob.mime,
            fd.last_modified
        ),
        ObjectData::FileList(l) => f.debug_tuple("FileList").field(&InGraph(l, g)).finish(),
        ObjectData::Map(m) => {
            f.write_str("Map ")?;
            f.debug_map()
                .entries(m.iter().map(|(k, v)| (InGraph(k, g), InGraph(v, g))))
                .finish()
        }
        ObjectData::Set(s) => {
            f.write_str("Set ")?;
            f.debug_set()
                .entries(s.iter().map(|(k, _)| InGraph(k, g)))
                .finish()
        }
        ObjectData::Error(e) => write!(f, "{}({:?})", e.name, e.message),
        ObjectData::DomException(e) => write!(f, "DOMException({}: {:?})", e.name, e.message),
        ObjectData::Port(_) => f.write_str("MessagePort"),
        ObjectData::Function { name } => write!(f, "[Function: {name}]"),
        ObjectData::Platform { interface } => write!(f, "[{interface}]"),
    }
}

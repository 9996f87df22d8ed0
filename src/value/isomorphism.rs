//! Graph isomorphism of two values (a test helper): what "a structured clone is
//! an equivalent graph" means, sharing and cycles included.

use std::collections::HashMap;

use super::{same_value_number, ObjectData, PropertyMap, Value};

/// Test helper: true when two value graphs are isomorphic: the same shapes and
/// primitive values (SameValue, so NaN matches NaN and -0 only -0), and the same
/// sharing and cycle structure (a bijection between the objects of `a` and `b`).
///
/// ArrayBuffers compare bytes, length, resizability and detached state; views compare
/// kind, offset and length and their buffers (as objects, so sharing counts); Blobs
/// compare bytes and type; ports match any port (they are new objects after a
/// transfer); functions and platform objects compare names. Iterative: deep graphs do
/// not overflow the stack.
pub fn graph_isomorphic(a: &Value, b: &Value) -> bool {
    let mut fwd: HashMap<usize, usize> = HashMap::new();
    let mut back: HashMap<usize, usize> = HashMap::new();
    let mut work: Vec<(Value, Value)> = vec![(a.clone(), b.clone())];
    while let Some((x, y)) = work.pop() {
        let (ox, oy) = match (&x, &y) {
            (Value::Object(ox), Value::Object(oy)) => (ox, oy),
            (Value::Object(_), _) | (_, Value::Object(_)) => return false,
            (Value::Symbol(_), Value::Symbol(_)) => continue,
            _ => {
                if !x.same_value(&y) {
                    return false;
                }
                continue;
            }
        };
        let (ax, ay) = (ox.addr(), oy.addr());
        match (fwd.get(&ax), back.get(&ay)) {
            (Some(&m), Some(&n)) => {
                if m == ay && n == ax {
                    continue;
                }
                return false;
            }
            (None, None) => {
                fwd.insert(ax, ay);
                back.insert(ay, ax);
            }
            _ => return false,
        }
        if !shallow_match(&ox.borrow(), &oy.borrow(), &mut work) {
            return false;
        }
    }
    true
}

fn props_match(p: &PropertyMap, q: &PropertyMap, work: &mut Vec<(Value, Value)>) -> bool {
    if p.len() != q.len() {
        return false;
    }
    for ((k1, v1), (k2, v2)) in p.iter().zip(q.iter()) {
        if k1 != k2 {
            return false;
        }
        work.push((v1.clone(), v2.clone()));
    }
    true
}

fn shallow_match(x: &ObjectData, y: &ObjectData, work: &mut Vec<(Value, Value)>) -> bool {
    use ObjectData as D;
    match (x, y) {
        (D::Plain(p), D::Plain(q)) => props_match(p, q, work),
        (D::Array(a), D::Array(b)) => {
            if a.length != b.length {
                return false;
            }
            let n = a.elements.len().max(b.elements.len());
            for i in 0..n {
                match (a.get(i as u32), b.get(i as u32)) {
                    (None, None) => {}
                    (Some(v), Some(w)) => work.push((v.clone(), w.clone())),
                    _ => return false,
                }
            }
            let empty = PropertyMap::new();
            props_match(
                a.props.as_deref().unwrap_or(&empty),
                b.props.as_deref().unwrap_or(&empty),
                work,
            )
        }
        (D::BooleanObject(a), D::BooleanObject(b)) => a == b,
        (D::NumberObject(a), D::NumberObject(b)) | (D::Date(a), D::Date(b)) => {
            same_value_number(*a, *b)
        }
        (D::StringObject(a), D::StringObject(b)) => a == b,
        (D::BigIntObject(a), D::BigIntObject(b)) => a == b,
        (D::RegExp(a), D::RegExp(b)) => a.source == b.source && a.flags == b.flags,
        (D::ArrayBuffer(a), D::ArrayBuffer(b)) => {
            a.bytes == b.bytes && a.max_byte_length == b.max_byte_length && a.detached == b.detached
        }
        (D::View(a), D::View(b)) => {
            if a.kind != b.kind || a.byte_offset != b.byte_offset || a.length != b.length {
                return false;
            }
            work.push((
                Value::Object(a.buffer.clone()),
                Value::Object(b.buffer.clone()),
            ));
            true
        }
        (D::Blob(a), D::Blob(b)) => a.bytes == b.bytes && a.mime == b.mime,
        (D::File(a), D::File(b)) => {
            a.blob.bytes == b.blob.bytes
                && a.blob.mime == b.blob.mime
                && a.name == b.name
                && a.last_modified == b.last_modified
        }
        (D::FileList(a), D::FileList(b)) => {
            if a.len() != b.len() {
                return false;
            }
            for (f, g) in a.iter().zip(b) {
                work.push((Value::Object(f.clone()), Value::Object(g.clone())));
            }
            true
        }
        (D::Map(a), D::Map(b)) | (D::Set(a), D::Set(b)) => {
            if a.len() != b.len() {
                return false;
            }
            for ((k1, v1), (k2, v2)) in a.iter().zip(b.iter()) {
                work.push((k1.clone(), k2.clone()));
                work.push((v1.clone(), v2.clone()));
            }
            true
        }
        (D::Error(a), D::Error(b)) => {
            a.name == b.name && a.message == b.message && a.stack == b.stack
        }
        (D::DomException(a), D::DomException(b)) => a.name == b.name && a.message == b.message,
        (D::Port(_), D::Port(_)) => true,
        (D::Function { name: a }, D::Function { name: b }) => a == b,
        (D::Platform { interface: a }, D::Platform { interface: b }) => a == b,
        _ => false,
    }
}

//! Deep and shared value graphs: dropping a graph nested 100,000 levels deep does not
//! overflow the stack (the drop is iterative), and `Debug` prints each object once
//! (later occurrences and cycles as back-references), so its output is linear in the
//! size of the graph.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use webmessaging_core::clone::{structured_clone, structured_deserialize, structured_serialize};
use webmessaging_core::value::{
    graph_isomorphic, ErrorKind, Object, TransferablePort, Value, ViewKind,
};

/// Deep enough that a recursive drop overflows any reasonable stack.
const DEPTH: usize = 100_000;

/// Runs `f` on a thread with a small stack (256 KiB), so that anything recursing with
/// the depth of a graph crashes the test process instead of passing by luck.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    on_stack(256 * 1024, f)
}

fn on_stack<R: Send + 'static>(size: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(size)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread survived")
}

// ---------------------------------------------------------------------------
// Drop
// ---------------------------------------------------------------------------

/// `[[[...]]]`, 100,000 levels, built from the outside in with `push` (as a script
/// would: `let a = []; let cur = a; for (...) { const n = []; cur.push(n); cur = n; }`).
#[test]
fn drop_deep_array() {
    on_small_stack(|| {
        let root = Object::new_array(vec![]);
        let mut cur = root.clone();
        for _ in 0..DEPTH {
            let next = Object::new_array(vec![]);
            cur.push(Value::from(next.clone()));
            cur = next;
        }
        cur.push(Value::from("the bottom"));
        drop(cur);
        let v = Value::from(root);
        drop(v);
    });
}

/// `{child: {child: ...}}`, 100,000 levels, built from the inside out.
#[test]
fn drop_deep_object() {
    on_small_stack(|| {
        let mut v = Value::from(Object::new_plain());
        for i in 0..DEPTH {
            v = Value::from(Object::from_pairs([
                ("child", v),
                ("n", Value::from(i as u32)),
                ("name", Value::from("a string too long to be stored inline")),
            ]));
        }
        drop(v);
    });
}

/// A chain of Maps: each maps `"next"` to the next Map, 100,000 levels; and a chain
/// of Maps whose *keys* are the next Map.
#[test]
fn drop_deep_map_chain() {
    on_small_stack(|| {
        let root = Object::new_map([]);
        let mut cur = root.clone();
        for _ in 0..DEPTH {
            let next = Object::new_map([]);
            cur.map_set(Value::from("next"), Value::from(next.clone()));
            cur = next;
        }
        drop(cur);
        drop(root);

        let mut v = Value::Null;
        for _ in 0..DEPTH {
            v = Value::from(Object::new_map([(v, Value::from(1))]));
        }
        drop(v);
    });
}

/// Every kind of container in one chain: arrays (elements and extra properties),
/// plain objects, Maps (keys and values), Sets, FileLists.
#[test]
fn drop_deep_mixed_chain() {
    on_small_stack(|| {
        let mut v = Value::from(Object::new_file(&b"x"[..], "text/plain", "x.txt", 0));
        for i in 0..DEPTH {
            v = Value::from(match i % 7 {
                0 => Object::new_array(vec![Value::from(1), v, Value::Null]),
                1 => {
                    let a = Object::new_sparse_array(10);
                    a.set("extra", v);
                    a
                }
                2 => Object::from_pairs([("k", v)]),
                3 => Object::new_map([(Value::from(i as u32), v)]),
                4 => Object::new_map([(v, Value::Undefined)]),
                5 => Object::new_set([Value::from("a"), v]),
                _ => {
                    let o = v.as_object().unwrap().clone();
                    drop(v);
                    Object::new_file_list(vec![o])
                }
            });
        }
        drop(v);
    });
}

/// A deep chain whose every level is also referenced from a side list: dropping the
/// chain frees nothing (every object still has a reference); dropping the list then
/// frees the levels one by one (each is the last reference to the level below it once
/// the level below's own handle has gone).
#[test]
fn drop_deep_chain_with_shared_levels() {
    on_small_stack(|| {
        let mut levels = Vec::with_capacity(DEPTH);
        let mut v = Value::Null;
        for _ in 0..DEPTH {
            let o = Object::new_array(vec![v]);
            levels.push(o.clone());
            v = Value::from(o);
        }
        drop(v);
        // The deepest level is still reachable and intact.
        assert_eq!(levels[0].array_get(0).map(|v| v.is_null()), Some(true));
        // Free from the top: each drop frees exactly one level.
        while let Some(o) = levels.pop() {
            drop(o);
        }
        // Free from the bottom, the other order: the last handle dropped is the top
        // of a 100,000-deep chain.
        let mut v = Value::Null;
        for _ in 0..DEPTH {
            let o = Object::new_array(vec![v]);
            levels.push(o.clone());
            v = Value::from(o);
        }
        drop(v);
        for o in levels {
            drop(o);
        }
    });
}

/// After a deep drop the thread goes on building and freeing values normally (the
/// object recycling pool is intact), and clones still work.
#[test]
fn values_still_work_after_a_deep_drop() {
    on_small_stack(|| {
        for _ in 0..3 {
            let mut v = Value::Null;
            for i in 0..DEPTH {
                v = Value::from(if i % 2 == 0 {
                    Object::new_array(vec![v])
                } else {
                    Object::from_pairs([("k", v)])
                });
            }
            drop(v);
            let o = Object::from_pairs([
                ("a", Value::from(1)),
                ("b", Value::from(Object::new_array(vec![Value::from("x")]))),
                (
                    "c",
                    Value::from(Object::new_map([(Value::from(1), Value::from(2))])),
                ),
            ]);
            let v = Value::from(o);
            let c = structured_clone(&v, &[]).unwrap();
            assert!(graph_isomorphic(&v, &c));
            assert_eq!(format!("{c:?}"), format!("{v:?}"));
        }
    });
}

/// A port that records when it is dropped, and drops what it holds then (as a
/// runtime's port may: its drop code runs while the graph holding it is freed).
struct DropPort {
    id: u32,
    log: Rc<RefCell<Vec<u32>>>,
    holds: RefCell<Option<Value>>,
}

impl Drop for DropPort {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
        drop(self.holds.borrow_mut().take());
    }
}

impl TransferablePort for DropPort {
    fn is_detached(&self) -> bool {
        false
    }
    fn transfer(&self) -> Box<dyn Any + Send> {
        Box::new(self.id)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn drop_port(id: u32, log: &Rc<RefCell<Vec<u32>>>, holds: Option<Value>) -> Value {
    Value::from(Object::new_port(Rc::new(DropPort {
        id,
        log: log.clone(),
        holds: RefCell::new(holds),
    })))
}

fn deep_chain(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::from(Object::new_array(vec![v]));
    }
    v
}

/// Objects are freed in the order a recursive drop frees them (depth first, children
/// in order), which the runtime can observe through its ports' drop code; and drop
/// code that frees another deep graph while a graph is being freed works too.
#[test]
fn drop_order_and_nested_drops() {
    on_small_stack(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let p = |id| drop_port(id, &log, None);
        let inner = Object::new_array(vec![p(2), p(3)]);
        inner.set("extra", p(4));
        let m = Object::new_map([(p(6), p(7))]);
        let v = Value::from(Object::new_array(vec![
            p(1),
            Value::from(inner),
            Value::from(Object::from_pairs([("a", p(5))])),
            Value::from(m),
            Value::from(Object::new_set([p(8), p(9)])),
            p(10),
        ]));
        drop(v);
        // An array's extra properties are freed before its elements, as ever.
        assert_eq!(*log.borrow(), [1, 4, 2, 3, 5, 6, 7, 8, 9, 10]);

        // A deep chain whose bottom is a port holding another deep chain, whose
        // bottom is a port holding a third.
        log.borrow_mut().clear();
        let innermost = drop_port(3, &log, Some(deep_chain(DEPTH)));
        let mut v = drop_port(
            2,
            &log,
            Some(Value::from(Object::new_array(vec![innermost]))),
        );
        for _ in 0..DEPTH {
            v = Value::from(Object::from_pairs([("next", v)]));
        }
        let v = drop_port(1, &log, Some(v));
        drop(v);
        assert_eq!(*log.borrow(), [1, 2, 3]);
    });
}

/// Deserializing untrusted deep input fails at `MAX_DEPTH` (no unbounded recursion),
/// and a record just under the limit decodes; the partial graph of a failed decode is
/// freed. (The limit is documented to fit a 2 MiB stack in debug builds.)
#[test]
fn deserialize_deep_record_is_bounded() {
    on_stack(2 * 1024 * 1024, || {
        // 1 = version; 11 = ARRAY, 10 = OBJECT + key "k", 26 = MAP + key 1 (INT).
        for prefix in [&[11u8][..], &[10, 7, 1, b'k'], &[26, 4, 2]] {
            let mut bytes = vec![1];
            for _ in 0..DEPTH {
                bytes.extend_from_slice(prefix);
            }
            let rec = webmessaging_core::clone::SerializedRecord::from_bytes(bytes);
            let err = structured_deserialize(&rec).unwrap_err();
            assert!(err.to_string().contains("nested deeper"), "{err}");
        }
        let mut v = Value::Null;
        for _ in 0..(webmessaging_core::clone::MAX_DEPTH - 1) {
            v = Value::from(Object::from_pairs([("k", v)]));
        }
        let rec = structured_serialize(&v).unwrap();
        let back = structured_deserialize(&rec).unwrap();
        assert!(graph_isomorphic(&v, &back));
    });
}

// ---------------------------------------------------------------------------
// Debug
// ---------------------------------------------------------------------------

/// Simple values print as they always did.
#[test]
fn debug_simple_values_unchanged() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Undefined, "undefined"),
        (Value::Null, "null"),
        (Value::from(true), "true"),
        (Value::from(-0.0), "-0"),
        (Value::from(1.5), "1.5"),
        (Value::from(f64::NAN), "NaN"),
        (Value::from("str"), "\"str\""),
        (
            Value::from(Object::new_array(vec![Value::from(1), Value::from("two")])),
            "[1, \"two\"]",
        ),
        (
            Value::from(Object::from_pairs([
                ("a", Value::from(1)),
                ("b", Value::Null),
            ])),
            "{\"a\": 1, \"b\": null}",
        ),
        (
            Value::from(Object::new_map([(Value::from(1), Value::from("x"))])),
            "Map {1: \"x\"}",
        ),
        (
            Value::from(Object::new_set([Value::from(1), Value::from(2)])),
            "Set {1, 2}",
        ),
        (Value::from(Object::new_date(5.0)), "Date(5)"),
        (
            Value::from(Object::new_error(ErrorKind::TypeError, Some("boom"))),
            "TypeError(Some(\"boom\"))",
        ),
        (
            Value::from(Object::from_pairs([
                ("nested", Value::from(Object::new_plain())),
                ("arr", Value::from(Object::new_sparse_array(3))),
            ])),
            "{\"nested\": {}, \"arr\": [<3 holes>]}",
        ),
    ];
    for (v, want) in cases {
        assert_eq!(format!("{v:?}"), want);
    }
    let o = Object::from_pairs([("v", Value::from(1))]);
    assert_eq!(format!("{o:#?}"), "{\n    \"v\": 1,\n}");
    // Past 24 levels the printer elides, as before.
    let mut v = Value::Null;
    for _ in 0..30 {
        v = Value::from(Object::new_array(vec![v]));
    }
    assert_eq!(
        format!("{v:?}"),
        format!("{}[Array ...]{}", "[".repeat(24), "]".repeat(24))
    );
}

/// A shared object is printed once, labelled, and referred back to afterwards.
#[test]
fn debug_shared_object_printed_once() {
    let shared = Object::from_pairs([("v", Value::from(1))]);
    let arr = Object::new_array(vec![
        Value::from(shared.clone()),
        Value::from(shared.clone()),
        Value::from(Object::new_plain()),
    ]);
    assert_eq!(format!("{arr:?}"), "[<ref #1> {\"v\": 1}, #1, {}]");
    // Isomorphic graphs print the same (labels follow the printing order, not
    // addresses), so a clone prints like its original.
    let v = Value::from(arr);
    let c = structured_clone(&v, &[]).unwrap();
    assert_eq!(format!("{c:?}"), format!("{v:?}"));
    assert_eq!(format!("{c:#?}"), format!("{v:#?}"));
}

/// Cycles print finitely, as a back-reference marked circular.
#[test]
fn debug_cycles_are_finite() {
    let o = Object::new_plain();
    o.set("self", Value::from(o.clone()));
    o.set("x", Value::from(1));
    assert_eq!(
        format!("{o:?}"),
        "<ref #1> {\"self\": [Circular #1], \"x\": 1}"
    );

    let m = Object::new_map([]);
    m.map_set(Value::from(m.clone()), Value::from(m.clone()));
    let s = format!("{m:?}");
    assert_eq!(s, "<ref #1> Map {[Circular #1]: [Circular #1]}");

    // A longer cycle through several kinds of objects, reached twice.
    let a = Object::new_array(vec![]);
    let b = Object::from_pairs([("a", Value::from(a.clone()))]);
    let c = Object::new_set([Value::from(b.clone())]);
    a.push(Value::from(c.clone()));
    let top = Object::new_array(vec![Value::from(a.clone()), Value::from(b.clone())]);
    let s = format!("{top:?}");
    assert_eq!(s, "[<ref #1> [Set {<ref #2> {\"a\": [Circular #1]}}], #2]");
    let copy = structured_clone(&Value::from(top.clone()), &[]).unwrap();
    assert_eq!(format!("{copy:?}"), s);
    // Break the cycle so the test frees what it built.
    a.set("length", Value::from(0));
}

/// A DAG of 40 levels where each level refers to the next twice would print 2^40
/// leaves if shared objects were printed at each occurrence; it prints in a few
/// hundred bytes.
#[test]
fn debug_dag_is_linear() {
    fn chain(make: impl Fn(Value) -> Object) -> Value {
        let mut v = Value::from("leaf");
        for _ in 0..40 {
            v = Value::from(make(v));
        }
        v
    }
    let dags = [
        chain(|v| Object::from_pairs([("a", v.clone()), ("b", v)])),
        chain(|v| Object::new_array(vec![v.clone(), v])),
        chain(|v| Object::new_map([(v.clone(), v)])),
    ];
    for v in &dags {
        for s in [format!("{v:?}"), format!("{v:#?}")] {
            assert!(s.len() < 10 * 1024, "{} bytes: {s}", s.len());
            assert!(s.contains("#1"), "{s}");
            assert!(s.contains("<ref #1>"), "{s}");
        }
    }
    // The 154-byte-record case: a record of a small DAG decodes to a graph whose
    // Debug output stays small.
    let rec = structured_serialize(&dags[0]).unwrap();
    let back = structured_deserialize(&rec).unwrap();
    let s = format!("{back:?}");
    assert!(s.len() < 10 * 1024, "{} bytes", s.len());
    assert_eq!(s, format!("{:?}", dags[0]));
}

/// Two views of one buffer: the buffer is printed once.
#[test]
fn debug_shared_buffer() {
    let ab = Object::new_array_buffer(vec![1, 2, 3, 4]);
    let v1 = Object::new_typed_array(ViewKind::Uint8, &ab, 0, None).unwrap();
    let v2 = Object::new_typed_array(ViewKind::Uint16, &ab, 0, Some(2)).unwrap();
    let arr = Object::new_array(vec![Value::from(v1), Value::from(v2)]);
    assert_eq!(
        format!("{arr:?}"),
        "[Uint8Array(offset 0, length None, buffer <ref #1> ArrayBuffer(4 bytes)), \
         Uint16Array(offset 0, length Some(2), buffer #1)]"
    );
}

/// Printing a 100,000-deep graph does not overflow the stack (it elides past 24
/// levels), and neither does printing a wide and deep DAG.
#[test]
fn debug_deep_graph_on_small_stack() {
    on_small_stack(|| {
        let mut v = Value::Null;
        for _ in 0..DEPTH {
            v = Value::from(Object::new_array(vec![v.clone(), v]));
        }
        let s = format!("{v:?}");
        assert!(s.len() < 10 * 1024, "{} bytes", s.len());
        let s = format!("{v:#?}");
        assert!(s.len() < 64 * 1024, "{} bytes", s.len());
        drop(v);
    });
}

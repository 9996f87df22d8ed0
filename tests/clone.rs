//! Structured clone, transfer and the serde bridge, against the conformance rows
//! `CLONE-*` and the buffer/port `XFER-*` rows of `conformance.md` (each test names
//! the rows it covers).

use std::any::Any;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use num_bigint::BigInt;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use webmessaging_core::clone::{
    deserialize_record, receive_transfer, serialize_transfer_only, structured_clone,
    structured_clone_with_ports, structured_deserialize, structured_deserialize_with_transfer,
    structured_serialize, structured_serialize_with_transfer, SerializedRecord, TransferData,
    Transferred, MAX_DEPTH,
};
use webmessaging_core::error::{Error, ExceptionName};
use webmessaging_core::serde_bridge::{from_record, from_value, to_record, to_value};
use webmessaging_core::value::{
    graph_isomorphic, ErrorKind, JsString, Object, PortReceiver, Symbol, TransferablePort, Value,
    ViewKind,
};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn clone(v: &Value) -> Value {
    structured_clone(v, &[]).expect("clone")
}

fn obj(v: &Value) -> &Object {
    v.as_object().expect("an object")
}

fn assert_data_clone<T: std::fmt::Debug>(r: webmessaging_core::Result<T>, needle: &str) {
    match r {
        Err(Error::DataClone(m)) => assert!(
            m.contains(needle),
            "DataCloneError message {m:?} should mention {needle:?}"
        ),
        other => panic!("expected DataCloneError mentioning {needle:?}, got {other:?}"),
    }
}

/// A port for tests: transferring it detaches it and ships its id.
struct TestPort {
    id: u32,
    detached: Cell<bool>,
    transfers: Rc<Cell<u32>>,
}

impl TestPort {
    fn new(id: u32) -> (Rc<TestPort>, Object) {
        let p = Rc::new(TestPort {
            id,
            detached: Cell::new(false),
            transfers: Rc::new(Cell::new(0)),
        });
        let o = Object::new_port(p.clone());
        (p, o)
    }
}

impl TransferablePort for TestPort {
    fn is_detached(&self) -> bool {
        self.detached.get()
    }
    fn transfer(&self) -> Box<dyn Any + Send> {
        assert!(!self.detached.get(), "transfer called twice");
        self.detached.set(true);
        self.transfers.set(self.transfers.get() + 1);
        Box::new(self.id)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The receiving realm: a port holder (the id) becomes a new TestPort "entangled"
/// with the same peer (modelled by keeping the id).
#[derive(Default)]
struct TestRealm {
    received: Vec<u32>,
}

impl PortReceiver for TestRealm {
    fn receive_port(
        &mut self,
        holder: Box<dyn Any + Send>,
    ) -> webmessaging_core::Result<Rc<dyn TransferablePort>> {
        let id = *holder
            .downcast::<u32>()
            .map_err(|_| Error::DataClone("not a test port holder".into()))?;
        self.received.push(id);
        Ok(Rc::new(TestPort {
            id,
            detached: Cell::new(false),
            transfers: Rc::new(Cell::new(0)),
        }))
    }
}

fn port_id(o: &Object) -> u32 {
    o.as_port()
        .expect("a port")
        .as_any()
        .downcast_ref::<TestPort>()
        .expect("a TestPort")
        .id
}

// ---------------------------------------------------------------------------
// CLONE-* rows
// ---------------------------------------------------------------------------

/// CLONE-PRIMITIVES
#[test]
fn clone_primitives_round_trip() {
    let lone = JsString::from_utf16(&[0xD800, 0x61, 0xDFFF]);
    assert!(lone.as_str().is_none());
    let big80: BigInt =
        "-12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            .parse()
            .unwrap();
    let values = vec![
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::from(""),
        Value::from("\0"),
        Value::from("𝌆 astral 😀"),
        Value::from("x".repeat(1000)),
        Value::String(lone.clone()),
        Value::Number(0.2),
        Value::Number(f64::NAN),
        Value::Number(f64::INFINITY),
        Value::Number(f64::NEG_INFINITY),
        Value::Number(9007199254740992.0),
        Value::Number(-9007199254740992.0),
        Value::Number(9007199254740994.0),
        Value::Number(-9007199254740994.0),
        Value::Number(0xdead_beef_u32 as f64),
        Value::Number(1.5e300),
        Value::Number(f64::MIN_POSITIVE),
        Value::Number(5e-324),
        Value::BigInt(BigInt::from(0)),
        Value::BigInt(BigInt::from(-1)),
        Value::BigInt(BigInt::from(u64::MAX) * 7),
        Value::BigInt(big80.clone()),
    ];
    for v in &values {
        let c = clone(v);
        assert!(c.same_value(v), "{v:?} cloned to {c:?}");
        assert_eq!(c.type_of(), v.type_of());
    }
    assert_eq!(
        clone(&Value::String(lone.clone()))
            .as_js_string()
            .unwrap()
            .to_utf16(),
        vec![0xD800, 0x61, 0xDFFF]
    );
    assert_eq!(
        clone(&Value::BigInt(big80.clone())).as_bigint(),
        Some(&big80)
    );
}

/// CLONE-NEG-ZERO
#[test]
fn clone_neg_zero_everywhere() {
    let nz = Value::Number(-0.0);
    assert!(clone(&nz).same_value(&nz));
    assert!(!clone(&nz).same_value(&Value::Number(0.0)));
    let arr = Value::from(Object::new_array(vec![Value::Number(-0.0)]));
    assert!(obj(&clone(&arr)).array_get(0).unwrap().same_value(&nz));
    let o = Value::from(Object::from_pairs([("z", Value::Number(-0.0))]));
    assert!(obj(&clone(&o)).get("z").unwrap().same_value(&nz));
    let w = Value::from(Object::new_number_object(-0.0));
    assert!(obj(&clone(&w)).wrapped_primitive().unwrap().same_value(&nz));
    let d = Value::from(Object::new_date(-0.0));
    let t = obj(&clone(&d)).date_value().unwrap();
    assert!(t == 0.0 && t.is_sign_negative());
}

/// CLONE-WRAPPERS
#[test]
fn clone_wrappers_stay_wrappers() {
    let wrappers = [
        Object::new_boolean_object(true),
        Object::new_boolean_object(false),
        Object::new_number_object(f64::NAN),
        Object::new_number_object(42.5),
        Object::new_string_object("str"),
        Object::new_string_object(""),
        Object::new_bigint_object(BigInt::from(-77)),
    ];
    for w in wrappers {
        let v = Value::from(w.clone());
        let c = clone(&v);
        let co = obj(&c);
        assert!(!Object::ptr_eq(co, &w), "a new wrapper object");
        assert_eq!(co.class_name(), w.class_name());
        assert!(co
            .wrapped_primitive()
            .unwrap()
            .same_value(&w.wrapped_primitive().unwrap()));
        assert_eq!(c.type_of(), "object");
    }
}

/// CLONE-DATE
#[test]
fn clone_date_identical_time_value() {
    for t in [0.0, 1.7e12, 8.64e15, -8.64e15, f64::NAN] {
        let d = Object::new_date(t);
        let c = clone(&Value::from(d.clone()));
        assert!(!Object::ptr_eq(obj(&c), &d));
        assert_eq!(obj(&c).class_name(), "Date");
        let ct = obj(&c).date_value().unwrap();
        assert!(ct.to_bits() == t.to_bits() || (ct.is_nan() && t.is_nan()));
    }
}

/// CLONE-REGEXP: source and flags kept, lastIndex reset to 0. The escaping of
/// `source` (`"(?:)"`, `"\/"`, `"\n"`) is the RegExp constructor's job; the model
/// stores `source` as already escaped and clone keeps it byte for byte.
#[test]
fn clone_regexp_resets_last_index() {
    let r = Object::new_regexp("a\\/b\\n(?:)", "gimsuy");
    r.set("lastIndex", Value::Number(5.0));
    assert_eq!(r.get("lastIndex").unwrap().as_number(), Some(5.0));
    let c = clone(&Value::from(r.clone()));
    let co = obj(&c);
    assert_eq!(co.class_name(), "RegExp");
    assert_eq!(co.get("source").unwrap().as_str(), Some("a\\/b\\n(?:)"));
    assert_eq!(co.get("flags").unwrap().as_str(), Some("gimsuy"));
    assert_eq!(co.get("lastIndex").unwrap().as_number(), Some(0.0));
}

/// CLONE-ARRAY
#[test]
fn clone_array_length_holes_and_props() {
    let sparse = Object::new_sparse_array(10);
    let c = clone(&Value::from(sparse));
    assert_eq!(obj(&c).array_len(), Some(10));
    assert!((0..10).all(|i| obj(&c).array_get(i).is_none()));
    assert!(obj(&c).keys().is_empty());

    let a = Object::new_array(vec![Value::from(1), Value::from("two")]);
    a.set("5", Value::Bool(true)); // holes at 2..5
    a.set("foo", Value::from("bar"));
    let inner = Object::new_array(vec![Value::from(3)]);
    a.push(Value::from(inner.clone()));
    let c = clone(&Value::from(a.clone()));
    let co = obj(&c);
    assert_eq!(co.array_len(), Some(7));
    assert_eq!(co.array_get(1).unwrap().as_str(), Some("two"));
    assert!(co.array_get(2).is_none() && co.array_get(4).is_none());
    assert_eq!(co.array_get(5).unwrap().as_bool(), Some(true));
    assert_eq!(co.get("foo").unwrap().as_str(), Some("bar"));
    let ci = co.array_get(6).unwrap();
    assert!(
        !Object::ptr_eq(obj(&ci), &inner),
        "elements are cloned recursively"
    );
    assert_eq!(
        co.keys().iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        ["0", "1", "5", "6", "foo"]
    );
    // Holes past the last element and a big length
    let big = Object::new_sparse_array(u32::MAX - 1);
    big.set("3", Value::Null);
    let cb = clone(&Value::from(big));
    assert_eq!(obj(&cb).array_len(), Some(u32::MAX - 1));
    assert!(obj(&cb).array_get(3).unwrap().is_null());
}

/// CLONE-ARRAYLIKE-OBJECT
#[test]
fn clone_arraylike_object_stays_plain() {
    let o = Object::from_pairs([("0", Value::from("foo")), ("length", Value::from(1))]);
    let c = clone(&Value::from(o));
    assert_eq!(obj(&c).class_name(), "Object");
    assert_eq!(obj(&c).array_len(), None);
    assert_eq!(obj(&c).get("0").unwrap().as_str(), Some("foo"));
    assert_eq!(obj(&c).get("length").unwrap().as_number(), Some(1.0));
}

/// CLONE-OWN-ENUMERABLE, CLONE-DESCRIPTORS, CLONE-OBJECT-PROTOTYPE: modelling
/// decision: the value model only has own, enumerable, string-keyed, writable and
/// configurable data properties and no prototypes, so a "class instance" is a plain
/// object and what is stored is exactly what is copied; the clone is always an
/// ordinary `Object` with the same own properties.
#[test]
fn clone_own_enumerable_descriptors_prototype() {
    let instance = Object::from_pairs([("x", Value::from(1)), ("y", Value::from(2))]);
    let c = clone(&Value::from(instance));
    assert_eq!(obj(&c).class_name(), "Object");
    assert_eq!(obj(&c).keys().len(), 2);
    // Properties of the clone are ordinary writable data properties.
    obj(&c).set("x", Value::from(10));
    assert_eq!(obj(&c).get("x").unwrap().as_number(), Some(10.0));
    // Object.prototype modelled as an empty ordinary object.
    let proto = Object::new_plain();
    let c = clone(&Value::from(proto));
    assert_eq!(obj(&c).class_name(), "Object");
    assert!(obj(&c).keys().is_empty());
}

/// CLONE-PROP-ORDER
#[test]
fn clone_prop_order_kept() {
    let o = Object::from_pairs([
        ("b", Value::from(1)),
        ("a", Value::from(2)),
        ("c", Value::from(3)),
    ]);
    o.set("b", Value::from(4)); // reassigning does not move it
    let keys: Vec<_> = (0..20).map(|i| format!("k{}", 19 - i)).collect();
    for k in &keys {
        o.set(k, Value::from(k.as_str()));
    }
    let c = clone(&Value::from(o));
    let got: Vec<String> = obj(&c).keys().iter().map(|k| k.to_string()).collect();
    let mut want = vec!["b".to_string(), "a".into(), "c".into()];
    want.extend(keys.iter().cloned());
    assert_eq!(got, want);
    assert_eq!(obj(&c).get("b").unwrap().as_number(), Some(4.0));
}

/// CLONE-CYCLES
#[test]
fn clone_cycles_point_to_the_clone() {
    let arr = Object::new_array(vec![]);
    arr.push(Value::from(arr.clone()));
    let d = clone(&Value::from(arr.clone()));
    let d0 = obj(&d).array_get(0).unwrap();
    assert!(Object::ptr_eq(obj(&d), obj(&d0)), "d === d[0]");
    assert!(!Object::ptr_eq(obj(&d), &arr));

    let o = Object::new_plain();
    o.set("foo", Value::from(o.clone()));
    let d = clone(&Value::from(o.clone()));
    assert!(
        Object::ptr_eq(obj(&d), obj(&obj(&d).get("foo").unwrap())),
        "d === d.foo"
    );

    // a Map containing itself as key and value
    let m = Object::new_map([]);
    m.map_set(Value::from(m.clone()), Value::from(m.clone()));
    let d = clone(&Value::from(m.clone()));
    let (k, v) = obj(&d).map_entries().unwrap().remove(0);
    assert!(Object::ptr_eq(obj(&d), obj(&k)) && Object::ptr_eq(obj(&d), obj(&v)));
    // Debug does not loop forever on cycles
    let s = format!("{d:?}");
    assert!(s.contains("Circular"));
}

/// CLONE-SHARED-REFS
#[test]
fn clone_shared_refs_stay_shared() {
    let shared = Object::from_pairs([("v", Value::from(1))]);
    let arr = Object::new_array(vec![
        Value::from(shared.clone()),
        Value::from(shared.clone()),
    ]);
    let d = clone(&Value::from(arr));
    let (a, b) = (obj(&d).array_get(0).unwrap(), obj(&d).array_get(1).unwrap());
    assert!(Object::ptr_eq(obj(&a), obj(&b)), "d[0] === d[1]");
    assert!(!Object::ptr_eq(obj(&a), &shared));

    let dd = Object::new_plain();
    let root = Object::from_pairs([
        (
            "b",
            Value::from(Object::from_pairs([("d", Value::from(dd.clone()))])),
        ),
        (
            "c",
            Value::from(Object::from_pairs([("d", Value::from(dd.clone()))])),
        ),
    ]);
    let d = clone(&Value::from(root));
    let bd = obj(&obj(&d).get("b").unwrap()).get("d").unwrap();
    let cd = obj(&obj(&d).get("c").unwrap()).get("d").unwrap();
    assert!(Object::ptr_eq(obj(&bd), obj(&cd)), "d.b.d === d.c.d");
}

/// CLONE-NESTED-FRESH
#[test]
fn clone_nested_fresh_objects() {
    let inner = Object::new_array(vec![Value::from(1), Value::from(Object::new_plain())]);
    let root = Object::from_pairs([("a", Value::from(inner.clone())), ("s", Value::from("x"))]);
    let v = Value::from(root.clone());
    let c = clone(&v);
    assert!(graph_isomorphic(&v, &c));
    assert!(!Object::ptr_eq(obj(&c), &root));
    let ca = obj(&c).get("a").unwrap();
    assert!(!Object::ptr_eq(obj(&ca), &inner));
    assert!(!Object::ptr_eq(
        obj(&obj(&ca).array_get(1).unwrap()),
        obj(&inner.array_get(1).unwrap())
    ));
    // Each deserialization of one record builds a fresh graph.
    let rec = structured_serialize(&v).unwrap();
    let (x, y) = (
        structured_deserialize(&rec).unwrap(),
        structured_deserialize(&rec).unwrap(),
    );
    assert!(graph_isomorphic(&x, &y));
    assert!(!Object::ptr_eq(obj(&x), obj(&y)));
}

/// CLONE-MAP-SET
#[test]
fn clone_map_set_order_and_keys() {
    let key_obj = Object::new_plain();
    let m = Object::new_map([
        (Value::from("z"), Value::from(1)),
        (Value::Number(-0.0), Value::from("zero")),
        (Value::Number(f64::NAN), Value::from("nan")),
        (Value::from(key_obj.clone()), Value::from(key_obj.clone())),
        (Value::from("a"), Value::Null),
    ]);
    assert_eq!(
        m.map_get(&Value::Number(0.0)).unwrap().as_str(),
        Some("zero")
    );
    let c = clone(&Value::from(m));
    let co = obj(&c);
    assert_eq!(co.class_name(), "Map");
    let e = co.map_entries().unwrap();
    assert_eq!(e.len(), 5);
    assert_eq!(e[0].0.as_str(), Some("z"));
    assert!(e[1].0.same_value(&Value::Number(0.0)));
    assert!(e[2].0.same_value(&Value::Number(f64::NAN)));
    assert!(
        Object::ptr_eq(obj(&e[3].0), obj(&e[3].1)),
        "shared key/value stays shared"
    );
    assert!(!Object::ptr_eq(obj(&e[3].0), &key_obj));
    assert_eq!(e[4].0.as_str(), Some("a"));
    assert_eq!(
        co.map_get(&Value::Number(f64::NAN)).unwrap().as_str(),
        Some("nan")
    );

    let s = Object::new_set([
        Value::from(3),
        Value::from("x"),
        Value::from(3),
        Value::Bool(false),
    ]);
    let c = clone(&Value::from(s));
    let vals = obj(&c).set_values().unwrap();
    assert_eq!(obj(&c).class_name(), "Set");
    assert_eq!(vals.len(), 3);
    assert!(vals[0].same_value(&Value::from(3)) && vals[1].as_str() == Some("x"));
    assert!(obj(&c).collection_has(&Value::Bool(false)));
}

/// CLONE-ERROR-TYPES, CLONE-ERROR-STACK (the stack is kept as is). Extra own
/// properties are not modelled on Error objects, so they cannot be cloned.
/// Note: AggregateError/SuppressedError are not in the HTML Standard's list of
/// names yet, so (per spec step 2) they clone as `Error`.
#[test]
fn clone_error_types_message_and_stack() {
    for kind in ErrorKind::ALL {
        let e = Object::new_error(kind, Some("boom"));
        let c = clone(&Value::from(e.clone()));
        let co = obj(&c);
        assert!(!Object::ptr_eq(co, &e));
        assert_eq!(co.class_name(), "Error");
        assert_eq!(co.get("name").unwrap().as_str(), Some(kind.as_str()));
        assert_eq!(co.get("message").unwrap().as_str(), Some("boom"));
        assert!(co.get("stack").is_none());
    }
    // without an own message: none in the clone
    let c = clone(&Value::from(Object::new_error(ErrorKind::TypeError, None)));
    assert!(obj(&c).get("message").is_none());
    // unknown names clone as Error
    let c = clone(&Value::from(Object::new_error_named(
        "AggregateError",
        Some("m"),
    )));
    assert_eq!(obj(&c).get("name").unwrap().as_str(), Some("Error"));
    // CLONE-ERROR-STACK
    let e = Object::new_error(ErrorKind::RangeError, Some("r"));
    e.set_error_stack(Some("RangeError: r\n    at f (a.js:1:2)"));
    let c = clone(&Value::from(e));
    assert_eq!(
        obj(&c).get("stack").unwrap().as_str(),
        Some("RangeError: r\n    at f (a.js:1:2)")
    );
}

/// CLONE-DOMEXCEPTION
#[test]
fn clone_dom_exception_name_message_code() {
    let e = Object::new_dom_exception("IndexSizeError", "bad index");
    let c = clone(&Value::from(e));
    let co = obj(&c);
    assert_eq!(co.class_name(), "DOMException");
    assert_eq!(co.get("name").unwrap().as_str(), Some("IndexSizeError"));
    assert_eq!(co.get("message").unwrap().as_str(), Some("bad index"));
    assert_eq!(co.get("code").unwrap().as_number(), Some(1.0));
    // a UA-thrown DataCloneError caught from a failed clone
    let err = structured_clone(&Value::from(Object::new_function("f")), &[]).unwrap_err();
    assert_eq!(err.name(), ExceptionName::DataCloneError);
    let c = clone(&Value::from(Object::from_error(&err)));
    assert_eq!(
        obj(&c).get("name").unwrap().as_str(),
        Some("DataCloneError")
    );
    assert_eq!(obj(&c).get("code").unwrap().as_number(), Some(25.0));
    let c = clone(&Value::from(Object::new_dom_exception("MyError", "")));
    assert_eq!(obj(&c).get("code").unwrap().as_number(), Some(0.0));
}

/// CLONE-AB-COPY
#[test]
fn clone_ab_copy_leaves_sender_untouched() {
    let ab = Object::new_array_buffer(vec![1, 2, 3, 4]);
    let c = clone(&Value::from(ab.clone()));
    assert!(!Object::ptr_eq(obj(&c), &ab));
    assert_eq!(obj(&c).with_bytes(|b| b.to_vec()), Some(vec![1, 2, 3, 4]));
    assert_eq!(ab.byte_length(), Some(4));
    assert!(!ab.is_detached());
    // a copy, not shared memory
    obj(&c).with_bytes_mut(|b| b[0] = 9);
    assert_eq!(ab.with_bytes(|b| b[0]), Some(1));
    // resizable keeps resizable and maxByteLength
    let r = Object::new_resizable_array_buffer(vec![0; 8], 64);
    let c = clone(&Value::from(r));
    assert_eq!(obj(&c).max_byte_length(), Some(64));
    assert_eq!(obj(&c).get("resizable").unwrap().as_bool(), Some(true));
    assert_eq!(obj(&c).byte_length(), Some(8));
}

/// CLONE-VIEWS
#[test]
fn clone_views_all_kinds_share_their_buffer() {
    let ab = Object::new_array_buffer((0..64).collect());
    for kind in ViewKind::ALL {
        let es = kind.element_size();
        let v = Object::new_typed_array(kind, &ab, 8, Some(16 / es)).unwrap();
        let c = clone(&Value::from(v.clone()));
        let co = obj(&c);
        assert_eq!(co.class_name(), kind.class_name());
        assert_eq!(co.view_kind(), Some(kind));
        assert_eq!(co.get("byteOffset").unwrap().as_number(), Some(8.0));
        assert_eq!(co.byte_length(), Some(16));
        assert_eq!(co.with_bytes(|b| b.to_vec()), v.with_bytes(|b| b.to_vec()));
        assert!(
            !Object::ptr_eq(&co.view_buffer().unwrap(), &ab),
            "over a new buffer"
        );
    }
    // two views of one buffer share one new buffer
    let a = Object::new_typed_array(ViewKind::Uint8, &ab, 0, None).unwrap();
    let b = Object::new_data_view(&ab, 4, Some(4)).unwrap();
    let v = Value::from(Object::new_array(vec![
        Value::from(a),
        Value::from(b),
        Value::from(ab.clone()),
    ]));
    let c = clone(&v);
    assert!(graph_isomorphic(&v, &c));
    let co = obj(&c);
    let (ca, cb, cab) = (
        co.array_get(0).unwrap(),
        co.array_get(1).unwrap(),
        co.array_get(2).unwrap(),
    );
    assert!(Object::ptr_eq(
        &obj(&ca).view_buffer().unwrap(),
        &obj(&cb).view_buffer().unwrap()
    ));
    assert!(Object::ptr_eq(&obj(&ca).view_buffer().unwrap(), obj(&cab)));
    // length-tracking on a resizable buffer stays length-tracking
    let r = Object::new_resizable_array_buffer(vec![0; 8], 32);
    let t = Object::new_typed_array(ViewKind::Uint16, &r, 2, None).unwrap();
    assert_eq!(t.get("length").unwrap().as_number(), Some(3.0));
    let c = clone(&Value::from(t));
    let co = obj(&c);
    co.view_buffer().unwrap().resize(20).unwrap();
    assert_eq!(
        co.get("length").unwrap().as_number(),
        Some(9.0),
        "follows its buffer"
    );
}

/// CLONE-OOB-VIEW
#[test]
fn clone_oob_view_fails() {
    let r = Object::new_resizable_array_buffer(vec![0; 16], 32);
    let t = Object::new_typed_array(ViewKind::Int32, &r, 4, Some(3)).unwrap();
    let d = Object::new_data_view(&r, 12, None).unwrap();
    r.resize(8).unwrap();
    assert!(t.is_out_of_bounds() && d.is_out_of_bounds());
    assert_data_clone(structured_clone(&Value::from(t), &[]), "out of bounds");
    assert_data_clone(structured_clone(&Value::from(d), &[]), "out of bounds");
}

/// CLONE-BLOB: a Blob clones to a new Blob (not a File) over the same shared bytes;
/// a File keeps name and lastModified; FileList clones its Files.
#[test]
fn clone_blob_file_filelist_share_bytes() {
    let bytes: std::sync::Arc<[u8]> = std::sync::Arc::from(vec![0xff, 0xfe, 0x00, b'a']);
    let blob = Object::new_blob(bytes.clone(), "application/x-test");
    let empty = Object::new_blob(Vec::new(), "");
    let file = Object::new_file(bytes.clone(), "text/plain", "f.txt", 1_700_000_000_123);
    let list = Object::new_file_list(vec![file.clone()]);
    let v = Value::from(Object::new_array(vec![
        Value::from(blob.clone()),
        Value::from(empty),
        Value::from(file.clone()),
        Value::from(list),
    ]));
    let rec = structured_serialize(&v).unwrap();
    assert_eq!(rec.blob_count(), 2, "the same Arc is listed once");
    assert!(rec.len() < 100, "blob bytes are not copied into the record");
    let c = structured_deserialize(&rec).unwrap();
    assert!(graph_isomorphic(&v, &c));
    let co = obj(&c);
    let cb = co.array_get(0).unwrap();
    assert_eq!(obj(&cb).class_name(), "Blob");
    assert!(!Object::ptr_eq(obj(&cb), &blob));
    assert!(
        std::sync::Arc::ptr_eq(&obj(&cb).blob_bytes().unwrap(), &bytes),
        "bytes shared, not copied"
    );
    assert_eq!(
        obj(&cb).get("type").unwrap().as_str(),
        Some("application/x-test")
    );
    assert_eq!(
        obj(&co.array_get(1).unwrap())
            .get("size")
            .unwrap()
            .as_number(),
        Some(0.0)
    );
    let cf = co.array_get(2).unwrap();
    assert_eq!(obj(&cf).class_name(), "File");
    assert_eq!(obj(&cf).get("name").unwrap().as_str(), Some("f.txt"));
    assert_eq!(
        obj(&cf).get("lastModified").unwrap().as_number(),
        Some(1_700_000_000_123.0)
    );
    let cl = co.array_get(3).unwrap();
    assert!(
        Object::ptr_eq(obj(&obj(&cl).get("0").unwrap()), obj(&cf)),
        "FileList shares the File"
    );
}

/// CLONE-NON-SERIALIZABLE, PM-DATACLONE-FUNCTION
#[test]
fn clone_non_serializable_fails() {
    assert_data_clone(
        structured_clone(&Value::from(Object::new_function("f")), &[]),
        "function f",
    );
    assert_data_clone(
        structured_clone(&Value::Symbol(Symbol::new(Some("s"))), &[]),
        "Symbol(s)",
    );
    for iface in ["Window", "Event", "MessageChannel", "Response", "Document"] {
        let v = Value::from(Object::new_platform_object(iface));
        assert_data_clone(structured_clone(&v, &[]), iface);
    }
    // nested: {obj: {f: function(){}}}
    let v = Value::from(Object::from_pairs([(
        "obj",
        Value::from(Object::from_pairs([(
            "f",
            Value::from(Object::new_function("")),
        )])),
    )]));
    assert_data_clone(structured_clone(&v, &[]), "function cannot be cloned");
    // symbols nested in a Map
    let m = Object::new_map([(Value::from(1), Value::Symbol(Symbol::new(None)))]);
    assert_data_clone(structured_clone(&Value::from(m), &[]), "Symbol()");
    // a port outside the transfer list
    let (_p, port) = TestPort::new(1);
    assert_data_clone(
        structured_serialize(&Value::from(port)),
        "MessagePort must be in the transfer list to be cloned",
    );
}

/// Deep graphs fail cleanly instead of overflowing the stack.
#[test]
fn clone_too_deep_fails_cleanly() {
    let mut v = Value::Null;
    for _ in 0..1_000 {
        v = Value::from(Object::new_array(vec![v]));
    }
    assert_data_clone(structured_clone(&v, &[]), "nested deeper");
    let mut v = Value::Null;
    for _ in 0..(MAX_DEPTH - 1) {
        v = Value::from(Object::new_array(vec![v]));
    }
    let c = clone(&v);
    assert!(graph_isomorphic(&v, &c));
}

// ---------------------------------------------------------------------------
// XFER-* rows
// ---------------------------------------------------------------------------

/// XFER-AB-DETACH, and the transfer is O(1): the receiver gets the very same Vec.
#[test]
fn xfer_ab_detach_moves_the_vec() {
    let ab = Object::new_array_buffer(vec![7u8; 1 << 20]);
    let ptr = ab.with_bytes(|b| b.as_ptr() as usize).unwrap();
    let v = Value::from(ab.clone());
    let c = structured_clone(&v, std::slice::from_ref(&v)).unwrap();
    assert!(ab.is_detached());
    assert_eq!(ab.byte_length(), Some(0));
    let co = obj(&c);
    assert!(!Object::ptr_eq(co, &ab));
    assert_eq!(co.byte_length(), Some(1 << 20));
    assert_eq!(
        co.with_bytes(|b| b.as_ptr() as usize),
        Some(ptr),
        "bytes moved, not copied"
    );
    assert!(co.with_bytes(|b| b.iter().all(|&x| x == 7)).unwrap());
    // also through serialize / receive / deserialize, with the buffer unreferenced
    let ab2 = Object::new_array_buffer(vec![1, 2]);
    let s = structured_serialize_with_transfer(&Value::Null, &[Value::from(ab2.clone())]).unwrap();
    assert_eq!(s.transfer.port_count(), 0);
    assert!(!s.transfer.is_empty());
    let t = receive_transfer(s.transfer, &mut TestRealm::default()).unwrap();
    assert_eq!(t.array_buffers.len(), 1);
    assert_eq!(
        t.array_buffers[0].with_bytes(|b| b.to_vec()),
        Some(vec![1, 2])
    );
    assert!(deserialize_record(&s.record, &t).unwrap().is_null());
}

/// XFER-AB-DETACH: views of a transferred buffer follow it to the new buffer.
#[test]
fn xfer_views_follow_transferred_buffer() {
    let ab = Object::new_array_buffer((0..16).collect());
    let view = Object::new_typed_array(ViewKind::Uint8, &ab, 4, Some(4)).unwrap();
    let v = Value::from(Object::new_array(vec![
        Value::from(view),
        Value::from(ab.clone()),
    ]));
    let c = structured_clone(&v, &[Value::from(ab.clone())]).unwrap();
    assert!(ab.is_detached());
    let co = obj(&c);
    let (cv, cab) = (co.array_get(0).unwrap(), co.array_get(1).unwrap());
    assert!(Object::ptr_eq(&obj(&cv).view_buffer().unwrap(), obj(&cab)));
    assert_eq!(obj(&cv).with_bytes(|b| b.to_vec()), Some(vec![4, 5, 6, 7]));
}

/// XFER-RESIZABLE-AB
#[test]
fn xfer_resizable_ab_keeps_max() {
    let ab = Object::new_resizable_array_buffer(vec![3; 32], 1024);
    let v = Value::from(ab.clone());
    let c = structured_clone(&v, std::slice::from_ref(&v)).unwrap();
    assert!(ab.is_detached());
    assert_eq!(obj(&c).byte_length(), Some(32));
    assert_eq!(obj(&c).max_byte_length(), Some(1024));
    assert_eq!(obj(&c).get("resizable").unwrap().as_bool(), Some(true));
    obj(&c).resize(1024).unwrap();
}

/// XFER-DUPLICATE
#[test]
fn xfer_duplicate_fails_and_detaches_nothing() {
    let ab = Object::new_array_buffer(vec![1]);
    let v = Value::from(ab.clone());
    assert_data_clone(
        structured_clone(&v, &[v.clone(), v.clone()]),
        "duplicate ArrayBuffer",
    );
    assert!(!ab.is_detached());
    let (p, port) = TestPort::new(1);
    let pv = Value::from(port);
    assert_data_clone(
        structured_clone_with_ports(
            &Value::Null,
            &[pv.clone(), pv.clone()],
            &mut TestRealm::default(),
        ),
        "duplicate MessagePort",
    );
    assert!(!p.is_detached());
}

/// XFER-NON-TRANSFERABLE
#[test]
fn xfer_non_transferable_entries_fail() {
    let ab = Object::new_array_buffer(vec![1]);
    let entries = vec![
        (Value::from(Object::new_platform_object("Window")), "Window"),
        (
            Value::from(Object::new_platform_object("Document")),
            "Document",
        ),
        (
            Value::from(Object::new_platform_object("HTMLImageElement")),
            "HTMLImageElement",
        ),
        (Value::from(Object::new_blob(vec![1], "")), "Blob"),
        (Value::from(Object::new_plain()), "Object"),
        (
            Value::from(Object::from_pairs([("length", Value::from(3))])),
            "Object",
        ),
        (Value::from(1), "number"),
        (Value::from("s"), "string"),
        (Value::Null, "object"),
        (
            Value::from(Object::new_typed_array(ViewKind::Uint8, &ab, 0, None).unwrap()),
            "Uint8Array",
        ),
    ];
    for (e, name) in entries {
        let r = structured_clone(&Value::from(ab.clone()), &[Value::from(ab.clone()), e]);
        assert_data_clone(r, name);
        assert!(!ab.is_detached(), "a failing call detaches nothing");
    }
}

/// XFER-DETACHED-REUSE
#[test]
fn xfer_detached_reuse_fails() {
    let ab = Object::new_array_buffer(vec![1, 2, 3]);
    let v = Value::from(ab.clone());
    structured_clone(&v, std::slice::from_ref(&v)).unwrap();
    assert_data_clone(structured_clone(&v, std::slice::from_ref(&v)), "detached");
    // cloning (not transferring) a detached buffer fails too
    assert_data_clone(structured_clone(&v, &[]), "ArrayBuffer is detached");
    // a port transferred once cannot be transferred again
    let (_p, port) = TestPort::new(4);
    let pv = Value::from(port);
    let mut realm = TestRealm::default();
    structured_clone_with_ports(&pv, std::slice::from_ref(&pv), &mut realm).unwrap();
    assert_data_clone(
        structured_clone_with_ports(&pv, std::slice::from_ref(&pv), &mut realm),
        "MessagePort is detached",
    );
}

/// XFER-CHECK-BEFORE-SERIALIZE and XFER-DETACHED-AFTER-SERIALIZE: a bad transfer
/// list wins over an unserializable value; an unserializable value wins over a
/// detached buffer. (No getters in this model: the order is observed through which
/// error is reported.)
#[test]
fn xfer_check_order() {
    let func = Value::from(Object::from_pairs([(
        "f",
        Value::from(Object::new_function("f")),
    )]));
    let detached = Object::new_array_buffer(vec![1]);
    detached.detach().unwrap();
    let ab = Object::new_array_buffer(vec![1]);
    // XFER-CHECK-BEFORE-SERIALIZE: non-transferable entry beats the function
    assert_data_clone(
        structured_clone(&func, &[Value::from(Object::new_plain())]),
        "not transferable",
    );
    // duplicate beats the function
    assert_data_clone(
        structured_clone(&func, &[Value::from(ab.clone()), Value::from(ab.clone())]),
        "duplicate",
    );
    // XFER-DETACHED-AFTER-SERIALIZE: the function beats the detached buffer
    assert_data_clone(
        structured_clone(&func, &[Value::from(detached.clone())]),
        "function f",
    );
    // with a serializable value, the detached buffer is reported
    assert_data_clone(
        structured_clone(&Value::from(1), &[Value::from(detached.clone())]),
        "ArrayBuffer is detached and cannot be transferred",
    );
    // and a detached buffer found *inside* the value while it is in the transfer
    // list is only checked after serialization
    assert_data_clone(
        structured_clone(&Value::from(detached.clone()), &[Value::from(detached)]),
        "cannot be transferred",
    );
    assert!(!ab.is_detached());
}

/// "A failing call detaches nothing": every check for every entry runs before any
/// entry is detached, including when the failure is the last entry's.
#[test]
fn xfer_failing_call_detaches_nothing() {
    let a = Object::new_array_buffer(vec![1; 10]);
    let b = Object::new_array_buffer(vec![2; 10]);
    let (p, port) = TestPort::new(9);
    let (dead, dead_port) = TestPort::new(10);
    dead.detached.set(true);
    let mut realm = TestRealm::default();
    let transfer = [
        Value::from(a.clone()),
        Value::from(port.clone()),
        Value::from(b.clone()),
        Value::from(dead_port),
    ];
    assert_data_clone(
        structured_clone_with_ports(&Value::from(port.clone()), &transfer, &mut realm),
        "MessagePort is detached",
    );
    assert!(!a.is_detached() && !b.is_detached() && !p.is_detached());
    assert_eq!(p.transfers.get(), 0, "transfer steps never ran");
    assert_eq!(a.byte_length(), Some(10));
    // unserializable value: nothing detached either
    let bad = Value::from(Object::new_array(vec![
        Value::from(port),
        Value::from(Object::new_function("g")),
    ]));
    assert_data_clone(
        structured_clone_with_ports(&bad, &transfer[..3], &mut realm),
        "function g",
    );
    assert!(!a.is_detached() && !b.is_detached() && !p.is_detached());
    // structured_clone without a PortReceiver refuses ports up front
    let (q, qport) = TestPort::new(11);
    assert_data_clone(
        structured_clone(&Value::Null, &[Value::from(qport)]),
        "structured_clone_with_ports",
    );
    assert!(!q.is_detached());
}

/// XFER-STRUCTUREDCLONE-PORT
#[test]
fn xfer_structuredclone_port() {
    let (p2, port2) = TestPort::new(2);
    let v = Value::from(port2.clone());
    let mut realm = TestRealm::default();
    let c = structured_clone_with_ports(&v, std::slice::from_ref(&v), &mut realm).unwrap();
    let cp = obj(&c);
    assert_eq!(cp.class_name(), "MessagePort");
    assert!(!Object::ptr_eq(cp, &port2), "a new port object");
    assert_eq!(port_id(cp), 2, "entangled with the same peer");
    assert!(p2.is_detached() && port2.is_detached());
    assert_eq!(realm.received, vec![2]);
    // ports inside a value, referenced twice, resolve to one new port; order kept
    let (_a, pa) = TestPort::new(20);
    let (_b, pb) = TestPort::new(21);
    let v = Value::from(Object::from_pairs([
        ("x", Value::from(pb.clone())),
        ("y", Value::from(pa.clone())),
        ("z", Value::from(pb.clone())),
    ]));
    let s = structured_serialize_with_transfer(&v, &[Value::from(pa), Value::from(pb)]).unwrap();
    assert_eq!(s.transfer.port_count(), 2);
    let (c, t) = structured_deserialize_with_transfer(s, &mut realm).unwrap();
    assert_eq!(
        t.ports.iter().map(port_id).collect::<Vec<_>>(),
        vec![20, 21],
        "transfer-list order"
    );
    let co = obj(&c);
    assert!(Object::ptr_eq(
        obj(&co.get("x").unwrap()),
        obj(&co.get("z").unwrap())
    ));
    assert!(Object::ptr_eq(obj(&co.get("y").unwrap()), &t.ports[0]));
}

/// serialize_transfer_only: the same checks, and unreferenced transferables still move.
#[test]
fn xfer_transfer_only_for_serde_payloads() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Msg {
        seq: u32,
    }
    let rec = to_record(&Msg { seq: 1 }).unwrap();
    let ab = Object::new_array_buffer(vec![5; 3]);
    let (p, port) = TestPort::new(30);
    assert_data_clone(
        serialize_transfer_only(
            rec.clone(),
            &[Value::from(ab.clone()), Value::from(ab.clone())],
        ),
        "duplicate",
    );
    assert!(!ab.is_detached());
    let s = serialize_transfer_only(rec, &[Value::from(ab.clone()), Value::from(port)]).unwrap();
    assert!(ab.is_detached() && p.is_detached());
    let mut realm = TestRealm::default();
    let t = receive_transfer(s.transfer, &mut realm).unwrap();
    assert_eq!(t.ports.len(), 1);
    assert_eq!(t.array_buffers[0].byte_length(), Some(3));
    assert_eq!(from_record::<Msg>(&s.record).unwrap(), Msg { seq: 1 });
    assert!(TransferData::empty().is_empty());
}

/// A record is Send + Sync + Clone; the transfer data is Send.
#[test]
fn record_types_are_send() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync_clone::<SerializedRecord>();
    send::<TransferData>();
    send::<webmessaging_core::clone::SerializedWithTransfer>();
    // BroadcastChannel: one record, several deserializations on another thread
    let v = Value::from(Object::from_pairs([("a", Value::from(1))]));
    let rec = structured_serialize(&v).unwrap();
    let r2 = rec.clone();
    std::thread::spawn(move || {
        let x = structured_deserialize(&r2).unwrap();
        assert_eq!(obj(&x).get("a").unwrap().as_number(), Some(1.0));
    })
    .join()
    .unwrap();
}

/// Decoding garbage gives DataCloneError, never a panic.
#[test]
fn garbage_records_are_data_clone_errors() {
    for bytes in [
        vec![],
        vec![99],
        vec![1],
        vec![1, 200],
        vec![1, 9, 0],                            // back-reference to nothing
        vec![1, 7, 0xff, 0xff, 0xff, 0xff, 0x0f], // huge length
        vec![
            1, 11, 30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ], // bad varint
        vec![1, 0, 0],                            // trailing byte
        vec![1, 20, 0],                           // transferred buffer without transfer
        vec![1, 23, 0, 7, 0],                     // blob without side table
    ] {
        let rec = SerializedRecord::from_bytes(bytes.clone());
        assert!(
            matches!(structured_deserialize(&rec), Err(Error::DataClone(_))),
            "{bytes:?}"
        );
        assert!(matches!(
            from_record::<Vec<String>>(&rec),
            Err(Error::DataClone(_))
        ));
    }
    // deep nesting in untrusted input
    let mut bytes = vec![1];
    bytes.extend(std::iter::repeat_n(11u8, 100_000));
    let rec = SerializedRecord::from_bytes(bytes);
    assert_data_clone(structured_deserialize(&rec), "nested deeper");
    assert!(from_record::<Vec<Vec<u8>>>(&rec).is_err());
}

// ---------------------------------------------------------------------------
// serde bridge
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Pair(i8, String),
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Order {
    id: u64,
    kind: String,
    ok: bool,
    ratio: f64,
    tags: Vec<String>,
    matrix: Vec<Vec<i32>>,
    shape: Shape,
    maybe: Option<i16>,
    none: Option<String>,
    by_id: HashMap<u32, String>,
    by_name: BTreeMap<String, f32>,
    big: u64,
    neg: i64,
    tuple: (u8, char, ()),
    #[serde(with = "serde_bytes_like")]
    blob: Vec<u8>,
}

/// Serialize a Vec<u8> as bytes (as serde_bytes would).
mod serde_bytes_like {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(V)
    }
}

fn sample_order() -> Order {
    Order {
        id: 123456789,
        kind: "order.updated".into(),
        ok: true,
        ratio: 1.0 / 3.0,
        tags: vec!["a".into(), "b".into()],
        matrix: vec![vec![1, 2, 3], vec![], vec![-7]],
        shape: Shape::Rect { w: 3, h: 4 },
        maybe: Some(-5),
        none: None,
        by_id: [(1, "one".to_string()), (2, "two".to_string())]
            .into_iter()
            .collect(),
        by_name: [("x".to_string(), 1.5f32)].into_iter().collect(),
        big: u64::MAX,
        neg: i64::MIN,
        tuple: (255, 'ß', ()),
        blob: vec![0, 1, 255],
    }
}

#[test]
fn serde_round_trips() {
    let o = sample_order();
    let rec = to_record(&o).unwrap();
    assert_eq!(from_record::<Order>(&rec).unwrap(), o);
    for s in [
        Shape::Empty,
        Shape::Circle(-0.5),
        Shape::Rect { w: 1, h: 2 },
        Shape::Pair(-1, "p".into()),
    ] {
        assert_eq!(from_record::<Shape>(&to_record(&s).unwrap()).unwrap(), s);
    }
    let nested: Vec<Vec<Option<String>>> = vec![vec![Some("a".into()), None], vec![]];
    assert_eq!(
        from_record::<Vec<Vec<Option<String>>>>(&to_record(&nested).unwrap()).unwrap(),
        nested
    );
    // via Value
    let v = to_value(&o).unwrap();
    assert_eq!(from_value::<Order>(&v).unwrap(), o);
}

#[test]
fn serde_mapping_matches_value_model() {
    let v = to_value(&sample_order()).unwrap();
    let o = obj(&v);
    assert_eq!(o.class_name(), "Object");
    assert_eq!(
        o.keys().iter().map(|k| k.to_string()).collect::<Vec<_>>()[..4],
        ["id", "kind", "ok", "ratio"],
        "field order kept"
    );
    assert_eq!(o.get("id").unwrap().as_number(), Some(123456789.0));
    assert_eq!(obj(&o.get("tags").unwrap()).class_name(), "Array");
    assert_eq!(
        obj(&o.get("by_id").unwrap()).class_name(),
        "Map",
        "non-string keys make a Map"
    );
    assert_eq!(obj(&o.get("by_name").unwrap()).class_name(), "Object");
    assert_eq!(
        o.get("big").unwrap().as_bigint(),
        Some(&BigInt::from(u64::MAX))
    );
    assert!(o.get("none").unwrap().is_null());
    assert_eq!(obj(&o.get("blob").unwrap()).class_name(), "ArrayBuffer");
    let shape = o.get("shape").unwrap();
    assert!(
        obj(&obj(&shape).get("Rect").unwrap()).get("w").is_some(),
        "externally tagged"
    );
    assert_eq!(to_value(&Shape::Empty).unwrap().as_str(), Some("Empty"));
    // the record from to_record is the same format structured_serialize writes
    let small = Object::from_pairs([("seq", Value::from(1)), ("text", Value::from("hello"))]);
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Small {
        seq: u32,
        text: String,
    }
    let a = structured_serialize(&Value::from(small)).unwrap();
    let b = to_record(&Small {
        seq: 1,
        text: "hello".into(),
    })
    .unwrap();
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn serde_reads_js_values_sensibly() {
    // integers from Numbers and BigInts in range; undefined as None
    let v = Value::from(Object::from_pairs([
        ("a", Value::Number(3.0)),
        ("b", Value::BigInt(BigInt::from(7))),
        ("c", Value::Undefined),
        ("d", Value::from(Object::new_date(1.5))),
        (
            "e",
            Value::from(
                Object::new_typed_array(
                    ViewKind::Uint8,
                    &Object::new_array_buffer(vec![1, 2, 3]),
                    1,
                    None,
                )
                .unwrap(),
            ),
        ),
    ]));
    #[derive(Deserialize, Debug)]
    struct R {
        a: u8,
        b: i64,
        c: Option<u8>,
        d: f64,
        #[serde(with = "serde_bytes_like")]
        e: Vec<u8>,
    }
    let r: R = from_value(&v).unwrap();
    assert_eq!((r.a, r.b, r.c, r.d, r.e), (3, 7, None, 1.5, vec![2, 3]));
    // Vec<u8> (a seq) reads from an ArrayBuffer as well
    let bytes: Vec<u8> = from_value(&Value::from(Object::new_array_buffer(vec![9, 8]))).unwrap();
    assert_eq!(bytes, vec![9, 8]);
    // shared objects (back-references) are read again
    let shared = Object::new_array(vec![Value::from("s")]);
    let v = Value::from(Object::new_array(vec![
        Value::from(shared.clone()),
        Value::from(shared),
    ]));
    let r: Vec<Vec<String>> = from_value(&v).unwrap();
    assert_eq!(r, vec![vec!["s".to_string()], vec!["s".to_string()]]);
}

#[test]
fn serde_mismatch_and_cycles_are_data_clone_errors() {
    let rec = to_record(&sample_order()).unwrap();
    match from_record::<Vec<String>>(&rec) {
        Err(Error::DataClone(m)) => assert!(m.starts_with("cannot deserialize"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_data_clone(
        from_record::<u8>(&to_record(&300u32).unwrap()),
        "out of range",
    );
    assert_data_clone(from_record::<u32>(&to_record(&1.5f64).unwrap()), "integer");
    assert_data_clone(
        from_record::<String>(&to_record(&1).unwrap()),
        "cannot deserialize",
    );
    // a cycle
    let a = Object::new_array(vec![]);
    a.push(Value::from(a.clone()));
    #[derive(Deserialize, Debug)]
    struct Rec(#[allow(dead_code)] Vec<Rec>);
    assert_data_clone(from_value::<Rec>(&Value::from(a)), "cyclic");
}

// ---------------------------------------------------------------------------
// property tests
// ---------------------------------------------------------------------------

fn arb_primitive() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Number),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            9007199254740993.0,
            -1.0
        ])
        .prop_map(Value::Number),
        any::<i32>().prop_map(Value::from),
        any::<i64>().prop_map(|i| Value::BigInt(BigInt::from(i) * BigInt::from(i))),
        ".{0,12}".prop_map(Value::from),
        prop::collection::vec(any::<u16>(), 0..6)
            .prop_map(|u| Value::String(JsString::from_utf16(&u))),
    ]
}

#[derive(Debug, Clone)]
enum NodeKind {
    Plain,
    Array,
    Map,
    Set,
    Date(f64),
    Buffer(Vec<u8>),
    View(usize),
    Error(Option<String>),
}

fn arb_node() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        4 => Just(NodeKind::Plain),
        3 => Just(NodeKind::Array),
        1 => Just(NodeKind::Map),
        1 => Just(NodeKind::Set),
        1 => any::<f64>().prop_map(NodeKind::Date),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(NodeKind::Buffer),
        1 => any::<usize>().prop_map(NodeKind::View),
        1 => prop::option::of("[a-z]{0,4}").prop_map(NodeKind::Error),
    ]
}

#[derive(Debug, Clone)]
enum Target {
    Node(usize),
    Prim(Value),
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        2 => any::<usize>().prop_map(Target::Node),
        1 => arb_primitive().prop_map(Target::Prim),
    ]
}

/// Builds a graph of objects from nodes and edges (by index), so that shared
/// references and cycles are common.
fn build_graph(nodes: &[NodeKind], edges: &[(usize, String, Target, Target)]) -> Value {
    let buffers: Vec<Object> = nodes
        .iter()
        .filter_map(|n| match n {
            NodeKind::Buffer(b) => Some(Object::new_array_buffer(b.clone())),
            _ => None,
        })
        .collect();
    let mut bi = 0;
    let objs: Vec<Object> = nodes
        .iter()
        .map(|n| match n {
            NodeKind::Plain => Object::new_plain(),
            NodeKind::Array => Object::new_array(vec![]),
            NodeKind::Map => Object::new_map([]),
            NodeKind::Set => Object::new_set([]),
            NodeKind::Date(t) => Object::new_date(*t),
            NodeKind::Buffer(_) => {
                bi += 1;
                buffers[bi - 1].clone()
            }
            NodeKind::View(i) => {
                let buf = if buffers.is_empty() {
                    Object::new_array_buffer(vec![1, 2, 3, 4])
                } else {
                    buffers[i % buffers.len()].clone()
                };
                let len = buf.byte_length().unwrap();
                Object::new_typed_array(ViewKind::Uint8, &buf, 0, Some(len)).unwrap()
            }
            NodeKind::Error(m) => Object::new_error(ErrorKind::TypeError, m.as_deref()),
        })
        .collect();
    let resolve = |t: &Target| match t {
        Target::Node(i) => Value::from(objs[i % objs.len()].clone()),
        Target::Prim(p) => p.clone(),
    };
    for (from, key, a, b) in edges {
        let o = &objs[from % objs.len()];
        let kind = o.class_name();
        match kind {
            "Object" => o.set(key, resolve(a)),
            "Array" => {
                if key.len() % 3 == 0 {
                    o.set(key, resolve(a)) // an extra property
                } else if key.len() % 3 == 1 {
                    o.push(resolve(a))
                } else {
                    o.set(&(key.len() * 2).to_string(), resolve(a)) // holes
                }
            }
            "Map" => o.map_set(resolve(a), resolve(b)),
            "Set" => o.set_add(resolve(a)),
            _ => {}
        }
    }
    Value::from(objs[0].clone())
}

fn arb_graph() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(arb_node(), 1..10),
        prop::collection::vec(
            (any::<usize>(), "[a-e]{0,3}", arb_target(), arb_target()),
            0..30,
        ),
    )
        .prop_map(|(nodes, edges)| build_graph(&nodes, &edges))
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Small {
    seq: u32,
    text: String,
    list: Vec<i64>,
    opt: Option<bool>,
    shape: Option<Shape>,
    map: BTreeMap<String, u16>,
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Shape::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        (any::<i8>(), ".*").prop_map(|(a, b)| Shape::Pair(a, b)),
    ]
}

fn arb_small() -> impl Strategy<Value = Small> {
    (
        any::<u32>(),
        ".*",
        prop::collection::vec(any::<i64>(), 0..5),
        any::<Option<bool>>(),
        prop::option::of(arb_shape()),
        prop::collection::btree_map("[a-z]{0,5}", any::<u16>(), 0..5),
    )
        .prop_map(|(seq, text, list, opt, shape, map)| Small {
            seq,
            text,
            list,
            opt,
            shape,
            map,
        })
}

fn decode_all_ways(bytes: Vec<u8>) {
    let rec = SerializedRecord::from_bytes(bytes);
    let _ = structured_deserialize(&rec);
    let _ = from_record::<Vec<String>>(&rec);
    let _ = from_record::<Small>(&rec);
    let _ = from_record::<Shape>(&rec);
    let _ = from_record::<HashMap<String, Vec<Option<f64>>>>(&rec);
    let t = Transferred {
        array_buffers: vec![Object::new_array_buffer(vec![1, 2])],
        ports: vec![],
    };
    let _ = deserialize_record(&rec, &t);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
    )})]

    /// Decoding arbitrary bytes never panics.
    #[test]
    fn prop_random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..200), v1 in any::<bool>()) {
        if v1 && !bytes.is_empty() {
            bytes[0] = 1; // the right version byte, so decoding goes further
        }
        decode_all_ways(bytes);
    }

    /// Mutated valid records (flipped, truncated, spliced bytes) never panic.
    #[test]
    fn prop_mutated_records_never_panic(
        g in arb_graph(),
        s in arb_small(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        for rec in [structured_serialize(&g).unwrap(), to_record(&s).unwrap()] {
            let mut b = rec.as_bytes().to_vec();
            for (i, x) in &flips {
                let n = b.len();
                b[i % n] ^= x | 1;
            }
            decode_all_ways(b.clone());
            b.truncate(cut % (b.len() + 1));
            decode_all_ways(b);
        }
    }

    /// Random graphs with shared references and cycles clone to isomorphic graphs.
    #[test]
    fn prop_graphs_clone_isomorphic(g in arb_graph()) {
        let rec = structured_serialize(&g).unwrap();
        let c = structured_deserialize(&rec).unwrap();
        prop_assert!(graph_isomorphic(&g, &c), "{:?}\n=> {:?}", g, c);
        prop_assert!(!Object::ptr_eq(obj(&g), obj(&c)));
        // the same-realm structured_clone (a direct copy) gives the same graph
        let d = structured_clone(&g, &[]).unwrap();
        prop_assert!(graph_isomorphic(&g, &d));
        prop_assert!(graph_isomorphic(&c, &d));
        // cloning the clone again keeps the same graph
        let again = structured_deserialize(&structured_serialize(&c).unwrap()).unwrap();
        prop_assert!(graph_isomorphic(&g, &again));
    }

    /// Random serde structs round trip, and their records decode to Values that
    /// read back to the same struct.
    #[test]
    fn prop_serde_round_trip(s in arb_small()) {
        let rec = to_record(&s).unwrap();
        prop_assert_eq!(&from_record::<Small>(&rec).unwrap(), &s);
        let v = structured_deserialize(&rec).unwrap();
        prop_assert_eq!(&from_value::<Small>(&v).unwrap(), &s);
    }
}

//! The ~1 KB nested object of `../shared/bench-peers/node/structuredclone.js`
//! (`makeNested()`), shared by the core's clone bench and the runtime's comparison.

use webmessaging_core::value::{Object, Value};

/// The object `makeNested()` of structuredclone.js builds.
pub fn make_nested() -> Value {
    let s = |x: &str| Value::from(x);
    let user = Object::from_pairs([
        ("name", s("Ada Lovelace")),
        ("email", s("ada@example.org")),
        (
            "roles",
            Value::from(Object::new_array(vec![
                s("admin"),
                s("editor"),
                s("viewer"),
            ])),
        ),
        (
            "address",
            Value::from(Object::from_pairs([
                ("street", s("12 Analytical Engine Rd")),
                ("city", s("London")),
                ("zip", s("NW1 6XE")),
            ])),
        ),
    ]);
    let items = (0..8)
        .map(|i| {
            Value::from(Object::from_pairs([
                ("sku", Value::from(format!("SKU-{}", 1000 + i))),
                ("qty", Value::from(i + 1)),
                ("price", Value::from(9.99 * (i + 1) as f64)),
                ("tags", Value::from(Object::new_array(vec![s("a"), s("b")]))),
            ]))
        })
        .collect();
    let row =
        |a: i32, b: i32, c: i32| Value::from(Object::new_array(vec![a.into(), b.into(), c.into()]));
    let meta = Object::new_map([
        (s("trace"), s("abcdef0123456789")),
        (s("retries"), Value::from(3)),
        (s("region"), s("eu-west")),
        (
            s("flags"),
            Value::from(Object::new_array(vec![
                true.into(),
                false.into(),
                true.into(),
            ])),
        ),
    ]);
    Value::from(Object::from_pairs([
        ("id", Value::from(123456789)),
        ("kind", s("order.updated")),
        ("ok", Value::from(true)),
        ("ratio", Value::from(0.3333333333333333)),
        // Date.UTC(2024, 0, 2, 3, 4, 5)
        (
            "created",
            Value::from(Object::new_date(1_704_164_645_000.0)),
        ),
        ("user", Value::from(user)),
        ("items", Value::from(Object::new_array(items))),
        (
            "matrix",
            Value::from(Object::new_array(vec![
                row(1, 2, 3),
                row(4, 5, 6),
                row(7, 8, 9),
            ])),
        ),
        ("meta", Value::from(meta)),
        ("note", Value::from("x".repeat(120))),
    ]))
}

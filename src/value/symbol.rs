//! JavaScript symbols: unique, and not serializable (StructuredSerializeInternal
//! step 3 throws a `DataCloneError` for them).

use std::fmt;
use std::rc::Rc;

use super::JsString;

/// A JavaScript symbol: unique, with an optional description. Identity is by
/// object: two symbols with one description are different symbols.
///
/// Symbols cannot be serialized: cloning one fails with `DataCloneError`.
#[derive(Clone)]
pub struct Symbol(Rc<Option<JsString>>);

impl Symbol {
    /// A new unique symbol.
    pub fn new(description: Option<&str>) -> Symbol {
        Symbol(Rc::new(description.map(JsString::from)))
    }

    /// The description given at creation.
    pub fn description(&self) -> Option<&JsString> {
        self.0.as_ref().as_ref()
    }

    /// True when both are the same symbol.
    pub fn ptr_eq(a: &Symbol, b: &Symbol) -> bool {
        Rc::ptr_eq(&a.0, &b.0)
    }

    pub(super) fn addr(&self) -> usize {
        Rc::as_ptr(&self.0) as *const u8 as usize
    }
}

impl PartialEq for Symbol {
    fn eq(&self, other: &Symbol) -> bool {
        Symbol::ptr_eq(self, other)
    }
}

impl Eq for Symbol {}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(d) => write!(f, "Symbol({d})"),
            None => f.write_str("Symbol()"),
        }
    }
}

//! Origins: the security boundary every web messaging check is made against.
//!
//! An [origin](https://html.spec.whatwg.org/multipage/browsers.html#concept-origin) is
//! either a *tuple origin* (scheme, host, port) or an *opaque origin*, an internal value
//! that is only equal to itself. A URL's origin is given by the URL Standard
//! (<https://url.spec.whatwg.org/#concept-url-origin>); two origins are compared with
//! [same origin](https://html.spec.whatwg.org/multipage/browsers.html#same-origin) and
//! shown to scripts (as `MessageEvent.origin`) through their
//! [ASCII serialization](https://html.spec.whatwg.org/multipage/browsers.html#ascii-serialisation-of-an-origin).
//!
//! [`Origin`] is a handle to shared, immutable data: cloning it bumps a reference count,
//! and its serialization is computed once, when it is made. Tuple origins are interned in
//! a process-wide table, so two tuple origins that are the same origin usually share one
//! allocation and compare by pointer; when they do not (the table is only an
//! optimisation), they compare by their cached serialization, without allocating.
//!
//! Note: this crate has no `document.domain`, so "same origin-domain" is not modelled;
//! web messaging only needs "same origin".

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{Error, Result};

/// An [origin](https://html.spec.whatwg.org/multipage/browsers.html#concept-origin):
/// a tuple origin (scheme, host, port) or an opaque origin.
///
/// Cheap to clone (one reference count) and to compare (pointer equality first, then the
/// cached serialization for tuples). `==` is the standard's
/// [same origin](https://html.spec.whatwg.org/multipage/browsers.html#same-origin):
/// an opaque origin equals only itself (and its clones); a tuple origin equals any tuple
/// origin with the same scheme, host and port.
///
/// ```
/// use webmessaging_core::origin::Origin;
/// use webmessaging_core::ExceptionName;
///
/// // A URL's origin: scheme and host lower-cased, the default port dropped, no path.
/// let app = Origin::parse_url("HTTPS://App.Example:443/cart?item=1").unwrap();
/// assert_eq!(app.serialize(), "https://app.example");
/// assert_eq!((app.scheme(), app.host(), app.port()), (Some("https"), Some("app.example"), None));
///
/// // Same origin: same scheme, host and port; the path does not count.
/// let other_page: Origin = "https://app.example/checkout".parse().unwrap();
/// assert!(app.same_origin(&other_page));
/// assert_ne!(app, Origin::parse_url("https://app.example:8443/").unwrap());
/// assert_ne!(app, Origin::parse_url("http://app.example/").unwrap());
///
/// // A data: URL gets a new opaque origin: serialized "null", the same only as itself.
/// let opaque = Origin::parse_url("data:text/html,hi").unwrap();
/// assert!(opaque.is_opaque());
/// assert_eq!(opaque.to_string(), "null");
/// assert_eq!(opaque, opaque.clone());
/// assert_ne!(opaque, Origin::parse_url("data:text/html,hi").unwrap());
///
/// // Only absolute URLs parse.
/// let err = Origin::parse_url("app.example").unwrap_err();
/// assert_eq!(err.name(), ExceptionName::SyntaxError);
/// ```
#[derive(Clone)]
pub struct Origin(Arc<Inner>);

/// The shared, immutable data behind an [`Origin`].
struct Inner {
    repr: Repr,
}

enum Repr {
    /// A tuple origin. `scheme` and `host` are slices of `serialization`, kept as offsets
    /// so the whole origin costs one string allocation.
    Tuple {
        /// `scheme://host[:port]`, the ASCII serialization.
        serialization: Box<str>,
        /// `serialization[..scheme_end]` is the scheme.
        scheme_end: usize,
        /// `serialization[scheme_end + 3..host_end]` is the host.
        host_end: usize,
        /// The port, `None` when it is the scheme's default port.
        port: Option<u16>,
    },
    /// An opaque origin with its process-unique id.
    Opaque {
        /// Unique per opaque origin ever made in this process.
        id: u64,
    },
}

/// The ASCII serialization of every opaque origin.
const NULL: &str = "null";

/// The source of opaque origin ids.
static NEXT_OPAQUE_ID: AtomicU64 = AtomicU64::new(1);

/// The table of live tuple origins, by serialization.
struct Interner {
    map: HashMap<Box<str>, Weak<Inner>>,
    /// When the map reaches this size, dead entries are swept (amortised O(1)).
    sweep_at: usize,
}

const MIN_SWEEP_AT: usize = 64;

fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        Mutex::new(Interner {
            map: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
        })
    })
}

impl Origin {
    /// The origin of a URL, per the URL Standard
    /// (<https://url.spec.whatwg.org/#concept-url-origin>).
    ///
    /// - `http`, `https`, `ws`, `wss`, `ftp`: the tuple (scheme, host, port).
    /// - `blob`: the origin of the URL in its path, if that parses as an `http` or
    ///   `https` URL; otherwise a new opaque origin.
    /// - anything else (`data:`, `about:`, `javascript:`, `file:`, ...): a *new* opaque
    ///   origin on every call.
    ///
    /// Note: blob URL entries are not modelled, so a `blob:` URL's origin is always taken
    /// from its path.
    pub fn from_url(url: &url::Url) -> Origin {
        match url.scheme() {
            // "blob": (no blob URL entries here) parse the URL's path; if that is an
            // http(s) URL, return its origin, otherwise a new opaque origin. (The standard
            // also lists "file", whose origin is a new opaque origin anyway.)
            "blob" => match url::Url::parse(url.path()) {
                Ok(inner) if matches!(inner.scheme(), "http" | "https") => Origin::from_url(&inner),
                _ => Origin::new_opaque(),
            },
            // "ftp", "http", "https", "ws", "wss": the tuple (scheme, host, port).
            "ftp" | "http" | "https" | "ws" | "wss" => match url.host_str() {
                Some(host) => Origin::tuple(url.scheme(), host, url.port()),
                None => {
                    // The URL parser never yields a host-less URL for these schemes.
                    log::warn!(target: "webmessaging_core::origin", "URL {url} has no host; using an opaque origin");
                    Origin::new_opaque()
                }
            },
            // "file" and everything else: a new opaque origin.
            _ => Origin::new_opaque(),
        }
    }

    /// Parses `s` as an absolute URL (no base URL) and returns its origin
    /// ([`Origin::from_url`]).
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] (a `SyntaxError`) when `s` is not a valid absolute URL.
    pub fn parse_url(s: &str) -> Result<Origin> {
        url::Url::parse(s)
            .map(|url| Origin::from_url(&url))
            .map_err(|e| Error::Syntax(format!("{s:?} is not a valid absolute URL: {e}")))
    }

    /// A new opaque origin, distinct from every other origin ever made.
    pub fn new_opaque() -> Origin {
        let id = NEXT_OPAQUE_ID.fetch_add(1, Ordering::Relaxed);
        Origin(Arc::new(Inner {
            repr: Repr::Opaque { id },
        }))
    }

    /// Makes (or finds in the intern table) the tuple origin of an already serialized
    /// scheme and host (as the URL parser leaves them) and non-default port.
    fn tuple(scheme: &str, host: &str, port: Option<u16>) -> Origin {
        let mut serialization = String::with_capacity(scheme.len() + 3 + host.len() + 6);
        serialization.push_str(scheme);
        serialization.push_str("://");
        serialization.push_str(host);
        let host_end = serialization.len();
        if let Some(port) = port {
            use fmt::Write as _;
            let _ = write!(serialization, ":{port}");
        }

        // A poisoned table is still a valid table: entries are only ever inserted whole.
        let mut table = interner().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = table
            .map
            .get(serialization.as_str())
            .and_then(Weak::upgrade)
        {
            return Origin(live);
        }
        let inner = Arc::new(Inner {
            repr: Repr::Tuple {
                serialization: serialization.as_str().into(),
                scheme_end: scheme.len(),
                host_end,
                port,
            },
        });
        if table.map.len() >= table.sweep_at {
            table.map.retain(|_, weak| weak.strong_count() > 0);
            table.sweep_at = (table.map.len() * 2).max(MIN_SWEEP_AT);
        }
        table
            .map
            .insert(serialization.into_boxed_str(), Arc::downgrade(&inner));
        Origin(inner)
    }

    /// Whether this is an opaque origin.
    pub fn is_opaque(&self) -> bool {
        matches!(self.0.repr, Repr::Opaque { .. })
    }

    /// Whether this is a tuple origin (scheme, host, port).
    pub fn is_tuple(&self) -> bool {
        matches!(self.0.repr, Repr::Tuple { .. })
    }

    /// The scheme of a tuple origin (lower-case, for example `"https"`); `None` if opaque.
    pub fn scheme(&self) -> Option<&str> {
        match &self.0.repr {
            Repr::Tuple {
                serialization,
                scheme_end,
                ..
            } => Some(&serialization[..*scheme_end]),
            Repr::Opaque { .. } => None,
        }
    }

    /// The serialized host of a tuple origin: lower-case, punycode for internationalized
    /// domain names, IPv6 addresses in brackets. `None` if opaque.
    pub fn host(&self) -> Option<&str> {
        match &self.0.repr {
            Repr::Tuple {
                serialization,
                scheme_end,
                host_end,
                ..
            } => Some(&serialization[scheme_end + 3..*host_end]),
            Repr::Opaque { .. } => None,
        }
    }

    /// The port of a tuple origin, or `None` when it is the scheme's default port (or the
    /// origin is opaque).
    pub fn port(&self) -> Option<u16> {
        match &self.0.repr {
            Repr::Tuple { port, .. } => *port,
            Repr::Opaque { .. } => None,
        }
    }

    /// The [ASCII serialization](https://html.spec.whatwg.org/multipage/browsers.html#ascii-serialisation-of-an-origin):
    /// `scheme://host[:port]` (default port omitted, no trailing slash) for a tuple
    /// origin, `"null"` for an opaque one. Computed once; this only borrows it.
    pub fn serialize(&self) -> &str {
        match &self.0.repr {
            Repr::Tuple { serialization, .. } => serialization,
            Repr::Opaque { .. } => NULL,
        }
    }

    /// [Same origin](https://html.spec.whatwg.org/multipage/browsers.html#same-origin):
    /// an opaque origin is only the same as itself (or a clone of it); tuple origins are
    /// the same when scheme, host and port are. Never allocates.
    pub fn same_origin(&self, other: &Origin) -> bool {
        // Fast path: the same allocation (clones, interned tuples).
        if Arc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        match (&self.0.repr, &other.0.repr) {
            // Step 1: if A and B are the same opaque origin, true (the pointer check above:
            // an opaque origin is one allocation, shared only by its clones).
            // Step 2: tuples are the same when scheme, host and port are; the serialization
            // encodes exactly those three, so it is compared instead.
            (
                Repr::Tuple {
                    serialization: a, ..
                },
                Repr::Tuple {
                    serialization: b, ..
                },
            ) => a == b,
            // Step 3: otherwise, false.
            _ => false,
        }
    }
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.same_origin(other)
    }
}

impl Eq for Origin {}

impl Hash for Origin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0.repr {
            Repr::Tuple { serialization, .. } => {
                state.write_u8(0);
                serialization.hash(state);
            }
            Repr::Opaque { id } => {
                state.write_u8(1);
                id.hash(state);
            }
        }
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.repr {
            Repr::Tuple { serialization, .. } => write!(f, "Origin({serialization:?})"),
            Repr::Opaque { id } => write!(f, "Origin(opaque #{id})"),
        }
    }
}

impl fmt::Display for Origin {
    /// The ASCII serialization ([`Origin::serialize`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.serialize())
    }
}

impl FromStr for Origin {
    type Err = Error;

    /// Same as [`Origin::parse_url`].
    fn from_str(s: &str) -> Result<Origin> {
        Origin::parse_url(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_parts_are_slices_of_the_serialization() {
        let o = Origin::parse_url("HTTPS://Sub.Example.COM:8443/path?q#f").unwrap();
        assert!(o.is_tuple() && !o.is_opaque());
        assert_eq!(o.scheme(), Some("https"));
        assert_eq!(o.host(), Some("sub.example.com"));
        assert_eq!(o.port(), Some(8443));
        assert_eq!(o.serialize(), "https://sub.example.com:8443");
        assert_eq!(o.to_string(), o.serialize());
        assert_eq!(format!("{o:?}"), "Origin(\"https://sub.example.com:8443\")");
    }

    #[test]
    fn origin_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Origin>();
    }

    #[test]
    fn default_port_is_none() {
        let o = Origin::parse_url("http://a.example:80/").unwrap();
        assert_eq!(o.port(), None);
        assert_eq!(o.serialize(), "http://a.example");
    }

    #[test]
    fn opaque_has_no_parts() {
        let o = Origin::new_opaque();
        assert!(o.is_opaque() && !o.is_tuple());
        assert_eq!((o.scheme(), o.host(), o.port()), (None, None, None));
        assert_eq!(o.serialize(), "null");
        assert!(format!("{o:?}").starts_with("Origin(opaque #"));
    }

    #[test]
    fn tuples_are_interned_while_alive() {
        let a = Origin::parse_url("https://interned.example/a").unwrap();
        let b = Origin::parse_url("https://interned.example/b?c").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
    }

    #[test]
    fn distinct_allocations_of_one_tuple_still_compare_equal() {
        // Bypass the table to check the slow path.
        let mk = || {
            Origin(Arc::new(Inner {
                repr: Repr::Tuple {
                    serialization: "http://x.example".into(),
                    scheme_end: 4,
                    host_end: 16,
                    port: None,
                },
            }))
        };
        let (a, b) = (mk(), mk());
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert_eq!(a.host(), Some("x.example"));
    }

    #[test]
    fn dead_entries_are_swept() {
        for i in 0..1000 {
            let _ = Origin::parse_url(&format!("http://sweep{i}.example")).unwrap();
        }
        let table = interner().lock().unwrap_or_else(|e| e.into_inner());
        // Other tests run in parallel and keep a few origins alive; the 1000 dead ones
        // above must not all still be there.
        assert!(table.map.len() < 1000, "{}", table.map.len());
    }

    #[test]
    fn blob_with_non_http_inner_is_opaque() {
        assert!(Origin::parse_url("blob:ftp://a.example/x")
            .unwrap()
            .is_opaque());
        assert!(Origin::parse_url("blob:not a url").unwrap().is_opaque());
        assert!(Origin::parse_url("blob:blob:https://a.example/x")
            .unwrap()
            .is_opaque());
    }
}

//! Origins and `targetOrigin`: serialization, same-origin, parsing and the delivery check.
//!
//! Conformance rows covered (from `conformance.md`), named in each test:
//! PM-SYNTAX-UNPARSABLE, PM-SYNTAX-RELATIVE, PM-ORIGIN-ONLY-COMPARE, EV-ORIGIN-SERIALIZED,
//! PM-EXACT-ORIGIN, PM-MISMATCH-DISCARD (origin comparison), PM-SLASH-SAME and
//! PM-SLASH-XORIGIN-SILENT (resolution). The runtime tests cover their delivery parts.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use webmessaging_core::origin::Origin;
use webmessaging_core::target_origin::{ResolvedTargetOrigin, TargetOrigin};
use webmessaging_core::{Error, ExceptionName};

fn origin(s: &str) -> Origin {
    Origin::parse_url(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn target(s: &str) -> TargetOrigin {
    TargetOrigin::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn hash_of(o: &Origin) -> u64 {
    let mut h = DefaultHasher::new();
    o.hash(&mut h);
    h.finish()
}

// ---------------------------------------------------------------------------------------
// Serialization (EV-ORIGIN-SERIALIZED)
// ---------------------------------------------------------------------------------------

/// EV-ORIGIN-SERIALIZED: `scheme://host[:port]`, no trailing slash, default port omitted.
#[test]
fn ev_origin_serialized_scheme_host_port() {
    let cases = [
        ("http://a.example/", "http://a.example"),
        ("http://a.example", "http://a.example"),
        ("https://a.example:443/x", "https://a.example"),
        ("http://a.example:80/x", "http://a.example"),
        ("ws://a.example:80/", "ws://a.example"),
        ("wss://a.example:443/", "wss://a.example"),
        ("ftp://a.example:21/", "ftp://a.example"),
        ("http://a.example:443/", "http://a.example:443"),
        ("https://a.example:80/", "https://a.example:80"),
        ("http://a.example:8080/", "http://a.example:8080"),
        (
            "https://a.example:8443/p/q?x=1#frag",
            "https://a.example:8443",
        ),
        ("http://user:pass@a.example:81/p", "http://a.example:81"),
    ];
    for (url, serialized) in cases {
        let o = origin(url);
        assert_eq!(o.serialize(), serialized, "{url}");
        assert_eq!(o.to_string(), serialized, "{url}");
        assert!(!o.serialize().ends_with('/'), "{url}");
    }
}

/// EV-ORIGIN-SERIALIZED: upper-case scheme and host are lowered.
#[test]
fn ev_origin_serialized_lowercases() {
    let o = origin("HTTPS://WWW.Example.COM:8443/Path");
    assert_eq!(o.serialize(), "https://www.example.com:8443");
    assert_eq!(o.scheme(), Some("https"));
    assert_eq!(o.host(), Some("www.example.com"));
    assert_eq!(o.port(), Some(8443));
}

/// EV-ORIGIN-SERIALIZED: internationalized hosts serialize as punycode (ASCII
/// serialization).
#[test]
fn ev_origin_serialized_idn_punycode() {
    let o = origin("http://bücher.example/");
    assert_eq!(o.serialize(), "http://xn--bcher-kva.example");
    assert_eq!(o.host(), Some("xn--bcher-kva.example"));
    assert_eq!(o, origin("http://xn--bcher-kva.example"));
    assert_eq!(o, origin("http://BÜCHER.example"));
}

/// EV-ORIGIN-SERIALIZED: IP hosts (IPv6 in brackets, compressed; IPv4 normalised).
#[test]
fn ev_origin_serialized_ip_hosts() {
    let v6 = origin("http://[2001:DB8:0:0:0:0:0:1]:8080/");
    assert_eq!(v6.serialize(), "http://[2001:db8::1]:8080");
    assert_eq!(v6.host(), Some("[2001:db8::1]"));
    assert_eq!(v6.port(), Some(8080));
    assert_eq!(origin("https://[::1]/").serialize(), "https://[::1]");
    let v4 = origin("http://127.0.0.1:80/");
    assert_eq!(v4.serialize(), "http://127.0.0.1");
    // The URL parser normalises other IPv4 spellings.
    assert_eq!(origin("http://0x7f.1/"), v4);
}

/// EV-ORIGIN-SERIALIZED: an opaque origin serializes as "null".
#[test]
fn ev_origin_serialized_opaque_is_null() {
    for url in [
        "data:text/html,hi",
        "about:blank",
        "javascript:void(0)",
        "file:///tmp/x.html",
        "blob:null/1234",
        "custom-scheme://a.example/",
    ] {
        let o = origin(url);
        assert!(o.is_opaque(), "{url}");
        assert_eq!(o.serialize(), "null", "{url}");
        assert_eq!(
            (o.scheme(), o.host(), o.port()),
            (None, None, None),
            "{url}"
        );
    }
    assert_eq!(Origin::new_opaque().to_string(), "null");
}

#[test]
fn debug_format() {
    assert_eq!(
        format!("{:?}", origin("https://a.example/x")),
        "Origin(\"https://a.example\")"
    );
    let d = format!("{:?}", Origin::new_opaque());
    assert!(d.starts_with("Origin(opaque #") && d.ends_with(')'), "{d}");
}

// ---------------------------------------------------------------------------------------
// Same origin
// ---------------------------------------------------------------------------------------

#[test]
fn opaque_origins_are_only_same_origin_with_themselves() {
    let a = Origin::new_opaque();
    let b = Origin::new_opaque();
    assert_ne!(a, b);
    assert!(!a.same_origin(&b));
    let a2 = a.clone();
    assert_eq!(a, a2);
    assert!(a.same_origin(&a2));
    assert_eq!(hash_of(&a), hash_of(&a2));
    // Both serialize as "null", yet they are different origins.
    assert_eq!(a.serialize(), b.serialize());
}

#[test]
fn data_urls_give_a_new_opaque_origin_each_time() {
    let a = origin("data:,x");
    let b = origin("data:,x");
    assert!(a.is_opaque() && b.is_opaque());
    assert_ne!(a, b);
    let url = url::Url::parse("about:blank").unwrap();
    assert_ne!(Origin::from_url(&url), Origin::from_url(&url));
}

#[test]
fn blob_url_takes_the_origin_of_its_inner_url() {
    let o = origin("blob:https://a.example/0b0c4f2e-7d3c-4a6e-9a3f-1d1c2b3a4f5e");
    assert!(o.is_tuple());
    assert_eq!(o.serialize(), "https://a.example");
    assert_eq!(o, origin("https://a.example/"));
    let with_port = origin("blob:http://a.example:8000/uuid");
    assert_eq!(with_port.serialize(), "http://a.example:8000");
    assert!(origin("blob:data:,x").is_opaque());
}

/// PM-ORIGIN-ONLY-COMPARE: different URLs of one origin are the same origin and hash alike.
#[test]
fn pm_origin_only_compare_same_origin_different_urls() {
    let base = origin("https://a.example");
    let variants = [
        "https://a.example/",
        "https://a.example//",
        "https://a.example/dir/page.html?query=1#frag",
        "https://a.example:443/other",
        "HTTPS://A.EXAMPLE/",
        "https://user@a.example/",
    ];
    let mut set = HashSet::new();
    set.insert(base.clone());
    for url in variants {
        let o = origin(url);
        assert_eq!(o, base, "{url}");
        assert_eq!(hash_of(&o), hash_of(&base), "{url}");
        assert!(!set.insert(o), "{url}");
    }
    assert_eq!(set.len(), 1);
}

/// Scheme, host and port each distinguish origins (PM-MISMATCH-DISCARD: unrelated domain
/// and sibling subdomain).
#[test]
fn pm_mismatch_discard_scheme_host_port_differences() {
    let base = origin("http://www.example.test:8000");
    let different = [
        "https://www.example.test:8000",    // scheme
        "http://example.test:8000",         // parent domain
        "http://www1.example.test:8000",    // sibling subdomain
        "http://www.not-example.test:8000", // unrelated domain
        "http://www.example.test:8001",     // port
        "http://www.example.test",          // default port 80
        "ws://www.example.test:8000",       // scheme, same host and port
    ];
    let mut set = HashSet::new();
    set.insert(base.clone());
    for url in different {
        let o = origin(url);
        assert_ne!(o, base, "{url}");
        assert!(!o.same_origin(&base), "{url}");
        assert!(set.insert(o), "{url}");
    }
    assert_ne!(origin("http://a.example"), Origin::new_opaque());
}

#[test]
fn from_str_is_parse_url() {
    let o: Origin = "https://a.example/x".parse().unwrap();
    assert_eq!(o, origin("https://a.example"));
    let err = "not a url".parse::<Origin>().unwrap_err();
    assert_eq!(err.name(), ExceptionName::SyntaxError);
}

// ---------------------------------------------------------------------------------------
// TargetOrigin parsing
// ---------------------------------------------------------------------------------------

fn assert_syntax_error(s: &str) {
    let err: Error = TargetOrigin::parse(s).expect_err(s);
    assert_eq!(err.name(), ExceptionName::SyntaxError, "{s:?}");
    assert!(matches!(err, Error::Syntax(_)), "{s:?}");
    assert!(
        err.message().contains("not a valid target origin"),
        "{s:?}: {err}"
    );
    // The other entry points agree.
    assert_eq!(s.parse::<TargetOrigin>().unwrap_err(), err);
    assert_eq!(TargetOrigin::try_from(s).unwrap_err(), err);
}

/// PM-SYNTAX-UNPARSABLE: a targetOrigin that fails URL parsing is a SyntaxError.
#[test]
fn pm_syntax_unparsable() {
    for s in [
        "http://foo bar",
        "http://",
        "https://exa mple.com/",
        "http://[::1/",
        "http://a.example:99999/",
        "http://a.example:port/",
        "http://%/",
        "",
        " ",
    ] {
        assert_syntax_error(s);
    }
}

/// PM-SYNTAX-RELATIVE: a targetOrigin that is not an absolute URL is a SyntaxError; it is
/// never resolved against a base URL.
#[test]
fn pm_syntax_relative() {
    for s in [
        "example.org",
        "InvalidOrigin",
        "//example.org",
        "/path",
        "./",
        "?q",
        "#f",
        "**",
        " *x",
        "//",
    ] {
        assert_syntax_error(s);
    }
}

#[test]
fn keywords_parse() {
    assert_eq!(target("*"), TargetOrigin::Wildcard);
    assert_eq!(target("/"), TargetOrigin::Caller);
    assert_eq!(TargetOrigin::default(), TargetOrigin::Caller);
    assert_eq!(target("*").to_string(), "*");
    assert_eq!(target("/").to_string(), "/");
}

/// PM-ORIGIN-ONLY-COMPARE: only the parsed URL's origin is kept.
#[test]
fn pm_origin_only_compare_target_keeps_only_origin() {
    let expected = TargetOrigin::Origin(origin("http://example.com"));
    for s in [
        "HTTP://Example.COM:80/a?b",
        "http://example.com/",
        "http://example.com//",
        "http://example.com/page.html?x=1#y",
    ] {
        assert_eq!(target(s), expected, "{s}");
        assert_eq!(target(s).to_string(), "http://example.com", "{s}");
    }
    assert_eq!(TargetOrigin::from(origin("http://example.com")), expected);
}

/// A URL with an opaque origin parses (no SyntaxError) but admits nothing.
#[test]
fn opaque_target_origin_parses_but_never_matches() {
    let t = target("data:,");
    let TargetOrigin::Origin(o) = &t else {
        panic!("expected an origin, got {t:?}")
    };
    assert!(o.is_opaque());
    let resolved = t.resolve(&origin("https://a.example"));
    assert!(!resolved.admits(&origin("https://a.example")));
    assert!(!resolved.admits(&Origin::new_opaque()));
    assert!(!resolved.admits(&origin("data:,")));
}

// ---------------------------------------------------------------------------------------
// Resolution and the delivery check
// ---------------------------------------------------------------------------------------

/// PM-EXACT-ORIGIN: a targetOrigin equal to the target document's serialized origin
/// admits it.
#[test]
fn pm_exact_origin_admits() {
    let caller = origin("http://caller.example");
    for doc in [
        "http://www.example.test:8000/doc.html",
        "https://a.example/",
        "http://[::1]:8080/",
    ] {
        let doc_origin = origin(doc);
        let t = target(doc_origin.serialize());
        assert!(t.resolve(&caller).admits(&doc_origin), "{doc}");
    }
}

/// PM-MISMATCH-DISCARD (origin comparison): of four posts — exact origin, unrelated
/// domain, sibling subdomain, "*" — only #0 and #3 are admitted.
#[test]
fn pm_mismatch_discard_only_exact_and_wildcard_admit() {
    let caller = origin("http://www.web-platform.test:8000");
    for doc in [
        "http://www.web-platform.test:8000/iframe.html", // same-origin target
        "http://www1.web-platform.test:8000/iframe.html", // cross-origin target
    ] {
        let doc_origin = origin(doc);
        let sibling = if doc.contains("www1") {
            "http://www2.web-platform.test:8000"
        } else {
            "http://www1.web-platform.test:8000"
        };
        let posts = [
            doc_origin.serialize().to_owned(),
            "http://unrelated.example:8000".to_owned(),
            sibling.to_owned(),
            "*".to_owned(),
        ];
        let admitted: Vec<usize> = posts
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                // No call throws.
                target(s).resolve(&caller).admits(&doc_origin)
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(admitted, [0, 3], "{doc}");
    }
}

/// PM-SLASH-SAME: "/" resolves to the caller's origin and admits a same-origin target.
#[test]
fn pm_slash_same() {
    let caller = origin("http://www.web-platform.test:8000/caller.html");
    let resolved = target("/").resolve(&caller);
    assert_eq!(resolved, ResolvedTargetOrigin::Origin(caller.clone()));
    assert_eq!(resolved.to_string(), "http://www.web-platform.test:8000");
    assert!(resolved.admits(&origin("http://www.web-platform.test:8000/other.html")));
    // The options-dictionary default is "/" too.
    assert!(TargetOrigin::default()
        .resolve(&caller)
        .admits(&origin("http://www.web-platform.test:8000/")));
}

/// PM-SLASH-XORIGIN-SILENT (resolution): "/" toward a cross-origin target parses (no
/// throw) but does not admit it; a following "*" does.
#[test]
fn pm_slash_xorigin_silent() {
    let caller = origin("http://www.web-platform.test:8000");
    let cross = origin("http://www1.web-platform.test:8000");
    let slash = TargetOrigin::parse("/").expect("\"/\" never throws");
    assert!(!slash.resolve(&caller).admits(&cross));
    assert!(target("*").resolve(&caller).admits(&cross));
    // An opaque caller's "/" admits only that same opaque origin.
    let opaque = Origin::new_opaque();
    let r = slash.resolve(&opaque);
    assert!(r.admits(&opaque) && !r.admits(&Origin::new_opaque()));
}

#[test]
fn wildcard_admits_everything() {
    let r = TargetOrigin::Wildcard.resolve(&Origin::new_opaque());
    assert_eq!(r, ResolvedTargetOrigin::Wildcard);
    for o in [origin("https://a.example"), Origin::new_opaque()] {
        assert!(r.admits(&o));
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn tuple_url() -> impl Strategy<Value = (String, String, Option<u16>)> {
    (
        prop_oneof![Just("http"), Just("https")],
        proptest::collection::vec("[a-z][a-z0-9]{0,10}", 1..4),
        proptest::option::of(1u16..=u16::MAX),
    )
        .prop_map(|(scheme, labels, port)| (scheme.to_owned(), labels.join("."), port))
}

proptest! {
    /// TargetOrigin::parse never panics; it either succeeds or raises a SyntaxError.
    #[test]
    fn target_origin_parse_never_panics(s in any::<String>()) {
        if let Err(e) = TargetOrigin::parse(&s) {
            prop_assert_eq!(e.name(), ExceptionName::SyntaxError);
        }
    }

    /// Same, on strings that look more like URLs.
    #[test]
    fn target_origin_parse_never_panics_urlish(s in "[a-zA-Z]{0,6}:?/{0,3}[a-zA-Z0-9.:%@\\[\\] /?#*-]{0,30}") {
        if let Err(e) = TargetOrigin::parse(&s) {
            prop_assert_eq!(e.name(), ExceptionName::SyntaxError);
        }
    }

    /// A tuple origin's serialization parses back to the same origin (and the parts
    /// match what went in).
    #[test]
    fn serialization_round_trips((scheme, host, port) in tuple_url(), path in "(/[a-z0-9]{0,5}){0,3}") {
        let url = match port {
            Some(p) => format!("{scheme}://{host}:{p}{path}"),
            None => format!("{scheme}://{host}{path}"),
        };
        // All-numeric last labels would be IPv4 parsing; the strategy starts labels
        // with a letter, so this always is a domain.
        let o = Origin::parse_url(&url).unwrap();
        let again = Origin::parse_url(o.serialize()).unwrap();
        prop_assert_eq!(&again, &o);
        prop_assert_eq!(again.serialize(), o.serialize());
        prop_assert_eq!(hash_of(&again), hash_of(&o));
        prop_assert_eq!(o.scheme(), Some(scheme.as_str()));
        prop_assert_eq!(o.host(), Some(host.as_str()));
        let default = if scheme == "http" { 80 } else { 443 };
        prop_assert_eq!(o.port(), port.filter(|&p| p != default));
        let t = TargetOrigin::parse(o.serialize()).unwrap();
        prop_assert!(t.resolve(&Origin::new_opaque()).admits(&o));
    }
}

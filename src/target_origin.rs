//! The `targetOrigin` argument of `Window.postMessage`.
//!
//! `postMessage(message, targetOrigin)` (or `postMessage(message, { targetOrigin })`,
//! default `"/"`) names which origin the target window's document must have for the
//! message to be delivered. The string is checked when the call is made
//! ([`TargetOrigin::parse`]: a bad one throws a `SyntaxError` synchronously), resolved
//! against the caller's origin ([`TargetOrigin::resolve`]), and compared with the
//! target's *current* document origin when the message is delivered
//! ([`ResolvedTargetOrigin::admits`]).
//!
//! See the window post message steps:
//! <https://html.spec.whatwg.org/multipage/web-messaging.html#dom-window-postmessage-options>.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::origin::Origin;

/// The `targetOrigin` argument of `Window.postMessage`, as parsed at the call.
///
/// ```
/// use webmessaging_core::origin::Origin;
/// use webmessaging_core::target_origin::TargetOrigin;
/// use webmessaging_core::ExceptionName;
///
/// let app = Origin::parse_url("https://app.example/").unwrap();
/// let widget = Origin::parse_url("https://widget.example/").unwrap();
///
/// // "*": any target document.
/// let any = TargetOrigin::parse("*").unwrap();
/// assert_eq!(any, TargetOrigin::Wildcard);
/// assert!(any.resolve(&app).admits(&widget));
///
/// // "/": the caller's own origin, substituted by `resolve`.
/// let own = TargetOrigin::parse("/").unwrap();
/// assert_eq!(own, TargetOrigin::Caller);
/// assert!(own.resolve(&app).admits(&app));
/// assert!(!own.resolve(&app).admits(&widget));
///
/// // A URL: only its origin counts (path, query and fragment are ignored).
/// let url = TargetOrigin::parse("https://widget.example/embed?v=2#top").unwrap();
/// assert_eq!(url.to_string(), "https://widget.example");
/// assert!(url.resolve(&app).admits(&widget));
/// assert!(!url.resolve(&app).admits(&app));
///
/// // Anything else throws a SyntaxError, synchronously, at the postMessage call.
/// let err = TargetOrigin::parse("widget.example").unwrap_err();
/// assert_eq!(err.name(), ExceptionName::SyntaxError);
/// assert_eq!(err.name().as_str(), "SyntaxError");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TargetOrigin {
    /// `"*"`: deliver whatever the target document's origin is.
    Wildcard,
    /// `"/"`: the caller's (incumbent settings object's) origin. This is the default of
    /// the options dictionary.
    Caller,
    /// Any other string: the origin of the absolute URL it parsed as. Only the origin
    /// counts; the path, query and fragment are ignored. An opaque origin here (from a
    /// URL such as `data:,`) never matches any document.
    Origin(Origin),
}

impl TargetOrigin {
    /// Parses a `targetOrigin` string, as the window post message steps do.
    ///
    /// See <https://html.spec.whatwg.org/multipage/web-messaging.html#dom-window-postmessage-options>.
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] (a `SyntaxError`) when the string is neither `"/"`, `"*"` nor an
    /// absolute URL: it is never resolved against a base URL, so `"example.org"` fails.
    pub fn parse(s: &str) -> Result<TargetOrigin> {
        // Step 4: if targetOrigin is a single "/", it means the incumbent settings
        // object's origin (substituted by `resolve`, which knows the caller).
        if s == "/" {
            return Ok(TargetOrigin::Caller);
        }
        // Step 5: otherwise, if targetOrigin is not a single "*":
        if s == "*" {
            return Ok(TargetOrigin::Wildcard);
        }
        // Note: a script posts to the same few target origins again and again, and the
        // URL parser is most of a post's cost (about 3,500 of 6,300 instructions per
        // window message, benches/README.md "Profile"), so the last few strings that
        // parsed to a tuple origin are remembered per thread. The result is the same
        // as parsing: a tuple origin is equal to any other parse of the same string.
        // Opaque results (a new opaque origin per parse) are never remembered.
        if let Some(origin) = recent::lookup(s) {
            return Ok(TargetOrigin::Origin(origin));
        }
        // Step 5.1: let parsedURL be the result of running the URL parser on targetOrigin
        // (no base URL, so only absolute URLs parse).
        match url::Url::parse(s) {
            // Step 5.3: set targetOrigin to parsedURL's origin.
            Ok(url) => {
                let origin = Origin::from_url(&url);
                if !origin.is_opaque() {
                    recent::remember(s, &origin);
                }
                Ok(TargetOrigin::Origin(origin))
            }
            // Step 5.2: if parsedURL is failure, throw a "SyntaxError" DOMException.
            Err(e) => Err(Error::Syntax(format!(
                "{s:?} is not a valid target origin: expected \"*\", \"/\" or an absolute URL ({e})"
            ))),
        }
    }

    /// Resolves `"/"` to the caller's origin (step 4), leaving the others as they are.
    pub fn resolve(&self, caller: &Origin) -> ResolvedTargetOrigin {
        match self {
            TargetOrigin::Wildcard => ResolvedTargetOrigin::Wildcard,
            TargetOrigin::Caller => ResolvedTargetOrigin::Origin(caller.clone()),
            TargetOrigin::Origin(origin) => ResolvedTargetOrigin::Origin(origin.clone()),
        }
    }
}

/// The target origin strings a thread parsed last, with their (tuple) origins.
mod recent {
    use std::cell::RefCell;

    use crate::origin::Origin;

    /// How many strings are remembered per thread.
    const SLOTS: usize = 8;

    /// Remembered (string, origin) pairs and the slot the next new one replaces.
    type Recent = (Vec<(Box<str>, Origin)>, usize);

    thread_local! {
        static RECENT: RefCell<Recent> = const { RefCell::new((Vec::new(), 0)) };
    }

    /// The origin `s` parsed to, if it is one of the last [`SLOTS`] remembered.
    pub(super) fn lookup(s: &str) -> Option<Origin> {
        RECENT.with(|r| {
            let r = r.borrow();
            r.0.iter().find(|(k, _)| &**k == s).map(|(_, o)| o.clone())
        })
    }

    /// Remembers that `s` parsed to the tuple origin `origin`.
    pub(super) fn remember(s: &str, origin: &Origin) {
        RECENT.with(|r| {
            let mut r = r.borrow_mut();
            let (entries, next) = &mut *r;
            let entry = (Box::from(s), origin.clone());
            if entries.len() < SLOTS {
                entries.push(entry);
            } else {
                entries[*next] = entry;
                *next = (*next + 1) % SLOTS;
            }
        });
    }
}

impl Default for TargetOrigin {
    /// `"/"`, the default of `WindowPostMessageOptions.targetOrigin`.
    fn default() -> Self {
        TargetOrigin::Caller
    }
}

impl FromStr for TargetOrigin {
    type Err = Error;

    /// Same as [`TargetOrigin::parse`].
    fn from_str(s: &str) -> Result<TargetOrigin> {
        TargetOrigin::parse(s)
    }
}

impl TryFrom<&str> for TargetOrigin {
    type Error = Error;

    /// Same as [`TargetOrigin::parse`].
    fn try_from(s: &str) -> Result<TargetOrigin> {
        TargetOrigin::parse(s)
    }
}

impl From<Origin> for TargetOrigin {
    /// A target origin naming exactly this origin.
    fn from(origin: Origin) -> Self {
        TargetOrigin::Origin(origin)
    }
}

impl fmt::Display for TargetOrigin {
    /// `*`, `/`, or the origin's serialization.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetOrigin::Wildcard => f.write_str("*"),
            TargetOrigin::Caller => f.write_str("/"),
            TargetOrigin::Origin(origin) => fmt::Display::fmt(origin, f),
        }
    }
}

/// A target origin with `"/"` replaced by the caller's origin: what travels with a posted
/// window message and is checked when it is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ResolvedTargetOrigin {
    /// `"*"`: any target document origin is admitted.
    Wildcard,
    /// Only a target document that is same origin with this one is admitted.
    Origin(Origin),
}

impl ResolvedTargetOrigin {
    /// The delivery-time check: whether a message may be shown to a document with
    /// `target_document_origin` (the target window's *current* document's origin).
    ///
    /// Step 8.1 of the window post message steps: if targetOrigin is not `"*"` and the
    /// target window's associated document's origin is not same origin with
    /// targetOrigin, the message is dropped.
    pub fn admits(&self, target_document_origin: &Origin) -> bool {
        match self {
            ResolvedTargetOrigin::Wildcard => true,
            ResolvedTargetOrigin::Origin(origin) => origin.same_origin(target_document_origin),
        }
    }
}

impl fmt::Display for ResolvedTargetOrigin {
    /// `*` or the origin's serialization.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolvedTargetOrigin::Wildcard => f.write_str("*"),
            ResolvedTargetOrigin::Origin(origin) => fmt::Display::fmt(origin, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExceptionName;

    #[test]
    fn keywords() {
        assert_eq!(TargetOrigin::parse("/").unwrap(), TargetOrigin::Caller);
        assert_eq!(TargetOrigin::parse("*").unwrap(), TargetOrigin::Wildcard);
        assert_eq!(TargetOrigin::default(), TargetOrigin::Caller);
    }

    #[test]
    fn only_single_characters_are_keywords() {
        // " *", "**" and "//" are not keywords, and do not parse as absolute URLs.
        for s in [" *", "**", "//", "/ ", "/a"] {
            let err = TargetOrigin::parse(s).unwrap_err();
            assert_eq!(err.name(), ExceptionName::SyntaxError, "{s:?}");
            assert!(err.message().contains("not a valid target origin"));
        }
    }

    #[test]
    fn url_keeps_only_origin() {
        let t = TargetOrigin::parse("HTTP://Example.COM:80/a?b").unwrap();
        assert_eq!(t.to_string(), "http://example.com");
        assert_eq!(
            t,
            TargetOrigin::from(Origin::parse_url("http://example.com").unwrap())
        );
    }

    #[test]
    fn resolve_and_admit() {
        let caller = Origin::parse_url("https://a.example").unwrap();
        let other = Origin::parse_url("https://b.example").unwrap();
        let r = TargetOrigin::Caller.resolve(&caller);
        assert_eq!(r, ResolvedTargetOrigin::Origin(caller.clone()));
        assert!(r.admits(&caller) && !r.admits(&other));
        assert!(TargetOrigin::Wildcard.resolve(&caller).admits(&other));
        assert_eq!(ResolvedTargetOrigin::Wildcard.to_string(), "*");
    }

    #[test]
    fn remembered_parses_match_fresh_ones() {
        // More distinct strings than the per-thread memory holds, each parsed twice: the
        // remembered answer is the parsed one, and a string that does not parse fails
        // every time.
        for round in 0..2 {
            for i in 0..20 {
                let s = format!("https://h{i}.example:8{i}/path?round={round}");
                let t = TargetOrigin::parse(&s).unwrap();
                assert_eq!(t.to_string(), format!("https://h{i}.example:8{i}"));
            }
            assert!(TargetOrigin::parse("h1.example").is_err());
        }
        // An opaque origin is new at every parse: it is never remembered.
        let a = TargetOrigin::parse("data:,x").unwrap();
        let b = TargetOrigin::parse("data:,x").unwrap();
        assert_ne!(a, b);
    }
}

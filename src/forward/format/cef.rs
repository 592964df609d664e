//! CEF (Common Event Format, version 0), escaped per its rules so that no recorded text can
//! add a header field, an extension key or a line.
//!
//! The rules, from the CEF specification:
//!
//! - **Header** fields (vendor, product, version, signature id, name, severity) are separated
//!   by `|`: a `|` inside one is written `\|`, a `\` is written `\\`. Line breaks are not
//!   allowed in the header.
//! - **Extension** values are `key=value` pairs separated by spaces: a `=` inside a value is
//!   written `\=`, a `\` is written `\\`, a line feed `\n` and a carriage return `\r` (two
//!   characters each). A `|` needs no escape there.
//!
//! And, as the crate does wherever recorded text reaches a reader, **every other control
//! character** (C0, DEL, C1, and the Unicode line and paragraph separators, which some
//! viewers break lines on) is replaced by U+FFFD `�`, in the header and in values, so a
//! recorded name can neither break the line nor hide text from the person reading it.

use std::fmt::Write as _;

use super::Product;
use crate::record::{Outcome, Record};

/// Whether `c` is a control character that CEF has no escape for.
fn is_other_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A CEF header field: `\` and `|` escaped, control characters (line breaks included)
/// replaced by U+FFFD.
///
/// ```
/// use audit_log::forward::escape_cef_header;
///
/// assert_eq!(escape_cef_header(r"a|b\c"), r"a\|b\\c");
/// assert_eq!(escape_cef_header("line\nbreak"), "line\u{FFFD}break");
/// ```
pub fn escape_cef_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c if is_other_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A CEF extension value: `\` and `=` escaped, line feed and carriage return written as
/// `\n` and `\r`, other control characters replaced by U+FFFD.
///
/// ```
/// use audit_log::forward::escape_cef_extension;
///
/// assert_eq!(escape_cef_extension("a=b c"), r"a\=b c");
/// assert_eq!(escape_cef_extension("x\ny act=evil"), r"x\ny act\=evil");
/// ```
pub fn escape_cef_extension(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_other_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// CEF severity (0 to 10): routine success 3, a failed change 5, a refused one 7.
fn severity(o: Outcome) -> u8 {
    match o {
        Outcome::Success => 3,
        Outcome::Failure => 5,
        Outcome::Denied => 7,
    }
}

/// The CEF line of a record (no trailing line break).
///
/// Extension keys: `rt` (time, ms since the epoch), `externalId` (record id), `act` (event
/// name), `outcome`, `suid`/`suser` (actor id and label), `src` or `c6a2` (client IP),
/// `requestClientApplication` (user agent), `reason`, `msg` (the one-line summary),
/// `duid`/`duser` (a target user), and labelled custom fields `cs1` tenant, `cn1` seq,
/// `cs2` hash, `cs3` target (`kind/id`), `cs4` related (`kind/id`), `cs5` prevHash, `cs6`
/// requestId.
pub(super) fn line(r: &Record, product: &Product) -> String {
    let mut s = String::with_capacity(512);
    let _ = write!(
        s,
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        escape_cef_header(&product.vendor),
        escape_cef_header(&product.name),
        escape_cef_header(&product.version),
        escape_cef_header(r.event.name()),
        escape_cef_header(&r.event.describe()),
        severity(r.outcome),
    );
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", r.occurred_at.timestamp_millis().to_string()),
        ("externalId", r.id.to_string()),
        ("act", r.event.name().to_owned()),
        ("outcome", r.outcome.as_str().to_owned()),
        ("suid", r.actor.id.clone()),
        ("suser", r.actor.label().to_owned()),
    ];
    match r.context.ip {
        Some(std::net::IpAddr::V4(ip)) => ext.push(("src", ip.to_string())),
        Some(std::net::IpAddr::V6(ip)) => {
            ext.push(("c6a2", ip.to_string()));
            ext.push(("c6a2Label", "Source IPv6 Address".to_owned()));
        }
        None => {}
    }
    if let Some(ua) = &r.context.user_agent {
        ext.push(("requestClientApplication", ua.clone()));
    }
    if let Some(v) = &r.context.reason {
        ext.push(("reason", v.clone()));
    }
    ext.push(("msg", r.summary()));
    if let Some(t) = r.event.target() {
        if t.kind.as_str() == "user" {
            ext.push(("duid", t.id.to_string()));
            ext.push(("duser", t.label().to_owned()));
        }
        ext.push(("cs3Label", "target".to_owned()));
        ext.push(("cs3", format!("{}/{}", t.kind, t.id)));
    }
    if let Some(rel) = r.event.related() {
        ext.push(("cs4Label", "related".to_owned()));
        ext.push(("cs4", format!("{}/{}", rel.kind, rel.id)));
    }
    ext.push(("cs1Label", "tenant".to_owned()));
    ext.push(("cs1", r.tenant.as_str().to_owned()));
    ext.push(("cn1Label", "seq".to_owned()));
    ext.push(("cn1", r.seq.to_string()));
    ext.push(("cs2Label", "hash".to_owned()));
    ext.push(("cs2", r.hash.to_hex()));
    ext.push(("cs5Label", "prevHash".to_owned()));
    ext.push(("cs5", r.prev_hash.to_hex()));
    if let Some(v) = &r.context.request_id {
        ext.push(("cs6Label", "requestId".to_owned()));
        ext.push(("cs6", v.clone()));
    }
    for (i, (k, v)) in ext.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&escape_cef_extension(v));
    }
    s
}

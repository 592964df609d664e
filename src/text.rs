//! The text rule: what the trail does with each piece of text it is given, and how stored
//! text is shown to a person.
//!
//! This page is the one statement of the rule; [`Limits`](crate::Limits), the
//! [event catalogue](crate::event) and `docs/events.md` link here.
//!
//! # Three kinds of text
//!
//! Every text field of an entry is one of these, and the kind decides what happens to it
//! when it is recorded:
//!
//! | kind | fields | when recorded |
//! | --- | --- | --- |
//! | **display text**: what a person typed or was called | every entity's display snapshot (`event.user.display`, `event.group.display`, `event.permission_group.display`, `event.permission_group.scope.*.display`, `event.target.display`, ...), `actor.display`, `context.reason`, `context.user_agent`, and a user's `login_name`, `full_name` and `email` when their value is a string (in `user.created` attributes and in both sides of a `user.edited` change) | **kept exactly as given**, whatever characters it holds (control characters, escape sequences, bidi overrides: they are JSON strings, and the canonical encoding is unchanged). **Never refused.** Longer than its limit, it is **cut and marked** (below) |
//! | **identifiers**: what the trail and its queries key on | entity ids, `actor.id`, `tenant`, `context.request_id`, `context.correlation_id`, attribute and field names, `audit.exported`'s `format` | **refused** with [`Error::InvalidInput`] naming the field when blank, longer than the limit, or holding a [control-like character](is_control_like) |
//! | **names**: the vocabulary | a custom event's `name`, a custom entity kind | **refused** (naming the field) unless lowercase ASCII letters, digits and `_` in dot-separated non-empty parts, at most 128 bytes; a custom name has at least two parts and no built-in family |
//!
//! Anything else a host gives is **host data**: JSON values of attributes, of field changes
//! and of custom payloads. It is kept exactly (nested at most
//! [`max_json_depth`](crate::Limits::max_json_depth) levels, within
//! [`max_record_bytes`](crate::Limits::max_record_bytes) for the whole record) and, like
//! display text, shown only neutralised.
//!
//! The limits, in bytes of UTF-8 ([`Limits`](crate::Limits), all configurable):
//! display snapshots, names of a user, and tenants 512; user agents 1 024; reasons 4 096;
//! identifiers 256; attribute and field names 128.
//!
//! # Cut and marked
//!
//! An audit trail must not lose the record of a real change because someone pasted a long
//! text into a name. Display text over its limit is cut at the last character boundary that
//! leaves room for a marker, and the marker is appended:
//!
//! ```text
//! <as much of the text as fits>…[cut from <original length in bytes> bytes]
//! ```
//!
//! so the kept text is a prefix of what was given, ends on a whole character, and the whole
//! value is at most the limit (only a limit shorter than the marker itself keeps the marker
//! alone). The record says it was cut *in the value itself*: every reader (CSV, JSON Lines,
//! a terminal, a spreadsheet, SQL) sees the marker with no format change, and the canonical
//! encoding and its hash are computed over the value as stored, exactly as for any other
//! string. [`Record::cut_fields`](crate::Record::cut_fields) and
//! [`Event::cut_fields`](crate::Event::cut_fields) list the fields that end with a marker,
//! with the original length; [`cut_from`] reads one value.
//!
//! The marker is text, so a person can type it: a value that ends with one is listed as cut
//! whether or not the trail cut it. Treat the listing as what the text says, not as proof.
//!
//! ```
//! use audit_log::{Actor, AuditLog, EntityRef, Event, MemorySink};
//!
//! let store = MemorySink::new();
//! let log = AuditLog::builder(store.clone()).build();
//! let pasted = "Ops ".repeat(200); // 800 bytes, over the 512-byte limit
//! log.record(&Actor::system(), Event::group_deleted(EntityRef::new(7, pasted.as_str())))?;
//!
//! let r = &store.records()[0];
//! let shown = r.event.target().and_then(|m| m.display).unwrap();
//! assert!(shown.ends_with("…[cut from 800 bytes]") && shown.len() <= 512);
//! assert!(pasted.starts_with(shown.strip_suffix("…[cut from 800 bytes]").unwrap()));
//! let cut = r.cut_fields();
//! assert_eq!((cut[0].field.as_str(), cut[0].original_bytes), ("event.group.display", 800));
//! # Ok::<(), audit_log::Error>(())
//! ```
//!
//! # Shown neutralised
//!
//! Stored text is kept as given, so whoever shows it to a person makes it harmless first:
//!
//! - **terminals** (and log lines): [`for_terminal`] makes every control-like character
//!   visible and inert, so an escape sequence in a user name cannot recolour, retitle, clear
//!   or rewrite the operator's screen, and a bidi override cannot reorder what they read;
//! - **HTML pages**: the same [`for_terminal`] first, then the template's HTML escaping
//!   (escaping stops markup, not bidi overrides);
//! - **CSV**: the [formula rule](crate::CsvExport#safe-to-open-in-a-spreadsheet), with
//!   RFC 4180 quoting for line breaks.
//!
//! ```
//! use audit_log::text::for_terminal;
//!
//! assert_eq!(for_terminal("Ops\u{1b}[2J"), r"Ops\u001b[2J");
//! assert_eq!(for_terminal("alice\u{202e}nimda"), r"alice\u202enimda");
//! assert_eq!(for_terminal("line 1\nline 2"), r"line 1\nline 2");
//! assert_eq!(for_terminal("Zoë 中文 😀"), "Zoë 中文 😀");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::event::{user_fields, Carried, Event, FieldValue, UserChange};
use crate::record::Record;

/// Whether `c` is a character a terminal or a page would act on, or hide, instead of showing
/// it as itself:
///
/// - every Unicode control character (general category Cc): C0 `U+0000`–`U+001F` (NUL, BEL,
///   BS, TAB, LF, CR, ESC, ...), DEL `U+007F`, C1 `U+0080`–`U+009F` (including CSI `U+009B`
///   and OSC `U+009D`, which start terminal sequences on their own);
/// - the bidirectional formatting characters, which reorder the text around them: ALM
///   `U+061C`, LRM/RLM `U+200E`/`U+200F`, LRE/RLE/PDF/LRO/RLO `U+202A`–`U+202E`,
///   LRI/RLI/FSI/PDI `U+2066`–`U+2069`;
/// - the line and paragraph separators `U+2028` and `U+2029`, which break a line where a
///   reader does not expect one.
///
/// Identifiers may not hold them; [`for_terminal`] replaces them.
///
/// ```
/// use audit_log::text::is_control_like;
///
/// assert!(is_control_like('\u{1b}') && is_control_like('\u{202e}') && is_control_like('\n'));
/// assert!(!is_control_like('a') && !is_control_like('é') && !is_control_like('\u{200d}'));
/// ```
pub fn is_control_like(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` made safe to show in a terminal, a log line or (before HTML escaping) a page: every
/// [control-like character](is_control_like) is replaced by a visible escape, everything
/// else is unchanged (borrowed when there is nothing to replace).
///
/// The escapes are JSON's: `\n`, `\r`, `\t`, and `\uXXXX` (four lowercase hex digits) for
/// the others, so `ESC` shows as `\u001b` and RLO as `\u202e`. The output holds no
/// control-like character, so no escape sequence can start in it (ESC, CSI and OSC are
/// replaced) and no bidi override can reorder it; and JSON text stays valid JSON with the
/// same meaning. Printable text, a backslash included, is left as it is: the output is for
/// reading, not for parsing back (use the record's JSON for that).
///
/// ```
/// use audit_log::text::for_terminal;
///
/// // A name that would set the terminal's title and hide what follows:
/// let name = "bob\u{1b}]0;owned\u{7}\u{1b}[8m";
/// assert_eq!(for_terminal(name), r"bob\u001b]0;owned\u0007\u001b[8m");
/// // C1 controls (here CSI) and DEL:
/// assert_eq!(for_terminal("x\u{9b}31m\u{7f}"), r"x\u009b31m\u007f");
/// ```
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control_like) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Every control-like character is in the Basic Multilingual Plane.
            c if is_control_like(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The marker that ends a display text cut from `original_bytes` bytes:
/// `…[cut from <original_bytes> bytes]`.
///
/// ```
/// assert_eq!(audit_log::text::cut_marker(10_000), "…[cut from 10000 bytes]");
/// ```
pub fn cut_marker(original_bytes: usize) -> String {
    format!("{MARKER_START}{original_bytes}{MARKER_END}")
}

const MARKER_START: &str = "…[cut from ";
const MARKER_END: &str = " bytes]";

/// The original length in bytes, if `s` ends with a [cut marker](cut_marker).
///
/// ```
/// use audit_log::text::cut_from;
///
/// assert_eq!(cut_from("Operations Operat…[cut from 800 bytes]"), Some(800));
/// assert_eq!(cut_from("Operations"), None);
/// assert_eq!(cut_from("…[cut from +8 bytes]"), None);
/// ```
pub fn cut_from(s: &str) -> Option<usize> {
    let rest = s.strip_suffix(MARKER_END)?;
    let start = rest.rfind(MARKER_START)?;
    let digits = &rest[start + MARKER_START.len()..];
    // Digits only: `usize::from_str` would also take a sign.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Holds a display text to its limit: unchanged when it fits, otherwise cut at a character
/// boundary and marked (see [the rule](self#cut-and-marked)). Whether it was cut.
pub(crate) fn cut_to_fit(text: &mut String, max_bytes: usize) -> bool {
    if text.len() <= max_bytes {
        return false;
    }
    let marker = cut_marker(text.len());
    let mut keep = max_bytes.saturating_sub(marker.len());
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(&marker);
    true
}

/// Checks an identifier against [the rule](self#three-kinds-of-text): not blank, at most
/// `max_bytes`, no control-like character. The error names `field`.
pub(crate) fn check_identifier(field: &str, s: &str, max_bytes: usize) -> Result<()> {
    if identifier_ok(s, max_bytes) {
        return Ok(());
    }
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if s.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("{} bytes is longer than the limit of {max_bytes}", s.len()),
        ));
    }
    let c = s.chars().find(|c| is_control_like(*c)).unwrap_or_default();
    Err(Error::invalid(
        field,
        format!(
            "contains U+{:04X}, a control or formatting character, which identifiers may not hold",
            u32::from(c)
        ),
    ))
}

/// Whether [`check_identifier`] passes, without building its error: this runs for every id
/// of every record.
pub(crate) fn identifier_ok(s: &str, max_bytes: usize) -> bool {
    if s.len() > max_bytes {
        return false;
    }
    if s.is_ascii() {
        // The usual id, in one pass over its bytes: ASCII's control-like characters are
        // its controls, and with none of them the only white space `trim` could leave
        // out is the space.
        let mut blank = true;
        for b in s.bytes() {
            if b < 0x20 || b == 0x7f {
                return false;
            }
            blank &= b == b' ';
        }
        return !blank;
    }
    !s.trim().is_empty() && !s.chars().any(is_control_like)
}

/// Whether a user's field of this name is display text (login name, full name, e-mail).
pub(crate) fn is_user_display_field(name: &str) -> bool {
    matches!(
        name,
        user_fields::LOGIN_NAME | user_fields::FULL_NAME | user_fields::EMAIL
    )
}

/// A display text field that ends with a [cut marker](cut_marker): what
/// [`Record::cut_fields`] lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CutField {
    /// The field's path, as in an [`Error::InvalidInput`]: `actor.display`,
    /// `context.reason`, `event.group.display`, `event.attributes.login_name`,
    /// `event.changes[0].new`, ...
    pub field: String,
    /// How long the text was before it was cut, in bytes (as the marker says).
    pub original_bytes: usize,
}

fn push_cut(out: &mut Vec<CutField>, field: impl FnOnce() -> String, text: Option<&str>) {
    if let Some(original_bytes) = text.and_then(cut_from) {
        out.push(CutField {
            field: field(),
            original_bytes,
        });
    }
}

fn string_value(v: Option<&FieldValue>) -> Option<&str> {
    match v {
        Some(FieldValue::Value(Value::String(s))) => Some(s),
        Some(FieldValue::Value(_) | FieldValue::Redacted { .. }) | None => None,
    }
}

impl Event {
    /// The display text fields of this event that end with a [cut marker](cut_marker), in
    /// mention order, then a user's named fields. See [the text rule](crate::text).
    pub fn cut_fields(&self) -> Vec<CutField> {
        let mut out = Vec::new();
        for m in self.mentions() {
            push_cut(&mut out, || format!("{}.display", m.path), m.display);
        }
        // No wildcard: a new kind of data must say whether it holds display text.
        match self.carried() {
            Carried::Attributes {
                of_user: true,
                attributes,
            } => {
                for (name, v) in attributes {
                    if is_user_display_field(name) {
                        let field = || format!("event.attributes.{name}");
                        push_cut(&mut out, field, string_value(Some(v)));
                    }
                }
            }
            Carried::UserChanges(changes) => {
                for (i, c) in changes.iter().enumerate() {
                    match c {
                        UserChange::Field(f) if is_user_display_field(&f.field) => {
                            let old = || format!("event.changes[{i}].old");
                            push_cut(&mut out, old, string_value(f.old.as_ref()));
                            let new = || format!("event.changes[{i}].new");
                            push_cut(&mut out, new, string_value(f.new.as_ref()));
                        }
                        UserChange::Field(_) | UserChange::PasswordChanged => {}
                    }
                }
            }
            Carried::Attributes { of_user: false, .. }
            | Carried::Nothing
            | Carried::Changes(_)
            | Carried::Custom(_)
            | Carried::Purge(_)
            | Carried::Export(_)
            | Carried::Unknown(_) => {}
        }
        out
    }
}

impl Record {
    /// The display text fields of this record that end with a [cut marker](cut_marker):
    /// `actor.display`, `context.reason`, `context.user_agent`, then those of
    /// [`Event::cut_fields`]. Empty for a record whose text was recorded whole.
    /// See [the text rule](crate::text#cut-and-marked).
    pub fn cut_fields(&self) -> Vec<CutField> {
        let mut out = Vec::new();
        push_cut(
            &mut out,
            || "actor.display".to_owned(),
            self.actor.display.as_deref(),
        );
        push_cut(
            &mut out,
            || "context.reason".to_owned(),
            self.context.reason.as_deref(),
        );
        push_cut(
            &mut out,
            || "context.user_agent".to_owned(),
            self.context.user_agent.as_deref(),
        );
        out.extend(self.event.cut_fields());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The ASCII pass decides as the rule it shortens: not blank after trimming, no
        /// control-like character, within the limit.
        #[test]
        fn the_ascii_identifier_check_is_the_rule(
            s in "[ -~\t\n\r\x0b\x0c\x00\x7f]{0,12}|[ ]{0,3}[a-z]{0,3}[ ]{0,3}|.{0,6}",
            max in 0usize..14,
        ) {
            let rule = s.len() <= max && !s.trim().is_empty() && !s.chars().any(is_control_like);
            proptest::prop_assert_eq!(identifier_ok(&s, max), rule, "{:?}", s);
        }
    }

    #[test]
    fn terminal_escapes_are_json_escapes() {
        assert_eq!(
            for_terminal("a\nb\rc\td\u{0}\u{1b}[1m\u{7f}\u{85}\u{9b}\u{9d}\u{61c}\u{200e}\u{200f}"),
            r"a\nb\rc\td\u0000\u001b[1m\u007f\u0085\u009b\u009d\u061c\u200e\u200f"
        );
        assert_eq!(
            for_terminal("\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}"),
            r"\u202a\u202e\u2066\u2069\u2028\u2029"
        );
        assert!(matches!(for_terminal("plain é 中 😀 \\"), Cow::Borrowed(_)));
        assert_eq!(cut_marker(7), "…[cut from 7 bytes]");
    }

    #[test]
    fn text_that_fits_is_not_cut() {
        let mut s = "é".repeat(256); // 512 bytes
        assert!(!cut_to_fit(&mut s, 512));
        assert_eq!(s, "é".repeat(256));
    }

    #[test]
    fn a_cut_keeps_whole_characters_and_the_limit() {
        for (text, max) in [
            ("é".repeat(300), 512),
            ("😀".repeat(200), 512),
            ("a".repeat(513), 512),
            ("中".repeat(2000), 4096),
        ] {
            let mut s = text.clone();
            assert!(cut_to_fit(&mut s, max));
            let marker = cut_marker(text.len());
            let kept = s.strip_suffix(marker.as_str()).unwrap();
            assert!(text.starts_with(kept));
            assert!(s.len() <= max, "{} > {max}", s.len());
            // As much as fits: the next character would not.
            let next = text[kept.len()..].chars().next().unwrap();
            assert!(s.len() + next.len_utf8() > max);
            assert_eq!(cut_from(&s), Some(text.len()));
        }
    }

    #[test]
    fn a_limit_shorter_than_the_marker_keeps_the_marker_alone() {
        let mut s = "abcdefgh".to_owned();
        assert!(cut_to_fit(&mut s, 4));
        assert_eq!(s, cut_marker(8));
    }

    #[test]
    fn identifiers_are_refused_with_the_reason() {
        let err = |s: &str| check_identifier("actor.id", s, 8).unwrap_err().to_string();
        assert_eq!(err(" "), "invalid actor.id: must not be empty");
        assert_eq!(
            err("123456789"),
            "invalid actor.id: 9 bytes is longer than the limit of 8"
        );
        assert_eq!(
            err("a\u{202e}b"),
            "invalid actor.id: contains U+202E, a control or formatting character, which identifiers may not hold"
        );
        assert!(check_identifier("actor.id", "12345678", 8).is_ok());
        // Exactly at the limit, the length is not what is wrong.
        assert!(err("1234567\u{0}").starts_with("invalid actor.id: contains U+0000"));
    }

    #[test]
    fn markers_read_back_only_when_well_formed() {
        assert_eq!(cut_from(&format!("x{}", cut_marker(0))), Some(0));
        for s in [
            "",
            "…[cut from  bytes]",
            "…[cut from 1x bytes]",
            "…[cut from -1 bytes]",
            "…[cut from +8 bytes]",
            "[cut from 12 bytes]",
            "…[cut from 12 bytes] ",
        ] {
            assert_eq!(cut_from(s), None, "{s}");
        }
        assert_eq!(cut_from("…[cut from 99999999999999999999999 bytes]"), None);
    }

    #[test]
    fn every_control_like_character_and_no_other() {
        let bidi = [
            0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
            0x2069,
        ];
        for u in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(u) else { continue };
            let expected = u < 0x20
                || (0x7F..=0x9F).contains(&u)
                || bidi.contains(&u)
                || u == 0x2028
                || u == 0x2029;
            assert_eq!(is_control_like(c), expected, "U+{u:04X}");
        }
    }
}

//! The redaction policy: which field values never reach the store.
//!
//! Applied by [`AuditLog`](crate::AuditLog) to every attribute, every field change and every
//! key of a custom payload before a record is encoded, so a redacted value is in no hash, no
//! column and no export. Keys inside JSON values are checked at any depth: in a custom
//! payload, and in the value of an attribute or field change whose own name is not redacted.
//!
//! By default the policy redacts fields whose name looks like a secret, in one of two ways:
//!
//! - after lower-casing and dropping `_`, `-`, `.` and spaces, the name **contains**
//!   `password`, `passwd`, `passphrase`, `secret`, `token`, `apikey`, `accesskey`,
//!   `privatekey` or `credential` (`db_password`, `X-Api-Key`, `refresh.token`,
//!   `clientSecret`, `dbCredentials`);
//! - one of the name's **words** is `pwd`, `pass`, `pin`, `otp`, `session`, `cookie`,
//!   `authorization` or `bearer`, or one of them with an `s` (`db_pass`, `userPin`,
//!   `X-Session`, `Set-Cookie`, `cookies`). Words are split at every character other than a
//!   letter or digit, at a change from lower to upper case (`userPin`: `user`, `pin`), before
//!   the last capital of a run that goes on in lower case (`OTPCode`: `otp`, `code`), and
//!   between letters and digits. These words are short, so they count only whole:
//!   `passport_number`, `spinner`, `possession` and `hotpink` keep their values.
//!
//! Add names of your own with [`RedactionPolicy::redact`].
//!
//! A host may also write a field change inside a custom payload (or inside an attribute's
//! or a change's JSON) in the crate's own shape, `{"field": <name>, "old": ..., "new": ...}`,
//! at any depth: when the policy redacts `<name>`, every other value of that object is
//! replaced by the marker, as in a built-in change (a value written as `{"value": x}` becomes
//! the marker of `x`, exactly the built-in form).
//!
//! Passwords of users are not a matter of policy: a [`UserChange`](crate::UserChange) cannot
//! carry one, a user field named `password` is refused, and a user field whose name contains
//! `password`, `passwd` or `passphrase`, or has the word `pwd` or `pass`, is redacted under
//! every policy.
//!
//! With a [`fingerprint_key`](RedactionPolicy::fingerprint_key), a redacted value is replaced
//! by `hmac-sha256:<hex>` of its canonical encoding, so an investigator can tell that two
//! records hold the same value (or check a candidate value with
//! [`RedactionPolicy::fingerprint`]) without the store revealing it. Keep the key outside the
//! store: whoever has it can confirm guesses.
//!
//! ```
//! use audit_log::{FieldValue, RedactionPolicy};
//! use serde_json::json;
//!
//! let policy = RedactionPolicy::default().redact("ssn").fingerprint_key(b"kept-in-a-vault");
//! assert!(policy.is_redacted("SSN"));
//! assert!(policy.is_redacted("api_token"));
//! assert!(!policy.is_redacted("full_name"));
//! let a = policy.redact_value(&json!("078-05-1120"));
//! let b = policy.redact_value(&json!("078-05-1120"));
//! assert_eq!(a, b);
//! assert!(matches!(a, FieldValue::Redacted { fingerprint: Some(_) }));
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::canonical::Canonical;
use crate::event::{Attributes, CarriedMut, Event, FieldChange, FieldValue, UserChange};

/// Secret words counted wherever they appear in a normalized name: long enough that no
/// harmless name holds them by chance. The first three speak of a password
/// ([`PASSWORD_PARTS`]).
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
];

/// Secret words counted only as a whole word of a name (or with an `s`): short enough to sit
/// inside harmless words (`passport`, `spinner`, `possession`). The first two speak of a
/// password ([`PASSWORD_WORDS`]).
const SECRET_WORDS: &[&str] = &[
    "pwd",
    "pass",
    "pin",
    "otp",
    "session",
    "cookie",
    "authorization",
    "bearer",
];

/// `password`, `passwd`, `passphrase`: the bits of [`SECRET_PARTS`] that name a password.
const PASSWORD_PARTS: u16 = 0b111;

/// `pwd`, `pass`: the bits of [`SECRET_WORDS`] that name a password.
const PASSWORD_WORDS: u16 = 0b11;

/// Which field values are replaced by a redaction marker before they are stored.
#[derive(Clone)]
pub struct RedactionPolicy {
    names: BTreeSet<String>,
    secret_words: bool,
    key: Option<Arc<[u8]>>,
}

impl Default for RedactionPolicy {
    /// Redacts secret-looking field names; no fingerprints.
    fn default() -> Self {
        RedactionPolicy {
            names: BTreeSet::new(),
            secret_words: true,
            key: None,
        }
    }
}

impl fmt::Debug for RedactionPolicy {
    // Never print the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionPolicy")
            .field("names", &self.names)
            .field("secret_words", &self.secret_words)
            .field("fingerprints", &self.key.is_some())
            .finish()
    }
}

/// A field name folded for comparison: lower case, without `_`, `-`, `.` and spaces (the
/// limits' password check folds names the same way).
pub(crate) fn normalize(name: &str) -> String {
    fold(name).as_str().to_owned()
}

/// [`normalize`] without allocating for the usual name (ASCII, at most [`Folded::SHORT`]
/// bytes): every recorded field name is folded, for the policy and for the limits.
pub(crate) fn fold(name: &str) -> Folded {
    if name.is_ascii() && name.len() <= Folded::SHORT {
        let mut buf = [0u8; Folded::SHORT];
        let mut len = 0;
        for b in name.bytes() {
            if !matches!(b, b'_' | b'-' | b'.' | b' ') {
                buf[len] = b.to_ascii_lowercase();
                len += 1;
            }
        }
        return Folded::Short { buf, len };
    }
    Folded::Long(
        name.chars()
            .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// Whether `name` [folds](fold) to `folded` (which must be lower-case ASCII), compared as
/// it is walked: a name that is not the word gives up at its first differing letter.
pub(crate) fn folds_to(name: &str, folded: &str) -> bool {
    if !name.is_ascii() {
        return fold(name).as_str() == folded;
    }
    let mut want = folded.bytes();
    for b in name.bytes() {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        if want.next() != Some(b.to_ascii_lowercase()) {
            return false;
        }
    }
    want.next().is_none()
}

/// A folded field name (see [`fold`]).
pub(crate) enum Folded {
    /// An ASCII name folded in place: `buf[..len]`.
    Short {
        buf: [u8; Folded::SHORT],
        len: usize,
    },
    /// Any other name.
    Long(String),
}

impl Folded {
    /// The longest name folded on the stack; longer names are rare and take the heap.
    const SHORT: usize = 64;

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Lower-cased ASCII bytes of an ASCII name are valid UTF-8; the empty fallback
            // is never taken.
            Folded::Short { buf, len } => buf
                .get(..*len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            Folded::Long(s) => s,
        }
    }
}

/// Which of `list` (bit `i` for the `i`th) a folded name contains; `starts` is the list's
/// [`starts`] table.
///
/// One pass over the name, trying at each byte only the entries that start with it: a
/// field name is short and most of its bytes start no entry, so this costs a fraction of
/// searching the name once per entry.
fn contained(folded: &str, list: &[&str], starts: &[u16; 256]) -> u16 {
    let folded = folded.as_bytes();
    let mut hits = 0;
    for (j, &first) in folded.iter().enumerate() {
        let mut candidates = starts.get(usize::from(first)).copied().unwrap_or(0);
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let found = list.get(i).zip(folded.get(j..));
            if found.is_some_and(|(entry, rest)| rest.starts_with(entry.as_bytes())) {
                hits |= 1 << i;
            }
        }
    }
    hits
}

/// For each byte value, which entries of `list` (at most 16) start with it.
const fn starts(list: &[&str]) -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < list.len() {
        table[list[i].as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    table
}

const PART_STARTS: [u16; 256] = starts(SECRET_PARTS);
const WORD_STARTS: [u16; 256] = starts(SECRET_WORDS);

/// The words of a field name, lower-cased: split at every character that is not a letter
/// or digit, at a change from lower to upper case (`userPin`), before the last capital of a
/// run that goes on in lower case (`APIKey`: `api`, `key`), and between letters and digits.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                || (prev.is_alphanumeric() && prev.is_numeric() != c.is_numeric());
            if boundary && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Which of `list` (bit `i` for the `i`th) are words of `name`, alone or with an `s`.
///
/// Every recorded field name passes here, so the common case, an ASCII name, is split
/// without allocating; other names take [`words`]. Both split alike (a proptest holds them
/// to it): for ASCII, Unicode's letter, digit and case classes are the ASCII ones.
fn words_in(name: &str, list: &[&str]) -> u16 {
    if name.is_ascii() {
        return words_in_ascii(name.as_bytes(), list);
    }
    words(name).iter().fold(0, |hits, w| hits | listed(w, list))
}

/// Which of `list` `word` is, alone or with an `s`.
fn listed(word: &str, list: &[&str]) -> u16 {
    let bare = word.strip_suffix('s');
    list.iter()
        .enumerate()
        .filter(|(_, l)| **l == word || bare == Some(**l))
        .fold(0, |hits, (i, _)| hits | 1 << i)
}

/// [`words_in`] for an ASCII name, each word lower-cased into a small buffer: a word longer
/// than it is longer than any listed word with its `s`, so it is skipped.
fn words_in_ascii(name: &[u8], list: &[&str]) -> u16 {
    let mut buf = [0u8; 24];
    let mut len = 0usize;
    let mut too_long = false;
    let mut hits = 0;
    let mut end_word = |buf: &[u8; 24], len: &mut usize, too_long: &mut bool| {
        if *len > 0 && !*too_long {
            if let Ok(w) = std::str::from_utf8(&buf[..*len]) {
                hits |= listed(w, list);
            }
        }
        *len = 0;
        *too_long = false;
    };
    for (i, &c) in name.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            end_word(&buf, &mut len, &mut too_long);
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| name.get(p)) {
            let next_lower = name.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (prev.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower)
                || (prev.is_ascii_alphanumeric() && prev.is_ascii_digit() != c.is_ascii_digit());
            if boundary && (len > 0 || too_long) {
                end_word(&buf, &mut len, &mut too_long);
            }
        }
        match buf.get_mut(len) {
            Some(slot) => {
                *slot = c.to_ascii_lowercase();
                len += 1;
            }
            None => too_long = true,
        }
    }
    end_word(&buf, &mut len, &mut too_long);
    hits
}

/// What a field name holds of the secret lists, found once for every question asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Secrets {
    /// Bit `i`: the folded name contains `SECRET_PARTS[i]`.
    parts: u16,
    /// Bit `i`: `SECRET_WORDS[i]` is a word of the name.
    words: u16,
}

impl Secrets {
    fn of(name: &str, folded: &str) -> Self {
        // A word of the name is a run of its letters and digits, which folding keeps
        // together: a listed word the folded name does not contain is no word of it, and
        // most names contain none, so they are not split at all.
        let words = match contained(folded, SECRET_WORDS, &WORD_STARTS) {
            0 => 0,
            _ => words_in(name, SECRET_WORDS),
        };
        Secrets {
            parts: contained(folded, SECRET_PARTS, &PART_STARTS),
            words,
        }
    }

    fn any(self) -> bool {
        self.parts != 0 || self.words != 0
    }

    /// Whether a user's field name speaks of a password (`new_password`, `initial-passwd`,
    /// `old_pwd`, `ldapPass`). The exact names (`password`, `passwd`, `password_hash`) are
    /// refused by the log's checks; the rest are redacted even under
    /// [`RedactionPolicy::without_secret_words`].
    fn names_a_password(self) -> bool {
        self.parts & PASSWORD_PARTS != 0 || self.words & PASSWORD_WORDS != 0
    }
}

impl RedactionPolicy {
    /// The default policy: secret-looking names redacted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also redacts fields with this name (compared after the normalization above).
    #[must_use]
    pub fn redact(mut self, field: &str) -> Self {
        self.names.insert(normalize(field));
        self
    }

    /// Stops redacting secret-looking names by default; only names added with
    /// [`redact`](Self::redact) are redacted. User passwords stay impossible to record: a
    /// user's field whose name contains `password` or `passwd` is still redacted.
    #[must_use]
    pub fn without_secret_words(mut self) -> Self {
        self.secret_words = false;
        self
    }

    /// Replaces redacted values with a keyed HMAC-SHA-256 fingerprint instead of a bare
    /// marker.
    #[must_use]
    pub fn fingerprint_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(Arc::from(key.as_ref()));
        self
    }

    /// Whether a field with this name is redacted.
    pub fn is_redacted(&self, field: &str) -> bool {
        self.redacts_field(field, false)
    }

    /// The fingerprint of a value under this policy's key (`None` without a key): compare it
    /// with the fingerprint in a record to check a candidate value.
    pub fn fingerprint(&self, value: &Value) -> Option<String> {
        let key = self.key.as_ref()?;
        // HMAC accepts keys of any length, so this never fails.
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).ok()?;
        let mut c = Canonical::default();
        c.json(value);
        mac.update(&c.into_bytes());
        Some(format!(
            "hmac-sha256:{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    /// The marker that replaces `value`.
    pub fn redact_value(&self, value: &Value) -> FieldValue {
        FieldValue::Redacted {
            fingerprint: self.fingerprint(value),
        }
    }

    /// A field's value: redacted whole when the field's name is, otherwise searched for
    /// keys the policy names, like a custom payload (an attribute `smtp` may well hold
    /// `{"host": ..., "password": ...}`).
    fn field(&self, redact: bool, v: &mut FieldValue) {
        match v {
            FieldValue::Value(x) if redact => *v = self.redact_value(x),
            FieldValue::Value(x) => self.payload(x),
            FieldValue::Redacted { .. } => {}
        }
    }

    /// `user` marks a user's fields, whose password-like names are redacted whatever the
    /// policy says.
    fn attributes(&self, attrs: &mut Attributes, user: bool) {
        for (name, v) in attrs.iter_mut() {
            let redact = self.redacts_field(name, user);
            self.field(redact, v);
        }
    }

    /// Whether a field's values are redacted: by the policy, or (`user`: a user's field)
    /// because its name speaks of a password. The name is normalized once for both.
    fn redacts_field(&self, name: &str, user: bool) -> bool {
        let folded = fold(name);
        let folded = folded.as_str();
        if self.names.contains(folded) {
            return true;
        }
        if !self.secret_words && !user {
            return false;
        }
        let secrets = Secrets::of(name, folded);
        (self.secret_words && secrets.any()) || (user && secrets.names_a_password())
    }

    fn change(&self, c: &mut FieldChange, user: bool) {
        let redact = self.redacts_field(&c.field, user);
        for v in [c.old.as_mut(), c.new.as_mut()].into_iter().flatten() {
            self.field(redact, v);
        }
    }

    /// The marker that replaces `x`, as JSON.
    fn marker(&self, x: &Value) -> Value {
        serde_json::to_value(self.redact_value(x)).unwrap_or(Value::Null)
    }

    /// The marker for a value of a field change written in a payload, as a built-in change
    /// holds it: a value in the tagged form `{"value": x}` is the marker of `x`. Anything
    /// else is marked whole, including what looks like a marker already (a host could put
    /// its secret under `redacted` as well as anywhere else).
    fn changed_value_marker(&self, x: &Value) -> Value {
        let value = match x {
            Value::Object(m) if m.len() == 1 => m.get("value").unwrap_or(x),
            _ => x,
        };
        self.marker(value)
    }

    fn payload(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                // `{"field": <secret name>, "old": .., "new": ..}`: a field change in the
                // crate's own shape, so every other value in it is that field's.
                let change_of_secret = matches!(
                    map.get("field"),
                    Some(Value::String(f)) if self.is_redacted(f)
                );
                for (k, x) in map.iter_mut() {
                    if change_of_secret && k != "field" {
                        *x = self.changed_value_marker(x);
                    } else if self.is_redacted(k) {
                        *x = self.marker(x);
                    } else {
                        self.payload(x);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.payload(x)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }

    /// Redacts an event in place.
    pub fn apply(&self, event: &mut Event) {
        // No wildcard: a new kind of data an event carries must say here what is redacted.
        match event.carried_mut() {
            CarriedMut::Attributes {
                of_user,
                attributes,
            } => self.attributes(attributes, of_user),
            CarriedMut::Changes(changes) => changes.iter_mut().for_each(|c| self.change(c, false)),
            CarriedMut::UserChanges(changes) => {
                for c in changes {
                    match c {
                        UserChange::PasswordChanged => {}
                        UserChange::Field(f) => self.change(f, true),
                    }
                }
            }
            CarriedMut::Custom { name: _, payload } => self.payload(payload),
            // The trail's own facts and the crate's own query hold no host values; an
            // unknown event is kept byte for byte (its hash covers it) and is never recorded
            // through a log.
            CarriedMut::Nothing
            | CarriedMut::Purge
            | CarriedMut::Export(_)
            | CarriedMut::Unknown => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntityRef, GroupCreated};
    use serde_json::json;

    #[test]
    fn secret_names_are_redacted_in_every_shape() {
        let p = RedactionPolicy::default();
        for name in [
            "password",
            "Password",
            "db_password",
            "API-Key",
            "apiKey",
            "refresh.token",
            "client_secret",
        ] {
            assert!(p.is_redacted(name), "{name}");
        }
        for name in ["name", "email", "description", "owner"] {
            assert!(!p.is_redacted(name), "{name}");
        }
        assert!(!RedactionPolicy::default()
            .without_secret_words()
            .is_redacted("token"));
    }

    #[test]
    fn names_split_into_the_words_hosts_write() {
        for (name, expected) in [
            ("userPassword", &["user", "password"][..]),
            ("X-Api-Key", &["x", "api", "key"]),
            ("APIKey", &["api", "key"]),
            ("OTPCode", &["otp", "code"]),
            ("db_pass", &["db", "pass"]),
            ("oauth2Token", &["oauth", "2", "token"]),
            ("pin-code.v2 x", &["pin", "code", "v", "2", "x"]),
            ("PIN", &["pin"]),
            ("ÄpfelPin", &["äpfel", "pin"]),
            ("__", &[]),
        ] {
            assert_eq!(words(name), expected, "{name}");
        }
    }

    /// The rule of the module docs, written the plain way: the reference the one-pass
    /// classification is held to.
    fn redacted_by_the_plain_rule(policy: &RedactionPolicy, name: &str, user: bool) -> bool {
        let n: String = name
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let has_word = |list: &[&str]| {
            words(name).iter().any(|w| {
                list.contains(&w.as_str()) || w.strip_suffix('s').is_some_and(|w| list.contains(&w))
            })
        };
        let by_policy = policy.names.contains(&n)
            || (policy.secret_words
                && (SECRET_PARTS.iter().any(|w| n.contains(w)) || has_word(SECRET_WORDS)));
        let a_password = ["password", "passwd", "passphrase"]
            .iter()
            .any(|w| n.contains(w))
            || has_word(&["pwd", "pass"]);
        by_policy || (user && a_password)
    }

    proptest::proptest! {
        /// The ASCII fast paths (folding on the stack, splitting without allocating, every
        /// list searched in one pass) decide exactly as the plain rule, for every policy.
        #[test]
        fn the_fast_paths_agree_with_the_plain_rule(
            name in "[a-zA-Z0-9_.\\- ]{0,40}|(pin|Pass|PWD|otp|cookie|Session|x|s|2|_|-|wd|phrase|Token|api|Key|ß|É){0,8}|[a-zA-Z0-9_./: -]{60,70}|(Pass|word|_|Pin|x){12,16}",
            user: bool,
        ) {
            let general: String = name
                .chars()
                .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
                .flat_map(char::to_lowercase)
                .collect();
            proptest::prop_assert_eq!(normalize(&name), general.clone());
            for word in ["password", "passwd", "passwordhash", "", &general] {
                proptest::prop_assert_eq!(folds_to(&name, word), general == word, "{} {}", name, word);
            }
            for list in [SECRET_WORDS, &["pwd", "pass"][..]] {
                let general = words(&name).iter().fold(0, |h, w| h | listed(w, list));
                proptest::prop_assert_eq!(words_in(&name, list), general, "{}", name);
            }
            for policy in [
                RedactionPolicy::default(),
                RedactionPolicy::default().without_secret_words(),
                RedactionPolicy::default().without_secret_words().redact("x_pin"),
            ] {
                proptest::prop_assert_eq!(
                    policy.redacts_field(&name, user),
                    redacted_by_the_plain_rule(&policy, &name, user),
                    "{} user={} {:?}", name, user, policy
                );
            }
        }
    }

    #[test]
    fn the_password_bits_are_the_password_words() {
        let bits = |list: &[&str], mask: u16| -> Vec<String> {
            (0..16)
                .filter(|i| mask & (1 << i) != 0)
                .filter_map(|i| list.get(i).map(|w| w.to_string()))
                .collect()
        };
        assert_eq!(
            bits(SECRET_PARTS, PASSWORD_PARTS),
            ["password", "passwd", "passphrase"]
        );
        assert_eq!(bits(SECRET_WORDS, PASSWORD_WORDS), ["pwd", "pass"]);
        let parts_in = |n| contained(n, SECRET_PARTS, &PART_STARTS);
        assert_eq!(parts_in("xpasswordtokenx"), 0b1_0001);
        assert_eq!(parts_in("credential"), 1 << 8);
        assert_eq!(contained("xpinspwd", SECRET_WORDS, &WORD_STARTS), 0b101);
    }

    #[test]
    fn short_secret_words_count_whole_and_plural() {
        for name in ["pins", "cookies", "X-Sessions", "pin", "ldapPass"] {
            assert_ne!(words_in(name, SECRET_WORDS), 0, "{name}");
        }
        for name in ["spinner", "passport", "pinss", "s", "", "possession"] {
            assert_eq!(words_in(name, SECRET_WORDS), 0, "{name}");
        }
    }

    #[test]
    fn a_users_password_names_are_known_whatever_the_policy() {
        let p = RedactionPolicy::default().without_secret_words();
        for name in [
            "new_password",
            "initial-passwd",
            "keyPassphrase",
            "old_pwd",
            "ldapPass",
        ] {
            assert!(p.redacts_field(name, true), "{name}");
            assert!(!p.redacts_field(name, false), "{name}");
        }
        for name in ["passport", "email", "compass", "pwdx"] {
            assert!(!p.redacts_field(name, true), "{name}");
        }
    }

    #[test]
    fn payload_keys_are_redacted_at_any_depth() {
        let p = RedactionPolicy::default().redact("iban");
        let mut e = Event::custom(
            "billing.account_changed",
            json!({"account": {"IBAN": "DE89 3704", "holder": "ACME"}, "items": [{"token": "t"}]}),
        );
        p.apply(&mut e);
        let Event::Custom(c) = e else { panic!() };
        assert_eq!(c.payload["account"]["IBAN"], json!({"redacted": {}}));
        assert_eq!(c.payload["account"]["holder"], "ACME");
        assert_eq!(c.payload["items"][0]["token"], json!({"redacted": {}}));
    }

    #[test]
    fn keys_inside_attribute_and_change_values_are_redacted() {
        let p = RedactionPolicy::default();
        let mut attrs = Attributes::new();
        attrs.insert(
            "smtp".into(),
            json!({"host": "mail", "password": "s3cr3t"}).into(),
        );
        let mut e = Event::GroupCreated(GroupCreated {
            group: EntityRef::new(1, "Ops"),
            attributes: attrs,
        });
        p.apply(&mut e);
        let mut c = Event::group_edited(
            EntityRef::new(1, "Ops"),
            vec![FieldChange::new(
                "hook",
                json!([{"token": "t0k"}]),
                json!({}),
            )],
        );
        p.apply(&mut c);
        let (e, c) = (e.to_value().to_string(), c.to_value().to_string());
        assert!(!e.contains("s3cr3t") && e.contains("mail"), "{e}");
        assert!(!c.contains("t0k"), "{c}");
    }

    #[test]
    fn fingerprints_compare_equal_values_only() {
        let p = RedactionPolicy::default().fingerprint_key("k1");
        let q = RedactionPolicy::default().fingerprint_key("k2");
        let a = p.fingerprint(&json!("x")).unwrap();
        assert!(a.starts_with("hmac-sha256:") && a.len() == 12 + 64);
        assert_eq!(Some(a.clone()), p.fingerprint(&json!("x")));
        assert_ne!(Some(a.clone()), p.fingerprint(&json!("y")));
        assert_ne!(Some(a), q.fingerprint(&json!("x")));
        assert!(!format!("{p:?}").contains("k1"));
    }

    /// Debug output says what the policy does (so a host can log its configuration), and
    /// never the key.
    #[test]
    fn debug_shows_the_policy_but_not_the_key() {
        let p = RedactionPolicy::default()
            .redact("IBAN")
            .fingerprint_key("k3y-material");
        assert_eq!(
            format!("{p:?}"),
            r#"RedactionPolicy { names: {"iban"}, secret_words: true, fingerprints: true }"#
        );
        let q = RedactionPolicy::default().without_secret_words();
        assert_eq!(
            format!("{q:?}"),
            "RedactionPolicy { names: {}, secret_words: false, fingerprints: false }"
        );
    }

    #[test]
    fn attributes_are_redacted_by_name() {
        let p = RedactionPolicy::default();
        let mut attrs = Attributes::new();
        attrs.insert("name".into(), "Ops".into());
        attrs.insert("webhook_secret".into(), "s3cr3t".into());
        let mut e = Event::GroupCreated(GroupCreated {
            group: EntityRef::new(1, "Ops"),
            attributes: attrs,
        });
        p.apply(&mut e);
        let v = e.to_value().to_string();
        assert!(!v.contains("s3cr3t"));
        assert!(v.contains("Ops"));
    }
}

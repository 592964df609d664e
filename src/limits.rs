//! Input limits and the checks every entry passes before anything is written.

use crate::error::{Error, Result};
use serde_json::Value;

use crate::event::{
    user_fields, Attributes, Carried, Event, FieldChange, FieldValue, UserChange, RESERVED_FAMILIES,
};
use crate::record::{Actor, Context, TenantId};

/// Bounds on what one entry may contain. Input beyond them is refused with
/// [`Error::InvalidInput`] naming the field; nothing is written.
///
/// The defaults are generous for real administrative data and small enough that a bug or an
/// attacker cannot fill the store with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest id (entity, actor, request, correlation), in bytes. Default 256.
    pub max_id_bytes: usize,
    /// Longest display snapshot or tenant name, in bytes. Default 512.
    pub max_display_bytes: usize,
    /// Longest user agent, in bytes. Default 1024.
    pub max_user_agent_bytes: usize,
    /// Longest reason, in bytes. Default 4096.
    pub max_reason_bytes: usize,
    /// Longest field or attribute name, in bytes. Default 128.
    pub max_field_name_bytes: usize,
    /// Deepest nesting of a host's JSON value (an attribute, a field change, a custom
    /// payload), in arrays and objects. Default 64: deeper values would overflow the stack of
    /// the encoder, and a record nested past `serde_json`'s parse limit (128 levels) could be
    /// stored but never read back.
    pub max_json_depth: usize,
    /// Largest encoded record (event and envelope), in bytes. Default 64 KiB.
    pub max_record_bytes: usize,
    /// Most entries in one batch. Default 10 000.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_bytes: 256,
            max_display_bytes: 512,
            max_user_agent_bytes: 1024,
            max_reason_bytes: 4096,
            max_field_name_bytes: 128,
            max_json_depth: 64,
            max_record_bytes: 64 * 1024,
            max_batch: 10_000,
        }
    }
}

/// Whether `check_text` would pass, without building its error.
fn text_ok(s: &str, max: usize, allow_newlines: bool) -> bool {
    s.len() <= max
        && !s
            .chars()
            .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t' | '\r')))
}

/// Whether `check_id` would pass, without building its error.
fn id_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && text_ok(s, max, false)
}

fn check_text(field: &str, s: &str, max: usize, allow_newlines: bool) -> Result<()> {
    if s.len() > max {
        return Err(Error::invalid(
            field,
            format!("{} bytes is longer than the limit of {max}", s.len()),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t' | '\r')))
    {
        return Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(())
}

/// Whether `v` nests arrays and objects more than `max` levels deep. Recurses at most
/// `max + 1` frames, so it is safe on any value.
fn too_deep(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max == 0 || a.iter().any(|c| too_deep(c, max - 1)),
        Value::Object(m) => max == 0 || m.values().any(|c| too_deep(c, max - 1)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

fn check_id(field: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    check_text(field, s, max, false)
}

impl Limits {
    pub(crate) fn check_tenant(&self, t: &TenantId) -> Result<()> {
        check_id("tenant", t.as_str(), self.max_display_bytes)
    }

    pub(crate) fn check_actor(&self, a: &Actor) -> Result<()> {
        check_id("actor.id", &a.id, self.max_id_bytes)?;
        if let Some(d) = &a.display {
            check_text("actor.display", d, self.max_display_bytes, false)?;
        }
        Ok(())
    }

    pub(crate) fn check_context(&self, c: &Context) -> Result<()> {
        if let Some(v) = &c.user_agent {
            check_text("context.user_agent", v, self.max_user_agent_bytes, false)?;
        }
        if let Some(v) = &c.request_id {
            check_id("context.request_id", v, self.max_id_bytes)?;
        }
        if let Some(v) = &c.correlation_id {
            check_id("context.correlation_id", v, self.max_id_bytes)?;
        }
        if let Some(v) = &c.reason {
            check_text("context.reason", v, self.max_reason_bytes, true)?;
        }
        Ok(())
    }

    fn check_json(&self, path: &str, v: &Value) -> Result<()> {
        if too_deep(v, self.max_json_depth) {
            return Err(Error::invalid(
                path,
                format!(
                    "JSON nested deeper than the limit of {} levels",
                    self.max_json_depth
                ),
            ));
        }
        Ok(())
    }

    fn check_field_value(&self, path: &str, v: Option<&FieldValue>) -> Result<()> {
        match v {
            Some(FieldValue::Value(v)) => self.check_json(path, v),
            Some(FieldValue::Redacted { .. }) | None => Ok(()),
        }
    }

    fn check_field_name(&self, path: &str, name: &str) -> Result<()> {
        check_id(path, name, self.max_field_name_bytes)
    }

    fn check_attributes(&self, attrs: &Attributes, user: bool) -> Result<()> {
        for (name, v) in attrs {
            self.check_field_name("event.attributes", name)?;
            if user && is_password_field(name) {
                return Err(password_refused("event.attributes"));
            }
            self.check_field_value("event.attributes", Some(v))?;
        }
        Ok(())
    }

    fn check_changes<'a>(
        &self,
        changes: impl Iterator<Item = &'a FieldChange>,
        user: bool,
    ) -> Result<()> {
        for c in changes {
            self.check_field_name("event.changes.field", &c.field)?;
            if user && is_password_field(&c.field) {
                return Err(password_refused("event.changes"));
            }
            self.check_field_value("event.changes.old", c.old.as_ref())?;
            self.check_field_value("event.changes.new", c.new.as_ref())?;
        }
        Ok(())
    }

    /// Checks an event: ids, display snapshots, field names, custom names, passwords.
    pub(crate) fn check_event(&self, e: &Event) -> Result<()> {
        for m in e.mentions() {
            // The field path is only formatted when a check fails: this runs on every record.
            if !id_ok(m.id.as_str(), self.max_id_bytes) {
                check_id(&format!("{}.id", m.path), m.id.as_str(), self.max_id_bytes)?;
            }
            if let Some(d) = m.display {
                if !text_ok(d, self.max_display_bytes, false) {
                    let path = format!("{}.display", m.path);
                    check_text(&path, d, self.max_display_bytes, false)?;
                }
            }
            if let crate::EntityKind::Other(k) = m.kind {
                check_name(&format!("{}.kind", m.path), k)?;
            }
        }
        // No wildcard: a new kind of data an event carries must say here how it is checked.
        match e.carried() {
            Carried::Nothing => {}
            Carried::Attributes {
                of_user,
                attributes,
            } => self.check_attributes(attributes, of_user)?,
            Carried::Changes(changes) => self.check_changes(changes.iter(), false)?,
            Carried::UserChanges(changes) => {
                if changes.is_empty() {
                    return Err(Error::invalid(
                        "event.changes",
                        "an edit must change something",
                    ));
                }
                let fields = changes.iter().filter_map(|c| match c {
                    UserChange::Field(f) => Some(f),
                    UserChange::PasswordChanged => None,
                });
                self.check_changes(fields, true)?;
            }
            Carried::Export(x) => self.check_json("event.query", &x.query)?,
            Carried::Custom { name, payload } => {
                self.check_json("event.payload", payload)?;
                check_name("event.name", name)?;
                let family = name.split('.').next().unwrap_or_default();
                if RESERVED_FAMILIES.contains(&family) {
                    return Err(Error::invalid(
                        "event.name",
                        format!("the `{family}` family is reserved for built-in events"),
                    ));
                }
                if !name.contains('.') {
                    return Err(Error::invalid(
                        "event.name",
                        "a custom name is dotted: `family.action`",
                    ));
                }
            }
            Carried::Purge(_) => {
                return Err(Error::invalid(
                    "event",
                    "audit.purged is recorded by a store's retention purge, not by hosts",
                ))
            }
            Carried::Unknown(_) => {
                return Err(Error::invalid(
                    "event",
                    "an unknown event read from a store cannot be recorded again",
                ))
            }
        }
        Ok(())
    }

    pub(crate) fn check_size(&self, body_len: usize) -> Result<()> {
        if body_len > self.max_record_bytes {
            return Err(Error::invalid(
                "event",
                format!(
                    "the encoded record is {body_len} bytes, over the limit of {}",
                    self.max_record_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Lowercase ASCII letters, digits and `_`, in dot-separated non-empty parts.
fn check_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be lowercase letters, digits and `_` in dot-separated parts, at most 128 bytes",
        ))
    }
}

fn is_password_field(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    n == user_fields::PASSWORD || n == "passwd" || n == "passwordhash"
}

fn password_refused(field: &str) -> Error {
    Error::invalid(
        field,
        "a user's password is never recorded: use UserChange::password_changed(), which carries no value",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntityRef, UserCreated};

    #[test]
    fn control_characters_and_empty_ids_are_refused_with_the_field() {
        let l = Limits::default();
        let e = Event::user_deleted(EntityRef::new("", "bob"));
        let err = l.check_event(&e).unwrap_err();
        assert_eq!(err.to_string(), "invalid event.user.id: must not be empty");
        let e = Event::user_added_to_group(EntityRef::new(1, "bob"), EntityRef::new(2, "ops\u{0}"));
        let err = l.check_event(&e).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid event.group.display: contains the control character U+0000"),
            "{err}"
        );
    }

    #[test]
    fn oversized_display_names_are_refused() {
        let l = Limits::default();
        let huge = "x".repeat(2 * 1024 * 1024);
        let err = l
            .check_event(&Event::user_deleted(EntityRef::new(1, huge)))
            .unwrap_err();
        assert!(
            err.to_string().contains("longer than the limit of 512"),
            "{err}"
        );
    }

    #[test]
    fn a_password_field_is_refused() {
        let l = Limits::default();
        let e: Event = UserCreated::new(EntityRef::new(1, "bob"))
            .attribute("Password", "x")
            .into();
        assert!(l.check_event(&e).is_err());
        let e = Event::user_edited(
            EntityRef::new(1, "bob"),
            vec![UserChange::other("password", "a", "b")],
        );
        assert!(l.check_event(&e).is_err());
        let e = Event::user_edited(
            EntityRef::new(1, "bob"),
            vec![UserChange::password_changed()],
        );
        assert!(l.check_event(&e).is_ok());
    }

    fn nested(depth: usize) -> Value {
        let mut v = serde_json::json!(1);
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn deeply_nested_json_is_refused_without_recursing_into_it() {
        let l = Limits::default();
        let ok = Event::custom("billing.x", nested(64));
        assert!(l.check_event(&ok).is_ok());
        let err = l
            .check_event(&Event::custom("billing.x", nested(65)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event.payload: JSON nested deeper than the limit of 64 levels"
        );
        let e = Event::group_edited(
            EntityRef::new(1, "ops"),
            vec![FieldChange::set("rules", nested(100))],
        );
        assert!(l.check_event(&e).is_err());
        let e: Event = UserCreated::new(EntityRef::new(1, "bob"))
            .attribute("prefs", nested(65))
            .into();
        assert!(l.check_event(&e).is_err());
        // Deep enough to overflow the stack of a recursive walk; built and dropped on a
        // big stack, because serde_json's own Drop recurses too.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                let e = Event::custom("billing.x", nested(1_000_000));
                assert!(l.check_event(&e).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn custom_names_are_dotted_and_not_reserved() {
        let l = Limits::default();
        assert!(l
            .check_event(&Event::custom(
                "billing.invoice_voided",
                serde_json::Value::Null
            ))
            .is_ok());
        for bad in [
            "user.hacked",
            "billing",
            "Billing.X",
            "billing..x",
            "billing.x y",
        ] {
            assert!(
                l.check_event(&Event::custom(bad, serde_json::Value::Null))
                    .is_err(),
                "{bad}"
            );
        }
    }
}

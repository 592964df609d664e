//! Input limits and the checks every entry passes before anything is written.

use crate::error::{Error, Result};
use serde_json::Value;

use crate::event::{
    user_fields, Attributes, CarriedMut, EntityKind, Event, FieldChange, FieldValue, UserChange,
    RESERVED_FAMILIES,
};
use crate::record::{Actor, Context, TenantId};
use crate::text::{check_identifier, cut_to_fit, identifier_ok, is_user_display_field};

/// Bounds on what one entry may contain, applied by [the text rule](crate::text): display
/// text over its bound is cut and marked; identifiers, names and JSON over theirs are
/// refused with [`Error::InvalidInput`] naming the field, and nothing is written.
///
/// The defaults are generous for real administrative data and small enough that a bug or an
/// attacker cannot fill the store with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest identifier (entity, actor, request, correlation; an export's format), in
    /// bytes; longer is refused. Default 256.
    pub max_id_bytes: usize,
    /// Longest display snapshot (an entity's, the actor's) or name of a user (login name,
    /// full name, e-mail), in bytes, before it is cut; and longest tenant name (refused).
    /// Default 512.
    pub max_display_bytes: usize,
    /// Longest user agent, in bytes, before it is cut. Default 1024.
    pub max_user_agent_bytes: usize,
    /// Longest reason, in bytes, before it is cut. Default 4096.
    pub max_reason_bytes: usize,
    /// Longest field or attribute name, in bytes; longer is refused. Default 128.
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

/// Whether `v` nests arrays and objects more than `max` levels deep. Recurses at most
/// `max + 1` frames, so it is safe on any value.
fn too_deep(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max == 0 || a.iter().any(|c| too_deep(c, max - 1)),
        Value::Object(m) => max == 0 || m.values().any(|c| too_deep(c, max - 1)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

impl Limits {
    pub(crate) fn check_tenant(&self, t: &TenantId) -> Result<()> {
        check_identifier("tenant", t.as_str(), self.max_display_bytes)
    }

    /// Checks the actor's id and holds its display snapshot to the display-text rule.
    pub(crate) fn admit_actor(&self, a: &mut Actor) -> Result<()> {
        let Actor {
            kind: _,
            id,
            display,
        } = a;
        check_identifier("actor.id", id, self.max_id_bytes)?;
        if let Some(d) = display {
            cut_to_fit(d, self.max_display_bytes);
        }
        Ok(())
    }

    /// Checks the context's ids and holds its free texts to the display-text rule.
    pub(crate) fn admit_context(&self, c: &mut Context) -> Result<()> {
        let Context {
            ip: _,
            user_agent,
            request_id,
            correlation_id,
            reason,
        } = c;
        if let Some(v) = request_id {
            check_identifier("context.request_id", v, self.max_id_bytes)?;
        }
        if let Some(v) = correlation_id {
            check_identifier("context.correlation_id", v, self.max_id_bytes)?;
        }
        if let Some(v) = user_agent {
            cut_to_fit(v, self.max_user_agent_bytes);
        }
        if let Some(v) = reason {
            cut_to_fit(v, self.max_reason_bytes);
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

    /// Checks a field's value; a user's login name, full name or e-mail is display text.
    fn admit_field_value(
        &self,
        path: &str,
        v: Option<&mut FieldValue>,
        display: bool,
    ) -> Result<()> {
        match v {
            Some(FieldValue::Value(Value::String(s))) if display => {
                cut_to_fit(s, self.max_display_bytes);
                Ok(())
            }
            Some(FieldValue::Value(v)) => self.check_json(path, v),
            Some(FieldValue::Redacted { .. }) | None => Ok(()),
        }
    }

    fn check_field_name(&self, path: &str, name: &str) -> Result<()> {
        check_identifier(path, name, self.max_field_name_bytes)
    }

    fn admit_attributes(&self, attrs: &mut Attributes, of_user: bool) -> Result<()> {
        for (name, v) in attrs.iter_mut() {
            self.check_field_name("event.attributes", name)?;
            if of_user && is_password_field(name) {
                return Err(password_refused("event.attributes"));
            }
            let display = of_user && is_user_display_field(name);
            self.admit_field_value("event.attributes", Some(v), display)?;
        }
        Ok(())
    }

    fn admit_change(&self, c: &mut FieldChange, of_user: bool) -> Result<()> {
        let FieldChange { field, old, new } = c;
        self.check_field_name("event.changes.field", field)?;
        if of_user && is_password_field(field) {
            return Err(password_refused("event.changes"));
        }
        let display = of_user && is_user_display_field(field);
        self.admit_field_value("event.changes.old", old.as_mut(), display)?;
        self.admit_field_value("event.changes.new", new.as_mut(), display)
    }

    /// Checks an event a host records (ids, field names, custom names, kinds, JSON depth,
    /// passwords) and holds its display text to the rule. See [`crate::text`].
    pub(crate) fn admit_event(&self, e: &mut Event) -> Result<()> {
        let mut refused = Ok(());
        e.for_each_mention(|m| {
            if refused.is_err() {
                return;
            }
            // The field path is only formatted when a check fails: this runs on every record.
            if !identifier_ok(m.id.as_str(), self.max_id_bytes) {
                let path = format!("{}.id", m.path);
                refused = check_identifier(&path, m.id.as_str(), self.max_id_bytes);
            }
            if let (Ok(()), EntityKind::Other(k)) = (&refused, m.kind) {
                refused = check_name(&format!("{}.kind", m.path), k);
            }
        });
        refused?;
        let max_display = self.max_display_bytes;
        e.displays_mut(|d| {
            cut_to_fit(d, max_display);
        });
        // No wildcard: a new kind of data an event carries must say here how it is checked.
        match e.carried_mut() {
            CarriedMut::Nothing => {}
            CarriedMut::Attributes {
                of_user,
                attributes,
            } => self.admit_attributes(attributes, of_user)?,
            CarriedMut::Changes(changes) => {
                for c in changes {
                    self.admit_change(c, false)?;
                }
            }
            CarriedMut::UserChanges(changes) => {
                if changes.is_empty() {
                    return Err(Error::invalid(
                        "event.changes",
                        "an edit must change something",
                    ));
                }
                for c in changes {
                    match c {
                        UserChange::PasswordChanged => {}
                        UserChange::Field(f) => self.admit_change(f, true)?,
                    }
                }
            }
            CarriedMut::Export(x) => {
                check_identifier("event.format", &x.format, self.max_id_bytes)?;
                self.check_json("event.query", &x.query)?;
            }
            CarriedMut::Custom { name, payload } => {
                self.check_json("event.payload", payload)?;
                check_custom_name(name)?;
            }
            CarriedMut::Purge => {
                return Err(Error::invalid(
                    "event",
                    "audit.purged is recorded by a store's retention purge, not by hosts",
                ))
            }
            CarriedMut::Unknown => {
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

/// A custom event's name: a [name](check_name), dotted, outside the built-in families.
fn check_custom_name(name: &str) -> Result<()> {
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
    Ok(())
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

/// A user's field that holds the password itself, under any spelling the redaction's
/// normalization folds together (`Password`, `password_hash`, `PASS-WD`).
fn is_password_field(name: &str) -> bool {
    [user_fields::PASSWORD, "passwd", "passwordhash"]
        .iter()
        .any(|w| crate::redact::folds_to(name, w))
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

    /// `admit_event` on an owned copy: what the tests below check.
    fn admit(l: &Limits, e: &Event) -> Result<Event> {
        let mut e = e.clone();
        l.admit_event(&mut e)?;
        Ok(e)
    }

    #[test]
    fn control_characters_in_ids_and_empty_ids_are_refused_with_the_field() {
        let l = Limits::default();
        let e = Event::user_deleted(EntityRef::new("", "bob"));
        let err = admit(&l, &e).unwrap_err();
        assert_eq!(err.to_string(), "invalid event.user.id: must not be empty");
        let e =
            Event::user_added_to_group(EntityRef::new(1, "bob"), EntityRef::new("2\u{0}", "ops"));
        let err = admit(&l, &e).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid event.group.id: contains U+0000"),
            "{err}"
        );
    }

    #[test]
    fn control_characters_in_display_snapshots_are_kept() {
        let l = Limits::default();
        let e = Event::user_added_to_group(EntityRef::new(1, "bob"), EntityRef::new(2, "ops\u{0}"));
        assert_eq!(admit(&l, &e).unwrap(), e);
    }

    #[test]
    fn oversized_display_names_are_cut_and_marked() {
        let l = Limits::default();
        let huge = "x".repeat(2 * 1024 * 1024);
        let e = admit(&l, &Event::user_deleted(EntityRef::new(1, huge))).unwrap();
        let shown = e.target().and_then(|m| m.display).unwrap();
        assert_eq!(shown.len(), 512);
        assert!(shown.ends_with("…[cut from 2097152 bytes]"), "{shown}");
    }

    #[test]
    fn an_oversized_id_is_refused() {
        let l = Limits::default();
        let err = admit(
            &l,
            &Event::user_deleted(EntityRef::id_only("1".repeat(257))),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event.user.id: 257 bytes is longer than the limit of 256"
        );
    }

    #[test]
    fn a_password_field_is_refused() {
        let l = Limits::default();
        let e: Event = UserCreated::new(EntityRef::new(1, "bob"))
            .attribute("Password", "x")
            .into();
        assert!(admit(&l, &e).is_err());
        let e = Event::user_edited(
            EntityRef::new(1, "bob"),
            vec![UserChange::other("password", "a", "b")],
        );
        assert!(admit(&l, &e).is_err());
        let e = Event::user_edited(
            EntityRef::new(1, "bob"),
            vec![UserChange::password_changed()],
        );
        assert!(admit(&l, &e).is_ok());
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
        assert!(admit(&l, &ok).is_ok());
        let err = admit(&l, &Event::custom("billing.x", nested(65))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event.payload: JSON nested deeper than the limit of 64 levels"
        );
        let e = Event::group_edited(
            EntityRef::new(1, "ops"),
            vec![FieldChange::set("rules", nested(100))],
        );
        assert!(admit(&l, &e).is_err());
        let e: Event = UserCreated::new(EntityRef::new(1, "bob"))
            .attribute("prefs", nested(65))
            .into();
        assert!(admit(&l, &e).is_err());
        // A user's named field that is not a string is host JSON, held to the depth limit.
        let e: Event = UserCreated::new(EntityRef::new(1, "bob"))
            .attribute(user_fields::EMAIL, nested(65))
            .into();
        assert!(admit(&l, &e).is_err());
        // Deep enough to overflow the stack of a recursive walk; built and dropped on a
        // big stack, because serde_json's own Drop recurses too.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                let mut e = Event::custom("billing.x", nested(1_000_000));
                assert!(l.admit_event(&mut e).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn custom_names_are_dotted_and_not_reserved() {
        let l = Limits::default();
        assert!(admit(
            &l,
            &Event::custom("billing.invoice_voided", serde_json::Value::Null)
        )
        .is_ok());
        for bad in [
            "user.hacked",
            "billing",
            "Billing.X",
            "billing..x",
            "billing.x y",
        ] {
            assert!(
                admit(&l, &Event::custom(bad, serde_json::Value::Null)).is_err(),
                "{bad}"
            );
        }
    }
}

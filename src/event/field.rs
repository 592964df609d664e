//! Field values and field changes: what `*.created` and `*.edited` events carry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded value of a field: the value itself, or a marker that it was redacted.
///
/// Wire form: `{"value": <json>}` or `{"redacted": {}}` /
/// `{"redacted": {"fingerprint": "hmac-sha256:<hex>"}}`. The tagged form keeps a host's own
/// JSON (which may well contain a key named `redacted`) apart from the marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldValue {
    /// The value as the host gave it.
    Value(Value),
    /// The value was removed by the [`RedactionPolicy`](crate::RedactionPolicy).
    Redacted {
        /// A keyed fingerprint of the value (when the policy has a key), so that two redacted
        /// values can be compared for equality without revealing them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
}

impl FieldValue {
    /// The plain value, if it was not redacted.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            FieldValue::Value(v) => Some(v),
            FieldValue::Redacted { .. } => None,
        }
    }

    /// Whether the value was redacted.
    pub fn is_redacted(&self) -> bool {
        matches!(self, FieldValue::Redacted { .. })
    }

    /// A short human rendering: strings without quotes, other JSON as JSON, redacted values as
    /// `[redacted]`.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Value(Value::String(s)) => s.clone(),
            FieldValue::Value(v) => v.to_string(),
            FieldValue::Redacted { .. } => "[redacted]".to_owned(),
        }
    }
}

impl<T: Into<Value>> From<T> for FieldValue {
    fn from(v: T) -> Self {
        FieldValue::Value(v.into())
    }
}

/// Attributes of an entity at creation: field name to value, in name order.
pub type Attributes = BTreeMap<String, FieldValue>;

/// A change of one field: its old and new value.
///
/// `old: None` means the field had no value (or the host did not know it); `new: None` means
/// the field was cleared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    /// The field's name, such as `name` or `description`.
    pub field: String,
    /// The value before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<FieldValue>,
    /// The value after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<FieldValue>,
}

/// By hand, to write the fields in key order, the order of the wire form: the canonical
/// encoder then has nothing to sort in the change every edit carries.
impl Serialize for FieldChange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let FieldChange { field, old, new } = self;
        let len = 1 + usize::from(old.is_some()) + usize::from(new.is_some());
        let mut m = s.serialize_struct("FieldChange", len)?;
        m.serialize_field("field", field)?;
        match new {
            Some(v) => m.serialize_field("new", v)?,
            None => m.skip_field("new")?,
        }
        match old {
            Some(v) => m.serialize_field("old", v)?,
            None => m.skip_field("old")?,
        }
        m.end()
    }
}

impl FieldChange {
    /// A change from `old` to `new`.
    pub fn new(field: impl Into<String>, old: impl Into<Value>, new: impl Into<Value>) -> Self {
        FieldChange {
            field: field.into(),
            old: Some(FieldValue::Value(old.into())),
            new: Some(FieldValue::Value(new.into())),
        }
    }

    /// A field that had no value and now has `new`.
    pub fn set(field: impl Into<String>, new: impl Into<Value>) -> Self {
        FieldChange {
            field: field.into(),
            old: None,
            new: Some(FieldValue::Value(new.into())),
        }
    }

    /// A field that had `old` and was cleared.
    pub fn cleared(field: impl Into<String>, old: impl Into<Value>) -> Self {
        FieldChange {
            field: field.into(),
            old: Some(FieldValue::Value(old.into())),
            new: None,
        }
    }
}

/// The field names the product audits on users (seed: login name, full name, e-mail,
/// password).
pub mod user_fields {
    /// The login name.
    pub const LOGIN_NAME: &str = "login_name";
    /// The full name.
    pub const FULL_NAME: &str = "full_name";
    /// The e-mail address.
    pub const EMAIL: &str = "email";
    /// The password: only ever recorded as "changed", never with a value.
    pub const PASSWORD: &str = "password";
}

/// One change in a `user.edited` event.
///
/// A password change is [`UserChange::PasswordChanged`], which has no field to put a value in:
/// a password cannot be written to the trail through this type. A [`UserChange::Field`] named
/// `password` (or anything the [`RedactionPolicy`](crate::RedactionPolicy) treats as a secret)
/// is refused or redacted when recorded.
///
/// Wire form: `{"field": "password"}` for a password change, otherwise a [`FieldChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserChange {
    /// The password was changed. Carries no value, by construction.
    PasswordChanged,
    /// Any other field: login name, full name, e-mail, or a host's own.
    Field(FieldChange),
}

impl UserChange {
    /// The login name changed.
    pub fn login_name(old: impl Into<String>, new: impl Into<String>) -> Self {
        UserChange::Field(FieldChange::new(
            user_fields::LOGIN_NAME,
            old.into(),
            new.into(),
        ))
    }

    /// The full name changed.
    pub fn full_name(old: impl Into<String>, new: impl Into<String>) -> Self {
        UserChange::Field(FieldChange::new(
            user_fields::FULL_NAME,
            old.into(),
            new.into(),
        ))
    }

    /// The e-mail address changed.
    pub fn email(old: impl Into<String>, new: impl Into<String>) -> Self {
        UserChange::Field(FieldChange::new(user_fields::EMAIL, old.into(), new.into()))
    }

    /// The password changed. Takes no value: there is nowhere to put one.
    pub fn password_changed() -> Self {
        UserChange::PasswordChanged
    }

    /// A field of the host's own.
    pub fn other(field: impl Into<String>, old: impl Into<Value>, new: impl Into<Value>) -> Self {
        UserChange::Field(FieldChange::new(field, old, new))
    }

    /// The name of the field that changed.
    pub fn field(&self) -> &str {
        match self {
            UserChange::PasswordChanged => user_fields::PASSWORD,
            UserChange::Field(c) => &c.field,
        }
    }
}

impl Serialize for UserChange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UserChange::PasswordChanged => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("field", user_fields::PASSWORD)?;
                m.end()
            }
            UserChange::Field(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UserChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = FieldChange::deserialize(d)?;
        if c.field == user_fields::PASSWORD {
            if c.old.is_some() || c.new.is_some() {
                return Err(serde::de::Error::custom(
                    "a password change carries no value",
                ));
            }
            return Ok(UserChange::PasswordChanged);
        }
        Ok(UserChange::Field(c))
    }
}

#[cfg(test)]
mod tests {
    /// The fields as a derive would write them (in declaration order): the hand-written
    /// impls in key order must describe the same object, with the same keys skipped.
    #[derive(Serialize)]
    struct DerivedChange<'a> {
        field: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        old: Option<&'a FieldValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        new: Option<&'a FieldValue>,
    }

    #[derive(Serialize)]
    struct DerivedRef<'a> {
        id: &'a crate::EntityId,
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<&'a str>,
    }

    #[test]
    fn the_key_ordered_impls_write_what_a_derive_would() {
        let some = || Some(FieldValue::Value(json!("x")));
        for (old, new) in [
            (some(), some()),
            (None, some()),
            (some(), None),
            (None, None),
        ] {
            let c = FieldChange {
                field: "name".into(),
                old,
                new,
            };
            let derived = DerivedChange {
                field: &c.field,
                old: c.old.as_ref(),
                new: c.new.as_ref(),
            };
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(
                serde_json::to_value(&c).unwrap(),
                serde_json::to_value(&derived).unwrap()
            );
            assert_eq!(
                serde_json::from_str::<FieldChange>(&text).unwrap(),
                c,
                "{text}"
            );
        }
        for r in [
            crate::EntityRef::new(7, "ops"),
            crate::EntityRef::id_only("x-1"),
        ] {
            let derived = DerivedRef {
                id: &r.id,
                display: r.display.as_deref(),
            };
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(
                serde_json::to_value(&r).unwrap(),
                serde_json::to_value(&derived).unwrap()
            );
            assert_eq!(
                serde_json::from_str::<crate::EntityRef>(&text).unwrap(),
                r,
                "{text}"
            );
        }
        assert_eq!(
            serde_json::to_string(&crate::EntityRef::new(7, "ops")).unwrap(),
            r#"{"display":"ops","id":"7"}"#
        );
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn password_change_has_no_value_on_the_wire() {
        let v = serde_json::to_value(UserChange::password_changed()).unwrap();
        assert_eq!(v, json!({"field": "password"}));
        let back: UserChange = serde_json::from_value(v).unwrap();
        assert_eq!(back, UserChange::PasswordChanged);
    }

    #[test]
    fn a_password_with_a_value_does_not_read_as_a_change() {
        let v = json!({"field": "password", "new": {"value": "hunter2"}});
        assert!(serde_json::from_value::<UserChange>(v).is_err());
    }

    #[test]
    fn field_values_are_tagged() {
        let c = FieldChange::new("name", "Ops", "Operations");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"field": "name", "old": {"value": "Ops"}, "new": {"value": "Operations"}})
        );
        let r = FieldValue::Redacted { fingerprint: None };
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({"redacted": {}}));
        assert_eq!(r.display(), "[redacted]");
    }
}

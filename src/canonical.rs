//! The canonical encoding of a record (the bytes its hash covers), as described in the
//! [`chain`](crate::chain) module docs.

use serde_json::Value;

use crate::digest::Digest;
use crate::event::Event;
use crate::record::{Record, TenantId};

/// Writes the canonical encoding described in the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Canonical {
            buf: Vec::with_capacity(n),
        }
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn len(&mut self, n: usize) {
        // Inputs are bounded far below 4 GiB by `Limits`; saturate rather than wrap if a
        // caller bypasses them, which still yields a distinct, deterministic encoding.
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&n.to_be_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.buf.push(0),
            Some(s) => {
                self.buf.push(1);
                self.str(s);
            }
        }
    }

    pub(crate) fn json(&mut self, v: &Value) {
        match v {
            Value::Null => self.buf.push(b'n'),
            Value::Bool(false) => self.buf.push(b'f'),
            Value::Bool(true) => self.buf.push(b't'),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.buf.push(b'i');
                    self.buf.extend_from_slice(&i.to_be_bytes());
                } else if let Some(u) = n.as_u64() {
                    self.buf.push(b'u');
                    self.buf.extend_from_slice(&u.to_be_bytes());
                } else {
                    self.buf.push(b'd');
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    self.buf.extend_from_slice(&f.to_bits().to_be_bytes());
                }
            }
            Value::String(s) => {
                self.buf.push(b's');
                self.str(s);
            }
            Value::Array(a) => {
                self.buf.push(b'a');
                self.len(a.len());
                for x in a {
                    self.json(x);
                }
            }
            Value::Object(m) => {
                self.buf.push(b'o');
                self.len(m.len());
                // serde_json's default map is sorted, but with its `preserve_order` feature
                // (which another crate in the host's tree may turn on) it is not: sort then.
                let sorted = m
                    .keys()
                    .zip(m.keys().skip(1))
                    .all(|(a, b)| a.as_bytes() < b.as_bytes());
                if sorted {
                    for (k, x) in m {
                        self.str(k);
                        self.json(x);
                    }
                } else {
                    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                    for (k, x) in entries {
                        self.str(k);
                        self.json(x);
                    }
                }
            }
        }
    }

    /// The `json` encoding of an event's wire object, written straight from the typed
    /// event: the same bytes as `self.json(&event.to_value())` without building the `Value`.
    pub(crate) fn event(&mut self, event: &Event) {
        if let Event::Unknown(u) = event {
            // Hashed over the JSON as stored, whatever a newer version put in it.
            self.json(&u.raw);
            return;
        }
        let mark = self.buf.len();
        if crate::event::encode::write::<crate::event::encode::CanonicalBytes>(&mut self.buf, event)
            .is_err()
        {
            self.buf.truncate(mark);
            self.json(&event.to_value());
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The canonical body of a record (everything but seq and the hashes). One parameter per
/// encoded field, in encoding order, so the signature reads like the table in the module docs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_body(
    tenant: &TenantId,
    id: &uuid::Uuid,
    occurred_at_micros: i64,
    actor: &crate::Actor,
    outcome: crate::Outcome,
    context: &crate::Context,
    schema_version: u32,
    event: &Event,
) -> Vec<u8> {
    let mut c = encode_envelope(
        tenant,
        id,
        occurred_at_micros,
        actor,
        outcome,
        context,
        schema_version,
    );
    c.event(event);
    c.into_bytes()
}

/// Every field of the body before the event.
fn encode_envelope(
    tenant: &TenantId,
    id: &uuid::Uuid,
    occurred_at_micros: i64,
    actor: &crate::Actor,
    outcome: crate::Outcome,
    context: &crate::Context,
    schema_version: u32,
) -> Canonical {
    let mut c = Canonical::with_capacity(512);
    c.raw(b"audit-log/record/v1\0");
    c.str(tenant.as_str());
    c.raw(id.as_bytes());
    c.raw(&occurred_at_micros.to_be_bytes());
    c.str(actor.kind.as_str());
    c.str(&actor.id);
    c.opt_str(actor.display.as_deref());
    c.str(outcome.as_str());
    let ip = context.ip.map(|ip| ip.to_string());
    c.opt_str(ip.as_deref());
    c.opt_str(context.user_agent.as_deref());
    c.opt_str(context.request_id.as_deref());
    c.opt_str(context.correlation_id.as_deref());
    c.opt_str(context.reason.as_deref());
    c.raw(&schema_version.to_be_bytes());
    c
}

/// The canonical body of a stored record.
pub fn canonical_body(r: &Record) -> Vec<u8> {
    encode_body(
        &r.tenant,
        &r.id,
        r.occurred_at.timestamp_micros(),
        &r.actor,
        r.outcome,
        &r.context,
        r.schema_version,
        &r.event,
    )
}

#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub use crate::event::encode::direct_encoding_for_tests;

/// [`canonical_body`] as it was computed before the direct encoder: through the event's
/// `serde_json::Value`. The reference the property tests hold the direct encoder to.
#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub fn canonical_body_via_value(r: &Record) -> Vec<u8> {
    let mut c = encode_envelope(
        &r.tenant,
        &r.id,
        r.occurred_at.timestamp_micros(),
        &r.actor,
        r.outcome,
        &r.context,
        r.schema_version,
    );
    c.json(&r.event.to_value());
    c.into_bytes()
}

/// The hash a record should have, recomputed from its content and its `prev_hash`.
pub fn compute_hash(r: &Record) -> Digest {
    r.chain.link(r.seq, &r.prev_hash, &canonical_body(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> Vec<u8> {
        let mut c = Canonical::default();
        c.json(v);
        c.into_bytes()
    }

    #[test]
    fn json_encoding_ignores_key_order_and_formatting() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [true, null, "x"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[true,null,"x"],"b":1}"#).unwrap();
        assert_eq!(enc(&a), enc(&b));
    }

    #[test]
    fn json_encoding_distinguishes_types_and_boundaries() {
        let cases = [
            json!(1),
            json!(1.0),
            json!("1"),
            json!(u64::MAX),
            json!(["ab", "c"]),
            json!(["a", "bc"]),
            json!({"a": "b"}),
            json!({"ab": ""}),
            json!(null),
            json!(false),
        ];
        for (i, x) in cases.iter().enumerate() {
            for (j, y) in cases.iter().enumerate() {
                if i != j {
                    assert_ne!(enc(x), enc(y), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn floats_encode_the_same_after_a_round_trip_through_json_text() {
        // Without serde_json's `float_roundtrip`, these parse back one ulp off.
        for f in [
            1.0715660391465826e-75,
            -1.81996730402717e-179,
            -1.603964615428183e143,
        ] {
            let v = json!({ "amount": f });
            let back: Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(enc(&back), enc(&v), "{f}");
        }
    }

    #[test]
    fn pinned_encoding_of_a_small_value() {
        assert_eq!(
            enc(&json!({"k": [1, "é"]})),
            [
                b'o', 0, 0, 0, 1, 0, 0, 0, 1, b'k', b'a', 0, 0, 0, 2, b'i', 0, 0, 0, 0, 0, 0, 0, 1,
                b's', 0, 0, 0, 2, 0xc3, 0xa9
            ]
        );
    }
}

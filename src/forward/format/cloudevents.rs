//! CloudEvents 1.0, structured JSON format.

use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use super::{percent_encode, Product};
use crate::error::{Error, Result};
use crate::record::Record;

/// The event: required `specversion`, `id` (the record id), `source`
/// (`/<product>/<tenant>`), `type` (`<product>.<event name>`); `time`, `subject` (the target
/// as `kind/id`), `datacontenttype` and `data` (the lossless record JSON); and extension
/// attributes `audittenant`, `auditseq`, `audithash`, `auditprevhash`, `auditchain`
/// (strings: CloudEvents integers are 32-bit, a seq may outgrow them).
pub(super) fn event(r: &Record, product: &Product) -> Result<Value> {
    let data = serde_json::to_value(r)
        .map_err(|e| Error::corrupt(r.seq, format!("cannot encode: {e}")))?;
    let mut m = Map::new();
    m.insert("specversion".into(), json!("1.0"));
    m.insert("id".into(), json!(r.id.to_string()));
    m.insert(
        "source".into(),
        json!(format!(
            "/{}/{}",
            percent_encode(&product.name),
            percent_encode(r.tenant.as_str())
        )),
    );
    m.insert(
        "type".into(),
        json!(format!("{}.{}", product.name, r.event.name())),
    );
    m.insert(
        "time".into(),
        json!(r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
    );
    if let Some(t) = r.event.target() {
        m.insert("subject".into(), json!(format!("{}/{}", t.kind, t.id)));
    }
    m.insert("datacontenttype".into(), json!("application/json"));
    m.insert("audittenant".into(), json!(r.tenant.as_str()));
    m.insert("auditseq".into(), json!(r.seq.to_string()));
    m.insert("audithash".into(), json!(r.hash.to_hex()));
    m.insert("auditprevhash".into(), json!(r.prev_hash.to_hex()));
    m.insert("auditchain".into(), json!(r.chain.as_str()));
    m.insert("data".into(), data);
    Ok(Value::Object(m))
}

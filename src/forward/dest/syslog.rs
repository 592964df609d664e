//! Syslog (RFC 5424) over TCP with octet-counted framing (RFC 6587) or over UDP (RFC 5426).

use std::fmt::Write as _;

use chrono::SecondsFormat;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

use crate::forward::destination::{Batch, BoxFuture, Delivery, DeliveryError, Destination};
use crate::record::Outcome;

/// The SD-ID of the structured data element every message carries. `32473` is the private
/// enterprise number RFC 5612 reserves for documentation and examples; a host with its own
/// number sets it with [`Syslog::sd_id`].
pub const DEFAULT_SD_ID: &str = "audit@32473";

/// Facility 13, "log audit" (RFC 5424 table 1).
pub const FACILITY_LOG_AUDIT: u8 = 13;

/// The largest UDP message sent (the IPv4 payload limit); a larger record is rejected.
const MAX_UDP: usize = 65_507;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

/// Sends each record as one RFC 5424 message:
///
/// ```text
/// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [audit@32473 tenant="…" seq="…" id="…" hash="…"] MSG
/// ```
///
/// - `PRI` is facility × 8 + severity: notice (5) for a success, warning (4) for a failure
///   or a refusal; the facility defaults to 13, log audit.
/// - `TIMESTAMP` is the record's `occurred_at` (UTC, microseconds); `MSGID` the event name
///   (printable ASCII, at most 32 characters, else `-`).
/// - The structured data element carries tenant, seq, id and hash, with `"`, `\` and `]`
///   escaped as RFC 5424 requires, so a receiver can de-duplicate and verify the chain
///   whatever the payload format.
/// - `MSG` is the route's encoding of the record (CEF is the usual choice); without a BOM
///   by default (many receivers, and CEF parsers, expect the payload to start at once), with
///   one if [`bom`](Self::bom) is set.
///
/// Over TCP each message is framed as `LEN SP MESSAGE` (octet counting), so payloads may
/// hold any byte. Syslog has no acknowledgement, so a batch counts as delivered once written
/// to the socket; to keep "at least once" across a receiver that closes the connection
/// (restart, idle timeout), the connection is checked before each batch and, when found
/// closed, the previous batch is sent again on the new connection before the next one. What
/// stays uncovered is a receiver dying after the very last batch of a run. A failed write
/// drops the connection and the batch is retried on a new one. Over UDP (no delivery
/// guarantee at all) a message larger than 65,507 bytes is rejected (dead-lettered).
#[derive(Debug)]
#[must_use]
pub struct Syslog {
    addr: String,
    transport: Transport,
    hostname: String,
    app_name: String,
    procid: String,
    sd_id: String,
    facility: u8,
    bom: bool,
    tcp: Mutex<Tcp>,
    udp: Mutex<Option<UdpSocket>>,
}

/// The TCP connection and the frames of the last batch written on it.
#[derive(Debug, Default)]
struct Tcp {
    stream: Option<TcpStream>,
    /// Written and counted as delivered, but syslog has no acknowledgement: if the
    /// connection turns out dead at the next batch, these go again first.
    last: Vec<u8>,
}

impl Syslog {
    fn new(addr: impl Into<String>, transport: Transport) -> Self {
        Syslog {
            addr: addr.into(),
            transport,
            hostname: header_field(&local_hostname(), 255),
            app_name: "audit-log".to_owned(),
            procid: std::process::id().to_string(),
            sd_id: DEFAULT_SD_ID.to_owned(),
            facility: FACILITY_LOG_AUDIT,
            bom: false,
            tcp: Mutex::new(Tcp::default()),
            udp: Mutex::new(None),
        }
    }

    /// Over TCP to `addr` (`host:port`), octet-counted framing.
    pub fn tcp(addr: impl Into<String>) -> Self {
        Self::new(addr, Transport::Tcp)
    }

    /// Over UDP to `addr` (`host:port`), one datagram per record.
    pub fn udp(addr: impl Into<String>) -> Self {
        Self::new(addr, Transport::Udp)
    }

    /// The HOSTNAME field (default: this machine's name).
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = header_field(name, 255);
        self
    }

    /// The APP-NAME field (default `audit-log`).
    pub fn app_name(mut self, name: &str) -> Self {
        self.app_name = header_field(name, 48);
        self
    }

    /// The facility, 0 to 23 (default 13, log audit; 10 is authpriv).
    pub fn facility(mut self, facility: u8) -> Self {
        self.facility = facility.min(23);
        self
    }

    /// The SD-ID of the structured data element (default [`DEFAULT_SD_ID`]).
    pub fn sd_id(mut self, id: &str) -> Self {
        let id: String = id
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"' | ' '))
            .take(32)
            .collect();
        if !id.is_empty() {
            self.sd_id = id;
        }
        self
    }

    /// Whether MSG starts with a UTF-8 byte order mark, as RFC 5424 asks of UTF-8 messages.
    pub fn bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// The RFC 5424 message of one record (without framing).
    pub fn message(&self, d: &Delivery) -> Vec<u8> {
        let r = &d.record;
        let severity = match r.outcome {
            Outcome::Success => 5,
            Outcome::Failure | Outcome::Denied => 4,
        };
        let pri = u16::from(self.facility) * 8 + severity;
        let mut s = String::with_capacity(256 + d.payload.len());
        let _ = write!(
            s,
            "<{pri}>1 {} {} {} {} {} [{} tenant=\"{}\" seq=\"{}\" id=\"{}\" hash=\"{}\"] ",
            r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.hostname,
            self.app_name,
            self.procid,
            header_field(r.event.name(), 32),
            self.sd_id,
            sd_value(r.tenant.as_str()),
            r.seq,
            r.id,
            r.hash.to_hex(),
        );
        let mut out = s.into_bytes();
        if self.bom {
            out.extend_from_slice("\u{FEFF}".as_bytes());
        }
        out.extend_from_slice(&d.payload);
        out
    }

    async fn send_tcp(&self, batch: &Batch) -> Result<(), DeliveryError> {
        let mut buf = Vec::new();
        for d in &batch.deliveries {
            let m = self.message(d);
            buf.extend_from_slice(m.len().to_string().as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(&m);
        }
        let mut guard = self.tcp.lock().await;
        let tcp = &mut *guard;
        // A receiver that closed the connection (restart, idle timeout) is seen here as
        // end-of-file; bytes written into a closed connection would vanish without an
        // error, so check before writing.
        let mut resend = false;
        if let Some(stream) = &tcp.stream {
            let mut probe = [0u8; 64];
            match stream.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Data from a syslog receiver is not expected; anything else is a dead peer.
                _ => {
                    tcp.stream = None;
                    resend = true;
                }
            }
        }
        if tcp.stream.is_none() {
            let s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| DeliveryError::transient(format!("connect {}: {e}", self.addr)))?;
            let _ = s.set_nodelay(true);
            tcp.stream = Some(s);
        }
        let Some(stream) = tcp.stream.as_mut() else {
            return Err(DeliveryError::transient("no connection"));
        };
        let r = async {
            if resend {
                // The previous batch may have died with the old connection: at least once.
                stream.write_all(&tcp.last).await?;
            }
            stream.write_all(&buf).await?;
            stream.flush().await
        }
        .await;
        if let Err(e) = r {
            tcp.stream = None;
            return Err(DeliveryError::transient(format!(
                "write to {}: {e}",
                self.addr
            )));
        }
        tcp.last = buf;
        Ok(())
    }

    async fn send_udp(&self, batch: &Batch) -> Result<(), DeliveryError> {
        let mut guard = self.udp.lock().await;
        if guard.is_none() {
            let local = if self.addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = UdpSocket::bind(local)
                .await
                .map_err(|e| DeliveryError::transient(format!("bind: {e}")))?;
            s.connect(&self.addr)
                .await
                .map_err(|e| DeliveryError::transient(format!("connect {}: {e}", self.addr)))?;
            *guard = Some(s);
        }
        let Some(sock) = guard.as_ref() else {
            return Err(DeliveryError::transient("no socket"));
        };
        for (i, d) in batch.deliveries.iter().enumerate() {
            let m = self.message(d);
            if m.len() > MAX_UDP {
                return Err(DeliveryError::rejected_at(
                    i,
                    format!(
                        "message of {} bytes exceeds the UDP limit of {MAX_UDP}",
                        m.len()
                    ),
                ));
            }
            if let Err(e) = sock.send(&m).await {
                *guard = None;
                return Err(DeliveryError::transient(format!(
                    "send to {}: {e}",
                    self.addr
                )));
            }
        }
        Ok(())
    }
}

impl Destination for Syslog {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            match self.transport {
                Transport::Tcp => self.send_tcp(batch).await,
                Transport::Udp => self.send_udp(batch).await,
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            if let Some(mut s) = self.tcp.lock().await.stream.take() {
                let _ = s.shutdown().await;
            }
            Ok(())
        })
    }
}

/// A header field: printable US-ASCII (33 to 126) only, at most `max` characters, `-` when
/// nothing is left (RFC 5424's NILVALUE).
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 section 6.3.3).
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_values_are_sanitised() {
        assert_eq!(header_field("user created", 32), "usercreated");
        assert_eq!(header_field("", 32), "-");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
        assert_eq!(sd_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }
}

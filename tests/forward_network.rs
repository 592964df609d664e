//! Syslog and webhook destinations against local receivers on 127.0.0.1 written here: an
//! RFC 5424 listener that parses every frame (TCP with octet counting, and UDP), and an
//! HTTP receiver that fails, times out, drops connections and answers 500 and 400 on
//! purpose and checks every request's signature.
#![cfg(feature = "forward")]

mod forward_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_log::forward::{
    Backoff, CursorStore, Delivery, Format, Forwarder, MemoryCursors, Product, Route, Start, Syslog,
};
use audit_log::{Actor, AuditLog, Entry, Event, Limits, MemorySink, Record};
use chrono::DateTime;
use forward_support::{all, fill, start, wait_for, within};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

const LIMIT: Duration = Duration::from_secs(30);

fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

/// One parsed RFC 5424 message.
#[derive(Debug, Clone)]
struct Frame {
    pri: u16,
    timestamp: String,
    hostname: String,
    app: String,
    msgid: String,
    sd_id: String,
    params: BTreeMap<String, String>,
    msg: Vec<u8>,
}

/// Parses `<PRI>1 TS HOST APP PROCID MSGID [SD-ID k="v" ...] MSG` strictly.
fn parse_5424(m: &[u8]) -> Frame {
    let text = std::str::from_utf8(m).expect("utf-8");
    let rest = text.strip_prefix('<').expect("<PRI>");
    let (pri, rest) = rest.split_once(">1 ").expect("PRI then version 1");
    let mut parts = rest.splitn(6, ' ');
    let timestamp = parts.next().unwrap().to_owned();
    let hostname = parts.next().unwrap().to_owned();
    let app = parts.next().unwrap().to_owned();
    let _procid = parts.next().unwrap();
    let msgid = parts.next().unwrap().to_owned();
    let sd = parts.next().unwrap();
    for f in [&timestamp, &hostname, &app, &msgid] {
        assert!(
            !f.is_empty() && f.chars().all(|c| c.is_ascii_graphic()),
            "header field {f:?}"
        );
    }
    assert!(msgid.len() <= 32 && app.len() <= 48);
    let sd = sd.strip_prefix('[').expect("one SD element");
    let (sd_id, mut body) = sd.split_once(' ').unwrap();
    let mut params = BTreeMap::new();
    loop {
        let (name, after) = body.split_once("=\"").expect("PARAM-NAME=\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("closing quote");
            match c {
                '\\' => value.push(chars.next().unwrap().1),
                '"' => break i,
                c => value.push(c),
            }
        };
        params.insert(name.to_owned(), value);
        body = &after[end + 1..];
        if let Some(msg) = body.strip_prefix("] ") {
            let offset = m.len() - msg.len();
            return Frame {
                pri: pri.parse().unwrap(),
                timestamp,
                hostname,
                app,
                msgid,
                sd_id: sd_id.to_owned(),
                params,
                msg: m[offset..].to_vec(),
            };
        }
        body = body.strip_prefix(' ').expect("space between params");
    }
}

fn check_frame(f: &Frame, r: &Record, format: Format) {
    let severity = if r.outcome == audit_log::Outcome::Success {
        5
    } else {
        4
    };
    assert_eq!(f.pri, 13 * 8 + severity);
    assert_eq!(
        DateTime::parse_from_rfc3339(&f.timestamp).unwrap(),
        r.occurred_at
    );
    assert_eq!(f.app, "audit-log");
    assert_eq!(f.hostname, "test-host");
    assert_eq!(f.msgid, r.event.name());
    assert_eq!(f.sd_id, "audit@32473");
    assert_eq!(f.params["tenant"], r.tenant.as_str());
    assert_eq!(f.params["seq"], r.seq.to_string());
    assert_eq!(f.params["id"], r.id.to_string());
    assert_eq!(f.params["hash"], r.hash.to_hex());
    assert_eq!(f.msg, format.encode(r, &Product::default()).unwrap());
}

/// Syslog over TCP: octet-counted RFC 5424 frames with CEF inside, parsed by the listener.
/// The listener drops the first connection after 5 frames, leaving records 6 and 7 of the
/// second batch unread in the dead connection; the forwarder finds the connection closed at
/// the next batch, reconnects and sends that batch again, and after de-duplication by id
/// every record is there once, in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_tcp_frames_parse_and_survive_a_dropped_connection() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    // A tenant name that needs SD escaping.
    let tenant = "acme \"eu\" [1]";
    fill(&log, tenant, 7);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frames = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let f2 = frames.clone();
    tokio::spawn(async move {
        let mut conn_no = 0;
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            conn_no += 1;
            let mut r = BufReader::new(sock);
            let mut n = 0;
            loop {
                let mut len = Vec::new();
                if r.read_until(b' ', &mut len).await.unwrap_or(0) == 0 {
                    break;
                }
                len.pop();
                let len: usize = std::str::from_utf8(&len)
                    .unwrap()
                    .parse()
                    .expect("octet count");
                let mut msg = vec![0; len];
                if r.read_exact(&mut msg).await.is_err() {
                    break;
                }
                f2.lock().unwrap().push(parse_5424(&msg));
                n += 1;
                if conn_no == 1 && n == 5 {
                    break; // drop the first connection mid-stream
                }
            }
        }
    });
    let dest = Syslog::tcp(addr.to_string()).hostname("test-host");
    let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new()).route(
        Route::new("siem", dest)
            .format(Format::Cef)
            .start(Start::Beginning)
            .batch_size(4)
            .backoff(fast())
            .poll_interval(Duration::from_millis(5)),
    );
    let running = start(f);
    wait_for("the first connection to read 5 frames", LIMIT, || {
        frames.lock().unwrap().len() >= 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    fill(&log, tenant, 23);
    let records = all(&store, tenant);
    wait_for("30 distinct records", LIMIT, || {
        let ids: std::collections::BTreeSet<String> = frames
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.params["id"].clone())
            .collect();
        ids.len() == 30
    })
    .await;
    within(LIMIT, running.stop()).await;
    let frames = frames.lock().unwrap().clone();
    let mut seen = std::collections::BTreeSet::new();
    let mut last = 0u64;
    for f in &frames {
        let seq: u64 = f.params["seq"].parse().unwrap();
        check_frame(f, &records[seq as usize - 1], Format::Cef);
        if seen.insert(f.params["id"].clone()) {
            assert_eq!(seq, last + 1, "first sightings come in seq order");
            last = seq;
        }
    }
    assert_eq!(last, 30);
}

/// Syslog over UDP: one datagram per record (record JSON inside), parsed; a record too large for a datagram is
/// dead-lettered with the reason, and the records after it still go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_udp_datagrams_and_an_oversized_record() {
    let store = MemorySink::new();
    let mut limits = Limits::default();
    limits.max_record_bytes = 256 * 1024;
    let log = AuditLog::builder(store.clone()).limits(limits).build();
    fill(&log, "acme", 3);
    let big = serde_json::json!({ "blob": "x".repeat(80_000) });
    log.record_entry(
        Entry::new(Actor::system(), Event::custom("billing.export", big)).tenant("acme"),
    )
    .unwrap();
    fill(&log, "acme", 2);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let frames = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let f2 = frames.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 70_000];
        loop {
            let n = sock.recv(&mut buf).await.unwrap();
            f2.lock().unwrap().push(parse_5424(&buf[..n]));
        }
    });
    let cursors = MemoryCursors::new();
    let f = Forwarder::new(Arc::new(store.clone()), cursors.clone()).route(
        Route::new("siem", Syslog::udp(addr.to_string()).hostname("test-host"))
            .format(Format::Record)
            .start(Start::Beginning)
            .backoff(fast())
            .poll_interval(Duration::from_millis(5)),
    );
    let running = start(f);
    wait_for("5 datagrams and a dead letter", LIMIT, || {
        frames.lock().unwrap().len() >= 5 && cursors.dead_letters("siem").unwrap().len() == 1
    })
    .await;
    within(LIMIT, running.stop()).await;
    let records = all(&store, "acme");
    let frames = frames.lock().unwrap().clone();
    let seqs: Vec<u64> = frames
        .iter()
        .map(|f| f.params["seq"].parse().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 5, 6]);
    for f in &frames {
        check_frame(
            f,
            &records[f.params["seq"].parse::<usize>().unwrap() - 1],
            Format::Record,
        );
    }
    let letter = &cursors.dead_letters("siem").unwrap()[0];
    assert_eq!(letter.seq, 4);
    assert!(letter.reason.contains("UDP limit"), "{}", letter.reason);
}

/// The syslog message of one record, as a unit: SD values escaped, header fields printable.
#[test]
fn syslog_message_escapes_structured_data() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    fill(&log, "a]b\"c\\d", 1);
    let r = all(&store, "a]b\"c\\d").remove(0);
    let d = Delivery {
        payload: b"payload".to_vec(),
        record: r.clone(),
    };
    let m = Syslog::tcp("127.0.0.1:1").hostname("h o s t").message(&d);
    let text = String::from_utf8(m.clone()).unwrap();
    assert!(text.contains(r#"tenant="a\]b\"c\\d""#), "{text}");
    let f = parse_5424(&m);
    assert_eq!(f.params["tenant"], "a]b\"c\\d");
    assert_eq!(f.hostname, "host");
    assert_eq!(f.msg, b"payload");
}

#[cfg(feature = "webhook")]
mod webhook {
    use super::*;
    use audit_log::forward::signature::{self, SIGNATURE_HEADER};
    use audit_log::forward::Webhook;

    const SECRET: &[u8] = b"test-secret";

    /// What the receiver does with request number `n` carrying `body`.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Answer {
        Status(u16),
        Hang,
        Close,
    }

    #[derive(Debug, Clone)]
    struct Request {
        at: std::time::Instant,
        body: Vec<u8>,
        signature_ok: bool,
        answer: Answer,
    }

    type Script = dyn Fn(usize, &[u8]) -> Answer + Send + Sync;

    /// An HTTP/1.1 receiver on 127.0.0.1 that checks each request's signature, logs it,
    /// and answers as `script` says (401 for a bad signature).
    async fn receiver(script: Arc<Script>) -> (String, Arc<Mutex<Vec<Request>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/audit", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let (script, log) = (script.clone(), log2.clone());
                tokio::spawn(async move {
                    let mut r = BufReader::new(sock);
                    loop {
                        let mut headers = BTreeMap::new();
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        assert!(line.starts_with("POST /audit HTTP/1.1"), "{line}");
                        loop {
                            let mut h = String::new();
                            r.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                        let len: usize = headers["content-length"].parse().unwrap();
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).await.unwrap();
                        assert_eq!(headers["content-type"], "application/json");
                        let sig = headers.get(&SIGNATURE_HEADER.to_ascii_lowercase());
                        let now = chrono::Utc::now().timestamp();
                        let signature_ok = sig
                            .is_some_and(|s| signature::verify(SECRET, s, &body, now, 300).is_ok());
                        let n = log.lock().unwrap().len();
                        let answer = if signature_ok {
                            script(n, &body)
                        } else {
                            Answer::Status(401)
                        };
                        log.lock().unwrap().push(Request {
                            at: std::time::Instant::now(),
                            body: body.clone(),
                            signature_ok,
                            answer,
                        });
                        match answer {
                            Answer::Status(code) => {
                                let resp = format!(
                                    "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nno"
                                );
                                if r.get_mut().write_all(resp.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            Answer::Hang => {
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                return;
                            }
                            Answer::Close => return,
                        }
                    }
                });
            }
        });
        (url, log)
    }

    fn body_records(body: &[u8]) -> Vec<Record> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_value(r.clone()).unwrap())
            .collect()
    }

    /// 500, a hang past the timeout and a dropped connection are retried with growing
    /// delays; then every batch arrives signed, in order, with the records whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_retries_failures_and_signs_every_batch() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        fill(&log, "acme", 12);
        let (url, requests) = receiver(Arc::new(|n, _| match n {
            0 => Answer::Status(500),
            1 => Answer::Hang,
            2 => Answer::Close,
            3 => Answer::Status(503),
            _ => Answer::Status(200),
        }))
        .await;
        let hook = Webhook::new(url)
            .secret(SECRET)
            .timeout(Duration::from_millis(300));
        let f = Forwarder::new(Arc::new(store.clone()), MemoryCursors::new()).route(
            Route::new("hook", hook)
                .start(Start::Beginning)
                .batch_size(5)
                .backoff(fast())
                .poll_interval(Duration::from_millis(5)),
        );
        let status = f.status();
        let running = start(f);
        wait_for("12 records", LIMIT, || {
            status.get("hook").unwrap().delivered >= 12
        })
        .await;
        within(LIMIT, running.stop()).await;
        let reqs = requests.lock().unwrap().clone();
        assert!(
            reqs.iter().all(|r| r.signature_ok),
            "every request is signed"
        );
        let answers: Vec<Answer> = reqs.iter().map(|r| r.answer).collect();
        assert_eq!(
            &answers[..4],
            &[
                Answer::Status(500),
                Answer::Hang,
                Answer::Close,
                Answer::Status(503)
            ]
        );
        // The first five requests carry the same batch.
        assert!(reqs[..5]
            .iter()
            .all(|r| r.body_seqs() == vec![1, 2, 3, 4, 5]));
        // Backoff: waits grow (the hang adds its own timeout on top).
        let gap = |i: usize| reqs[i + 1].at - reqs[i].at;
        assert!(gap(3) >= fast().nominal(3) / 2, "{:?}", gap(3));
        let delivered: Vec<Record> = reqs
            .iter()
            .filter(|r| r.answer == Answer::Status(200))
            .flat_map(|r| body_records(&r.body))
            .collect();
        assert_eq!(delivered, all(&store, "acme"));
        let s = status.get("hook").unwrap();
        assert_eq!(s.failed_attempts, 4);
        // A tampered body fails the receiver's check.
        let mut tampered = reqs[5].body.clone();
        tampered[10] ^= 1;
        let header = signature::sign(SECRET, 1000, &reqs[5].body);
        assert!(signature::verify(SECRET, &header, &tampered, 1000, 0).is_err());
    }

    impl Request {
        fn body_seqs(&self) -> Vec<u64> {
            body_records(&self.body).iter().map(|r| r.seq).collect()
        }
    }

    /// A 400 for any batch holding record 4: the forwarder narrows the batch down, the
    /// receiver gets every other record, and record 4 is a dead letter naming the answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_400_dead_letters_only_the_refused_record() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        fill(&log, "acme", 8);
        let bad_id = all(&store, "acme")[3].id.to_string();
        let (url, requests) = receiver(Arc::new(move |_, body| {
            if String::from_utf8_lossy(body).contains(&bad_id) {
                Answer::Status(400)
            } else {
                Answer::Status(200)
            }
        }))
        .await;
        let cursors = MemoryCursors::new();
        let f = Forwarder::new(Arc::new(store.clone()), cursors.clone()).route(
            Route::new("hook", Webhook::new(url).secret(SECRET))
                .start(Start::Beginning)
                .batch_size(8)
                .backoff(fast())
                .poll_interval(Duration::from_millis(5)),
        );
        let running = start(f);
        wait_for("a dead letter", LIMIT, || {
            cursors.dead_letters("hook").unwrap().len() == 1
        })
        .await;
        wait_for("the rest", LIMIT, || {
            requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.answer == Answer::Status(200))
                .map(|r| r.body_seqs().len())
                .sum::<usize>()
                >= 7
        })
        .await;
        within(LIMIT, running.stop()).await;
        let ok: Vec<u64> = requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.answer == Answer::Status(200))
            .flat_map(|r| r.body_seqs())
            .collect();
        assert_eq!(ok, vec![1, 2, 3, 5, 6, 7, 8]);
        let letter = &cursors.dead_letters("hook").unwrap()[0];
        assert_eq!(letter.seq, 4);
        assert!(letter.reason.contains("400"), "{}", letter.reason);
    }
}

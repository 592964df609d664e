//! Property tests: arbitrary events and records survive JSON and the memory store unchanged,
//! their hashes survive re-serialization, any sequence of valid appends verifies, and any
//! text is either recorded faithfully or refused with `Error::InvalidInput`, never a panic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use audit_log::chain::{self, canonical_body};
use audit_log::*;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Any text at all (control characters, astral planes, empty): for pure round trips.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        1 => "\\PC{0,12}",
        1 => Just(String::new()),
        1 => "[\u{0}-\u{1f}\"\\\\/\u{7f}\u{2028}\u{fffd}\u{1F600}]{0,8}",
    ]
}

/// Mostly printable text, sometimes anything: both sides of the log's checks.
fn mostly_printable() -> impl Strategy<Value = String> {
    prop_oneof![5 => "\\PC{1,16}", 1 => any_text()]
}

/// Text the log accepts as a display snapshot: printable, bounded.
fn display_text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

/// Text the log accepts as an id: printable, bounded, not blank. (`\PC` lets through the
/// line and paragraph separators, which identifiers may not hold: see `audit_log::text`.)
fn id_text() -> impl Strategy<Value = String> {
    "\\PC{0,12}[a-zA-Z0-9\u{e9}\u{4e2d}\u{1F600}]\\PC{0,12}".prop_filter("no line separator", |s| {
        !s.contains(['\u{2028}', '\u{2029}'])
    })
}

fn entity_id(text: BoxedStrategy<String>) -> impl Strategy<Value = EntityId> {
    prop_oneof![
        any::<i64>().prop_map(EntityId::from),
        any::<u64>().prop_map(EntityId::from),
        any::<u128>().prop_map(|u| EntityId::from(Uuid::from_u128(u))),
        text.prop_map(EntityId::from),
    ]
}

/// An entity reference; `valid` restricts it to what the log accepts.
fn entity_ref(valid: bool) -> BoxedStrategy<EntityRef> {
    let (id, display) = if valid {
        (id_text().boxed(), display_text().boxed())
    } else {
        (any_text().boxed(), any_text().boxed())
    };
    (entity_id(id), proptest::option::of(display))
        .prop_map(|(id, display)| EntityRef { id, display })
        .boxed()
}

/// Any JSON value: nested arrays and objects, floats of every magnitude, integers beyond
/// i64, unicode keys and strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (i64::MAX as u64..=u64::MAX).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just(0.1),
            Just(-0.0),
            Just(1e300),
            Just(5e-324),
            Just(120.5)
        ]
        .prop_map(Value::from),
        any_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(any_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn fingerprint() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        proptest::array::uniform32(any::<u8>()).prop_map(|b| format!("hmac-sha256:{}", hex(&b))),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        4 => json_value().prop_map(FieldValue::Value),
        1 => fingerprint().prop_map(|fingerprint| FieldValue::Redacted { fingerprint }),
    ]
}

/// A field name; valid ones are what the log accepts and never a user's password.
fn field_name(valid: bool) -> BoxedStrategy<String> {
    if valid {
        prop_oneof![
            Just("name".to_owned()),
            Just("description".to_owned()),
            Just("api_token".to_owned()),
            Just("client secret".to_owned()),
            id_text(),
        ]
        .prop_filter("not a password field", |n| !is_password_like(n))
        .boxed()
    } else {
        any_text()
            .prop_filter("a password field cannot round-trip as a field", |n| {
                n != "password"
            })
            .boxed()
    }
}

fn is_password_like(n: &str) -> bool {
    let n: String = n
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    n == "password" || n == "passwd" || n == "passwordhash"
}

fn attributes(valid: bool) -> impl Strategy<Value = Attributes> {
    proptest::collection::btree_map(field_name(valid), field_value(), 0..4)
}

fn field_change(valid: bool) -> impl Strategy<Value = FieldChange> {
    (
        field_name(valid),
        proptest::option::of(field_value()),
        proptest::option::of(field_value()),
    )
        .prop_map(|(field, old, new)| FieldChange { field, old, new })
}

fn user_change(valid: bool) -> impl Strategy<Value = UserChange> {
    prop_oneof![
        1 => Just(UserChange::PasswordChanged),
        4 => field_change(valid).prop_map(UserChange::Field),
    ]
}

fn scope(valid: bool) -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::System),
        entity_ref(valid).prop_map(Scope::workspace),
        (entity_ref(valid), proptest::option::of(entity_ref(valid))).prop_map(
            |(application, workspace)| Scope::Application {
                application,
                workspace
            }
        ),
    ]
}

fn permission_group(valid: bool) -> impl Strategy<Value = PermissionGroupRef> {
    (entity_ref(valid), scope(valid)).prop_map(|(r, scope)| PermissionGroupRef {
        id: r.id,
        display: r.display,
        scope,
    })
}

fn entity_kind() -> impl Strategy<Value = EntityKind> {
    prop_oneof![
        Just(EntityKind::User),
        Just(EntityKind::Group),
        Just(EntityKind::Application),
        Just(EntityKind::Workspace),
        Just(EntityKind::PermissionGroup),
        // A built-in name given as `Other` reads back as the built-in kind; not generated.
        "[a-z_]{1,12}"
            .prop_filter("not a built-in kind", |k| {
                matches!(EntityKind::parse(k), EntityKind::Other(_))
            })
            .prop_map(EntityKind::Other),
    ]
}

fn custom_event(valid: bool) -> impl Strategy<Value = CustomEvent> {
    let name = if valid {
        "[a-z][a-z0-9_]{0,8}(\\.[a-z0-9_]{1,10}){1,2}"
            .prop_filter("not a reserved family", |n| {
                let family = n.split('.').next().unwrap_or_default();
                !audit_log::event::RESERVED_FAMILIES.contains(&family)
            })
            .boxed()
    } else {
        any_text().boxed()
    };
    (
        name,
        proptest::option::of((entity_kind(), entity_ref(valid))),
        proptest::option::of((entity_kind(), entity_ref(valid))),
        json_value(),
    )
        .prop_map(|(name, target, related, payload)| CustomEvent {
            name,
            target: target.map(|(kind, entity)| CustomEntity { kind, entity }),
            related: related.map(|(kind, entity)| CustomEntity { kind, entity }),
            payload,
        })
}

/// Every event a host can record; `valid` restricts it to what the log accepts.
fn host_event(valid: bool) -> impl Strategy<Value = Event> {
    let r = move || entity_ref(valid);
    let min_user_changes = usize::from(valid);
    prop_oneof![
        (r(), attributes(valid)).prop_map(|(user, attributes)| {
            let mut e = UserCreated::new(user);
            e.attributes = attributes;
            Event::UserCreated(e)
        }),
        (
            r(),
            proptest::collection::vec(user_change(valid), min_user_changes..4)
        )
            .prop_map(|(u, c)| Event::user_edited(u, c)),
        r().prop_map(Event::user_deleted),
        (r(), r()).prop_map(|(u, g)| Event::user_added_to_group(u, g)),
        (r(), r()).prop_map(|(u, g)| Event::user_removed_from_group(u, g)),
        (r(), attributes(valid)).prop_map(|(group, attributes)| Event::GroupCreated(
            GroupCreated { group, attributes }
        )),
        (r(), proptest::collection::vec(field_change(valid), 0..4))
            .prop_map(|(g, c)| Event::group_edited(g, c)),
        r().prop_map(Event::group_deleted),
        (r(), r()).prop_map(|(g, p)| Event::group_added_to_group(g, p)),
        (r(), r()).prop_map(|(g, p)| Event::group_removed_from_group(g, p)),
        (r(), r(), attributes(valid)).prop_map(|(application, workspace, attributes)| {
            Event::ApplicationCreated(ApplicationCreated {
                application,
                workspace,
                attributes,
            })
        }),
        (
            r(),
            r(),
            proptest::collection::vec(field_change(valid), 0..4)
        )
            .prop_map(|(a, w, c)| Event::application_edited(a, w, c)),
        (r(), r()).prop_map(|(a, w)| Event::application_deleted(a, w)),
        (r(), attributes(valid)).prop_map(|(workspace, attributes)| {
            Event::WorkspaceCreated(WorkspaceCreated {
                workspace,
                attributes,
            })
        }),
        (r(), proptest::collection::vec(field_change(valid), 0..4))
            .prop_map(|(w, c)| Event::workspace_edited(w, c)),
        r().prop_map(Event::workspace_deleted),
        (r(), permission_group(valid)).prop_map(|(u, p)| Event::permission_user_added(u, p)),
        (r(), permission_group(valid)).prop_map(|(u, p)| Event::permission_user_removed(u, p)),
        (r(), permission_group(valid)).prop_map(|(g, p)| Event::permission_group_added(g, p)),
        (r(), permission_group(valid)).prop_map(|(g, p)| Event::permission_group_removed(g, p)),
        (
            // An export's format is an identifier (see `audit_log::text`).
            if valid {
                id_text().boxed()
            } else {
                any_text().boxed()
            },
            json_value(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(format, query, count, first_seq, last_seq)| {
                Event::AuditExported(AuditExported {
                    format,
                    query,
                    count,
                    first_seq,
                    last_seq,
                })
            }),
        custom_event(valid).prop_map(Event::Custom),
    ]
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970 .. 2200, whole microseconds: the precision the trail keeps.
    (0i64..7_258_118_400_000_000).prop_map(|us| DateTime::from_timestamp_micros(us).unwrap())
}

/// Every event, including those only a store writes and those from a newer version.
fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => host_event(false),
        1 => (any::<u64>(), proptest::array::uniform32(any::<u8>()), any::<u64>(),
              proptest::option::of(time()))
            .prop_map(|(through_seq, h, count, before)| Event::AuditPurged(AuditPurged {
                through_seq,
                anchor_hash: Digest(h),
                count,
                before,
                // The snapshot's encoding is pinned by its own tests; here any JSON object.
                state: (count % 3 == 0).then(|| serde_json::json!({"version": 1, "seq": through_seq})),
            })),
        1 => ("future\\.[a-z_]{1,10}", proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..4))
            .prop_map(|(name, fields)| {
                let mut m: Map<String, Value> = fields.into_iter().collect();
                m.insert("event".into(), Value::String(name));
                Event::from_value(Value::Object(m)).unwrap()
            }),
    ]
}

fn actor(valid: bool) -> impl Strategy<Value = Actor> {
    let (id, display) = if valid {
        (id_text().boxed(), display_text().boxed())
    } else {
        (any_text().boxed(), any_text().boxed())
    };
    (
        prop_oneof![
            Just(ActorKind::User),
            Just(ActorKind::Service),
            Just(ActorKind::System)
        ],
        id,
        proptest::option::of(display),
    )
        .prop_map(|(kind, id, display)| Actor { kind, id, display })
}

fn context(valid: bool) -> impl Strategy<Value = Context> {
    let (text, id) = if valid {
        (display_text().boxed(), id_text().boxed())
    } else {
        (any_text().boxed(), any_text().boxed())
    };
    let reason = if valid {
        "[\\PC\n\t]{0,40}".boxed()
    } else {
        any_text().boxed()
    };
    (
        proptest::option::of(any::<IpAddr>()),
        proptest::option::of(text),
        proptest::option::of(id.clone()),
        proptest::option::of(id),
        proptest::option::of(reason),
    )
        .prop_map(
            |(ip, user_agent, request_id, correlation_id, reason)| Context {
                ip,
                user_agent,
                request_id,
                correlation_id,
                reason,
            },
        )
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Denied)
    ]
}

fn any_record() -> impl Strategy<Value = Record> {
    (
        (1u64.., any::<u128>(), time(), any_text(), actor(false)),
        (any_event(), outcome(), context(false)),
        (
            prop_oneof![Just(ChainAlgorithm::Sha256), Just(ChainAlgorithm::Blake3)],
            proptest::array::uniform32(any::<u8>()),
            proptest::array::uniform32(any::<u8>()),
        ),
    )
        .prop_map(
            |((seq, id, occurred_at, tenant, actor), (event, outcome, context), (chain, p, h))| {
                Record {
                    seq,
                    id: Uuid::from_u128(id),
                    occurred_at,
                    tenant: TenantId::new(tenant),
                    actor,
                    event,
                    outcome,
                    context,
                    schema_version: RECORD_FORMAT_VERSION,
                    chain,
                    prev_hash: Digest(p),
                    hash: Digest(h),
                    // Records of keyed chains carry a seal; it round-trips like the hashes.
                    seal: (h[0] % 2 == 0).then_some(Digest(p)),
                }
            },
        )
}

/// An entry the log accepts.
fn valid_entry() -> impl Strategy<Value = Entry> {
    (
        host_event(true),
        actor(true),
        outcome(),
        context(true),
        proptest::option::of(prop_oneof![Just("acme"), Just("globex"), Just("default")]),
    )
        .prop_map(|(event, actor, outcome, context, tenant)| {
            let e = Entry::new(actor, event).outcome(outcome).context(context);
            match tenant {
                Some(t) => e.tenant(t),
                None => e,
            }
        })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn redacted(mut e: Event) -> Event {
    RedactionPolicy::default().apply(&mut e);
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_round_trip_through_json(e in any_event()) {
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.is_known(), e.is_known());
        prop_assert_eq!(Event::from_value(e.to_value()).unwrap(), e.clone());
        let pretty = serde_json::to_string_pretty(&e).unwrap();
        prop_assert_eq!(serde_json::from_str::<Event>(&pretty).unwrap(), e);
    }

    /// The canonical body and the wire JSON text are written straight from the typed event;
    /// they are byte for byte what the event's `serde_json::Value` gives.
    #[test]
    fn direct_encoding_matches_the_value_path(r in any_record()) {
        // Known events take the direct path, not the fallback to the `Value` one.
        let direct = chain::direct_encoding_for_tests(&r.event);
        prop_assert!(direct.is_some() || !r.event.is_known());
        prop_assert_eq!(canonical_body(&r), chain::canonical_body_via_value(&r));
        let text = r.event.to_json();
        prop_assert_eq!(&text, &r.event.to_value().to_string());
        if let Some((bytes, direct_text)) = direct {
            prop_assert!(canonical_body(&r).ends_with(&bytes));
            prop_assert_eq!(&direct_text, &text);
        }
        prop_assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), r.event);
    }

    #[test]
    fn records_round_trip_through_json_with_the_same_canonical_body(r in any_record()) {
        let text = serde_json::to_string(&r).unwrap();
        let back: Record = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(canonical_body(&back), canonical_body(&r));
        prop_assert_eq!(chain::compute_hash(&back), chain::compute_hash(&r));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Valid entries, recorded one by one or in batches across tenants, read back equal to
    /// what was recorded (after redaction), their hashes survive JSON, and every tenant's
    /// chain verifies.
    #[test]
    fn valid_appends_read_back_equal_and_verify(
        entries in proptest::collection::vec(valid_entry(), 1..10),
        batch_split in 0usize..10,
        algorithm in prop_oneof![Just(ChainAlgorithm::Sha256), Just(ChainAlgorithm::Blake3)],
    ) {
        let store = MemorySink::with_algorithm(algorithm);
        let log = AuditLog::builder(store.clone()).build();
        let split = batch_split.min(entries.len());
        let mut receipts = Vec::new();
        for e in &entries[..split] {
            receipts.push(log.record_entry(e.clone()).unwrap());
        }
        receipts.extend(log.record_batch(entries[split..].iter().cloned()).unwrap());

        let mut per_tenant: BTreeMap<TenantId, Vec<(&Entry, Receipt)>> = BTreeMap::new();
        for (e, r) in entries.iter().zip(receipts) {
            let t = e.tenant.clone().unwrap_or_default();
            per_tenant.entry(t).or_default().push((e, r));
        }
        for (tenant, expected) in &per_tenant {
            let stored: Vec<Record> = store
                .query(&Query::for_tenant(tenant.clone()))
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
            prop_assert_eq!(stored.len(), expected.len());
            for (i, (r, (e, receipt))) in stored.iter().zip(expected).enumerate() {
                prop_assert_eq!(r.seq, i as u64 + 1);
                prop_assert_eq!(r.seq, receipt.seq);
                prop_assert_eq!(r.hash, receipt.hash);
                prop_assert_eq!(&r.event, &redacted(e.event.clone()));
                prop_assert_eq!(&r.actor, &e.actor);
                prop_assert_eq!(r.outcome, e.outcome);
                prop_assert_eq!(&r.context, &e.context);
                prop_assert_eq!(&r.tenant, tenant);
                prop_assert_eq!(r.chain, algorithm);
                // The hash recomputes from the record read back from its JSON.
                let back: Record = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
                prop_assert_eq!(&back, r);
                prop_assert_eq!(chain::compute_hash(&back), r.hash);
            }
            let report = store.verify(tenant).unwrap();
            prop_assert!(report.is_intact(), "{}", report);
            prop_assert_eq!(report.count, expected.len() as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The text rule (`audit_log::text`): display text kept or cut-and-marked, identifiers strict
// ---------------------------------------------------------------------------------------

/// The stored record of the only entry in `store`'s default tenant.
fn only_record(store: &MemorySink) -> Record {
    let records = store.records();
    assert_eq!(records.len(), 1, "one record stored");
    records.into_iter().next().unwrap()
}

/// A user who typed a terminal escape, a NUL, a bell and a bidi override into their names
/// still gets their change recorded, with the text exactly as typed.
#[test]
fn control_characters_in_display_text_are_kept_exactly() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let group = "Ops\u{1b}[2J\u{0}\u{7}";
    let actor = "root\u{202e}nimda";
    let reason = "ticket\u{1b}]8;;http://x\u{7}\r\nline 2\u{85}";
    let agent = "curl/8\u{1b}[31m\u{9b}";
    let entry = Entry::new(
        Actor::user(1, actor),
        Event::user_added_to_group(
            EntityRef::new(42, "alice\u{2066}"),
            EntityRef::new(7, group),
        ),
    )
    .context(Context::new().reason(reason).user_agent(agent));
    log.record_entry(entry)
        .expect("display text is never refused");
    let r = only_record(&store);
    let Event::UserAddedToGroup(m) = &r.event else {
        panic!("{:?}", r.event)
    };
    assert_eq!(m.group.display.as_deref(), Some(group));
    assert_eq!(m.user.display.as_deref(), Some("alice\u{2066}"));
    assert_eq!(r.actor.display.as_deref(), Some(actor));
    assert_eq!(r.context.reason.as_deref(), Some(reason));
    assert_eq!(r.context.user_agent.as_deref(), Some(agent));
    assert!(store.verify(&TenantId::default()).unwrap().is_intact());
}

/// Over-long display text is cut at a character boundary, marked with how long it was, and
/// the record is written.
#[test]
fn over_long_display_text_is_cut_at_a_character_boundary_and_marked() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let long = "é".repeat(600); // 1200 bytes, over the 512-byte limit
    let reason = "x".repeat(5000); // over the 4096-byte limit
    let entry = Entry::new(
        Actor::user(1, long.as_str()),
        Event::user_deleted(EntityRef::new(42, long.as_str())),
    )
    .context(Context::new().reason(reason.as_str()));
    log.record_entry(entry)
        .expect("over-long display text is cut, not refused");
    let r = only_record(&store);
    let Event::UserDeleted(d) = &r.event else {
        panic!()
    };
    for (kept, limit) in [
        (d.user.display.as_deref().unwrap(), 512),
        (r.actor.display.as_deref().unwrap(), 512),
    ] {
        let prefix = kept
            .strip_suffix("…[cut from 1200 bytes]")
            .unwrap_or_else(|| panic!("marked: {kept}"));
        assert!(kept.len() <= limit, "{} bytes", kept.len());
        assert!(long.starts_with(prefix) && !prefix.is_empty());
        // As much as fits: one more character would not.
        assert!(kept.len() + 2 > limit, "{} bytes", kept.len());
    }
    let reason_kept = r.context.reason.as_deref().unwrap();
    assert!(
        reason_kept.ends_with("…[cut from 5000 bytes]"),
        "{reason_kept}"
    );
    assert!(reason_kept.len() <= 4096 && reason_kept.len() > 4000);
}

/// A user's login name, full name and e-mail (created or changed) follow the display-text
/// rule: controls kept as typed, 10 000 characters cut and marked.
#[test]
fn a_users_names_and_email_follow_the_display_text_rule() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let huge = "a".repeat(10_000);
    let alice = EntityRef::new(42, "alice");
    log.record(
        &Actor::system(),
        UserCreated::new(alice.clone())
            .login_name(huge.as_str())
            .full_name("Alice\u{0}\u{1b}[8m Liddell")
            .email("a@example.com\r\nBcc: x@evil"),
    )
    .unwrap();
    log.record(
        &Actor::system(),
        Event::user_edited(
            alice,
            vec![UserChange::full_name("Alice\u{0}", huge.as_str())],
        ),
    )
    .unwrap();
    let records = store.records();
    let Event::UserCreated(c) = &records[0].event else {
        panic!()
    };
    let text = |name: &str| {
        c.attributes[name]
            .as_value()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(text("login_name").ends_with("…[cut from 10000 bytes]"));
    assert!(text("login_name").len() <= 512);
    assert_eq!(text("full_name"), "Alice\u{0}\u{1b}[8m Liddell");
    assert_eq!(text("email"), "a@example.com\r\nBcc: x@evil");
    let Event::UserEdited(e) = &records[1].event else {
        panic!()
    };
    let UserChange::Field(f) = &e.changes[0] else {
        panic!()
    };
    assert_eq!(f.old, Some(FieldValue::from("Alice\u{0}")));
    let new = f
        .new
        .as_ref()
        .unwrap()
        .as_value()
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        new.ends_with("…[cut from 10000 bytes]") && new.len() <= 512,
        "{new}"
    );
}

/// Only a user's login name, full name and e-mail are display text: a field of the host's
/// own on a user is host data, kept whole however long, and never read as cut even when it
/// ends like a marker.
#[test]
fn a_users_other_fields_are_host_data_kept_whole() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let long = "n".repeat(2000);
    let marked = "nick…[cut from 99 bytes]";
    log.record(
        &Actor::system(),
        UserCreated::new(alice())
            .attribute("nickname", long.as_str())
            .attribute("motto", marked),
    )
    .unwrap();
    log.record(
        &Actor::system(),
        Event::user_edited(
            alice(),
            vec![UserChange::other("nickname", marked, long.as_str())],
        ),
    )
    .unwrap();
    let records = store.records();
    let Event::UserCreated(c) = &records[0].event else {
        panic!()
    };
    assert_eq!(c.attributes["nickname"], FieldValue::from(long.as_str()));
    let Event::UserEdited(e) = &records[1].event else {
        panic!()
    };
    let UserChange::Field(f) = &e.changes[0] else {
        panic!()
    };
    assert_eq!(f.new, Some(FieldValue::from(long.as_str())));
    for r in &records {
        assert_eq!(r.cut_fields(), Vec::new(), "#{}", r.seq);
    }
}

/// Identifiers stay strict: a control character or a bidi override in an id, a tenant or a
/// request id is refused with the field named, and nothing is written.
#[test]
fn identifiers_with_controls_or_bidi_overrides_are_refused_with_the_field() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let ok = || {
        Entry::new(
            Actor::user(1, "root"),
            Event::user_deleted(EntityRef::new(42, "a")),
        )
    };
    let cases: Vec<(Entry, &str)> = vec![
        (
            Entry::new(
                Actor::user(1, "root"),
                Event::user_deleted(EntityRef::new("4\u{202e}2", "a")),
            ),
            "event.user.id",
        ),
        (
            Entry::new(
                Actor::user("r\u{1b}", "root"),
                Event::user_deleted(EntityRef::new(42, "a")),
            ),
            "actor.id",
        ),
        (ok().tenant("acme\u{2067}"), "tenant"),
        (ok().tenant("acme\u{0}"), "tenant"),
        (
            ok().context(Context::new().request_id("req\u{2029}1")),
            "context.request_id",
        ),
        (
            ok().context(Context::new().correlation_id("c\u{9b}1")),
            "context.correlation_id",
        ),
    ];
    for (entry, field) in cases {
        match log.record_entry(entry) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a refusal, got {other:?}"),
        }
    }
    assert!(store.records().is_empty());
}

/// How the text rule treats one field: display text with its limit, an identifier with its
/// limit, or a name of the vocabulary (a custom event's name, a custom entity kind).
#[derive(Debug, Clone, Copy)]
enum TextKind {
    Display(usize),
    Identifier(usize),
    EventName,
    KindName,
}

/// One text field an entry can hold: its path (as errors and `cut_fields` name it), its
/// kind, an otherwise valid entry with `text` in it, and where the record's JSON keeps it.
struct TextField {
    path: &'static str,
    kind: TextKind,
    put: fn(&str) -> Entry,
    get: fn(&Value) -> Option<String>,
}

fn root() -> Actor {
    Actor::user(1, "root")
}
fn alice() -> EntityRef {
    EntityRef::new(42, "alice")
}
fn at(r: &Value, pointer: &str) -> Option<String> {
    r.pointer(pointer)?.as_str().map(str::to_owned)
}
fn pg(display: &str, scope: Scope) -> PermissionGroupRef {
    PermissionGroupRef::new(9, display, scope)
}
fn custom() -> CustomEvent {
    CustomEvent::new("billing.noted", Value::Null)
}

/// Every text field of an entry. A new text field belongs here.
fn text_fields() -> Vec<TextField> {
    use TextKind::*;
    vec![
        // Display text.
        TextField {
            path: "actor.display",
            kind: Display(512),
            put: |t| Entry::new(Actor::user(1, t), Event::user_deleted(alice())),
            get: |r| at(r, "/actor/display"),
        },
        TextField {
            path: "context.reason",
            kind: Display(4096),
            put: |t| {
                Entry::new(root(), Event::user_deleted(alice())).context(Context::new().reason(t))
            },
            get: |r| at(r, "/context/reason"),
        },
        TextField {
            path: "context.user_agent",
            kind: Display(1024),
            put: |t| {
                Entry::new(root(), Event::user_deleted(alice()))
                    .context(Context::new().user_agent(t))
            },
            get: |r| at(r, "/context/user_agent"),
        },
        TextField {
            path: "event.user.display",
            kind: Display(512),
            put: |t| Entry::new(root(), Event::user_deleted(EntityRef::new(42, t))),
            get: |r| at(r, "/event/user/display"),
        },
        TextField {
            path: "event.group.display",
            kind: Display(512),
            put: |t| {
                Entry::new(
                    root(),
                    Event::user_added_to_group(alice(), EntityRef::new(7, t)),
                )
            },
            get: |r| at(r, "/event/group/display"),
        },
        TextField {
            path: "event.parent.display",
            kind: Display(512),
            put: |t| {
                let g = EntityRef::new(7, "ops");
                Entry::new(root(), Event::group_added_to_group(g, EntityRef::new(8, t)))
            },
            get: |r| at(r, "/event/parent/display"),
        },
        TextField {
            path: "event.application.display",
            kind: Display(512),
            put: |t| {
                let ws = EntityRef::new(1, "Finance");
                Entry::new(root(), Event::application_created(EntityRef::new(3, t), ws))
            },
            get: |r| at(r, "/event/application/display"),
        },
        TextField {
            path: "event.workspace.display",
            kind: Display(512),
            put: |t| {
                let app = EntityRef::new(3, "Payroll");
                Entry::new(
                    root(),
                    Event::application_deleted(app, EntityRef::new(1, t)),
                )
            },
            get: |r| at(r, "/event/workspace/display"),
        },
        TextField {
            path: "event.permission_group.display",
            kind: Display(512),
            put: |t| {
                Entry::new(
                    root(),
                    Event::permission_user_added(alice(), pg(t, Scope::system())),
                )
            },
            get: |r| at(r, "/event/permission_group/display"),
        },
        TextField {
            path: "event.permission_group.scope.application.display",
            kind: Display(512),
            put: |t| {
                let scope = Scope::application(EntityRef::new(3, t), EntityRef::new(1, "Finance"));
                Entry::new(
                    root(),
                    Event::permission_group_added(EntityRef::new(7, "ops"), pg("pg", scope)),
                )
            },
            get: |r| at(r, "/event/permission_group/scope/application/display"),
        },
        TextField {
            path: "event.permission_group.scope.workspace.display",
            kind: Display(512),
            put: |t| {
                let scope = Scope::workspace(EntityRef::new(1, t));
                Entry::new(
                    root(),
                    Event::permission_user_removed(alice(), pg("pg", scope)),
                )
            },
            get: |r| at(r, "/event/permission_group/scope/workspace/display"),
        },
        TextField {
            path: "event.target.display",
            kind: Display(512),
            put: |t| {
                let kind = EntityKind::Other("invoice".into());
                Entry::new(root(), custom().target(kind, EntityRef::new(7, t)))
            },
            get: |r| at(r, "/event/target/entity/display"),
        },
        TextField {
            path: "event.related.display",
            kind: Display(512),
            put: |t| {
                Entry::new(
                    root(),
                    custom().related(EntityKind::User, EntityRef::new(42, t)),
                )
            },
            get: |r| at(r, "/event/related/entity/display"),
        },
        TextField {
            path: "event.attributes.login_name",
            kind: Display(512),
            put: |t| Entry::new(root(), UserCreated::new(alice()).login_name(t)),
            get: |r| at(r, "/event/attributes/login_name/value"),
        },
        TextField {
            path: "event.attributes.full_name",
            kind: Display(512),
            put: |t| Entry::new(root(), UserCreated::new(alice()).full_name(t)),
            get: |r| at(r, "/event/attributes/full_name/value"),
        },
        TextField {
            path: "event.attributes.email",
            kind: Display(512),
            put: |t| Entry::new(root(), UserCreated::new(alice()).email(t)),
            get: |r| at(r, "/event/attributes/email/value"),
        },
        TextField {
            path: "event.changes[0].old",
            kind: Display(512),
            put: |t| {
                Entry::new(
                    root(),
                    Event::user_edited(alice(), vec![UserChange::email(t, "a@x")]),
                )
            },
            get: |r| at(r, "/event/changes/0/old/value"),
        },
        TextField {
            path: "event.changes[0].new",
            kind: Display(512),
            put: |t| {
                Entry::new(
                    root(),
                    Event::user_edited(alice(), vec![UserChange::login_name("a", t)]),
                )
            },
            get: |r| at(r, "/event/changes/0/new/value"),
        },
        TextField {
            path: "event.changes[1].new",
            kind: Display(512),
            put: |t| {
                let changes = vec![
                    UserChange::password_changed(),
                    UserChange::full_name("A", t),
                ];
                Entry::new(root(), Event::user_edited(alice(), changes))
            },
            get: |r| at(r, "/event/changes/1/new/value"),
        },
        // Identifiers.
        TextField {
            path: "tenant",
            kind: Identifier(512),
            put: |t| Entry::new(root(), Event::user_deleted(alice())).tenant(t),
            get: |r| at(r, "/tenant"),
        },
        TextField {
            path: "actor.id",
            kind: Identifier(256),
            put: |t| Entry::new(Actor::service(t), Event::user_deleted(alice())),
            get: |r| at(r, "/actor/id"),
        },
        TextField {
            path: "context.request_id",
            kind: Identifier(256),
            put: |t| {
                Entry::new(root(), Event::user_deleted(alice()))
                    .context(Context::new().request_id(t))
            },
            get: |r| at(r, "/context/request_id"),
        },
        TextField {
            path: "context.correlation_id",
            kind: Identifier(256),
            put: |t| {
                Entry::new(root(), Event::user_deleted(alice()))
                    .context(Context::new().correlation_id(t))
            },
            get: |r| at(r, "/context/correlation_id"),
        },
        TextField {
            path: "event.user.id",
            kind: Identifier(256),
            put: |t| Entry::new(root(), Event::user_deleted(EntityRef::new(t, "alice"))),
            get: |r| at(r, "/event/user/id"),
        },
        TextField {
            path: "event.group.id",
            kind: Identifier(256),
            put: |t| {
                Entry::new(
                    root(),
                    Event::user_added_to_group(alice(), EntityRef::id_only(t)),
                )
            },
            get: |r| at(r, "/event/group/id"),
        },
        TextField {
            path: "event.permission_group.id",
            kind: Identifier(256),
            put: |t| {
                let pg = PermissionGroupRef {
                    id: t.into(),
                    display: None,
                    scope: Scope::system(),
                };
                Entry::new(root(), Event::permission_user_added(alice(), pg))
            },
            get: |r| at(r, "/event/permission_group/id"),
        },
        TextField {
            path: "event.permission_group.scope.workspace.id",
            kind: Identifier(256),
            put: |t| {
                let scope = Scope::workspace(EntityRef::id_only(t));
                Entry::new(
                    root(),
                    Event::permission_group_removed(EntityRef::new(7, "ops"), pg("pg", scope)),
                )
            },
            get: |r| at(r, "/event/permission_group/scope/workspace/id"),
        },
        TextField {
            path: "event.target.id",
            kind: Identifier(256),
            put: |t| {
                Entry::new(
                    root(),
                    custom().target(EntityKind::User, EntityRef::id_only(t)),
                )
            },
            get: |r| at(r, "/event/target/entity/id"),
        },
        TextField {
            path: "event.attributes",
            kind: Identifier(128),
            put: |t| {
                let attributes = [(t.to_owned(), FieldValue::from("v"))]
                    .into_iter()
                    .collect();
                Entry::new(
                    root(),
                    Event::GroupCreated(GroupCreated {
                        group: EntityRef::new(7, "ops"),
                        attributes,
                    }),
                )
            },
            get: |r| {
                r.pointer("/event/attributes")?
                    .as_object()?
                    .keys()
                    .next()
                    .cloned()
            },
        },
        TextField {
            path: "event.changes.field",
            kind: Identifier(128),
            put: |t| {
                let ops = EntityRef::new(7, "ops");
                Entry::new(
                    root(),
                    Event::workspace_edited(ops, vec![FieldChange::new(t, "a", "b")]),
                )
            },
            get: |r| at(r, "/event/changes/0/field"),
        },
        TextField {
            path: "event.format",
            kind: Identifier(256),
            put: |t| {
                let e = AuditExported {
                    format: t.into(),
                    query: Value::Null,
                    count: 0,
                    first_seq: None,
                    last_seq: None,
                };
                Entry::new(root(), Event::AuditExported(e))
            },
            get: |r| at(r, "/event/format"),
        },
        // Names.
        TextField {
            path: "event.name",
            kind: EventName,
            put: |t| Entry::new(root(), Event::custom(t, Value::Null)),
            get: |r| at(r, "/event/name"),
        },
        TextField {
            path: "event.target.kind",
            kind: KindName,
            put: |t| {
                Entry::new(
                    root(),
                    custom().target(EntityKind::Other(t.into()), EntityRef::id_only(1)),
                )
            },
            get: |r| at(r, "/event/target/kind"),
        },
    ]
}

/// The characters identifiers may not hold and the terminal form replaces, written out
/// again here so the tests do not trust the library's own copy of the list.
fn control_like(c: char) -> bool {
    let u = u32::from(c);
    u < 0x20
        || (0x7F..=0x9F).contains(&u)
        || [0x061C, 0x200E, 0x200F, 0x2028, 0x2029].contains(&u)
        || (0x202A..=0x202E).contains(&u)
        || (0x2066..=0x2069).contains(&u)
}

/// What the rule keeps of display text `t` under `max`: `t`, or its longest prefix of whole
/// characters that leaves room for the marker, then the marker.
fn expected_display(t: &str, max: usize) -> String {
    if t.len() <= max {
        return t.to_owned();
    }
    let marker = format!("…[cut from {} bytes]", t.len());
    let mut kept = String::new();
    for c in t.chars() {
        if kept.len() + c.len_utf8() + marker.len() > max {
            break;
        }
        kept.push(c);
    }
    kept + &marker
}

fn name_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// Text of every kind the rule must handle: anything, controls of each block, bidi
/// overrides and isolates, line separators, lengths around each limit and far beyond, and
/// text that already ends with a marker.
fn tricky_text() -> impl Strategy<Value = String> {
    let chars = "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{61c}\u{200e}\u{200f}\u{2028}\u{2029}\u{202a}-\u{202e}\u{2066}-\u{2069}a-z_.\u{e9}\u{4e2d}\u{1F600} ]{0,24}";
    let long = (
        prop::sample::select(vec![
            "a",
            "\u{e9}",
            "\u{4e2d}",
            "\u{1F600}",
            "\u{1b}",
            "\u{202e}",
        ]),
        prop_oneof![
            0usize..140,
            120usize..270,
            500usize..530,
            1000usize..1040,
            4080usize..4110,
            Just(10_000),
            Just(70_000)
        ],
        "\\PC{0,3}",
    )
        .prop_map(|(c, n, tail)| format!("{}{tail}", c.repeat(n / c.len())));
    prop_oneof![
        3 => any::<String>(),
        3 => chars,
        2 => "[a-z][a-z0-9_]{0,8}(\\.[a-z0-9_]{1,8}){0,2}",
        1 => mostly_printable(),
        3 => long,
        1 => "\\PC{0,8}".prop_map(|s| format!("{s}…[cut from 99 bytes]")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    /// Every text field, given any text, follows the one rule of `audit_log::text`: display
    /// text is recorded exactly, or cut at a character boundary and marked when over its
    /// limit, and never refused; identifiers and names are recorded exactly when they obey
    /// the rule and are otherwise refused with that field named, writing nothing.
    #[test]
    fn every_text_field_follows_the_text_rule(
        field in 0..text_fields().len(),
        text in tricky_text(),
    ) {
        let f = &text_fields()[field];
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let entry = (f.put)(&text);
        let tenant = entry.tenant.clone().unwrap_or_default();
        let expected_ok = match f.kind {
            TextKind::Display(_) => true,
            TextKind::Identifier(max) => {
                !text.trim().is_empty() && text.len() <= max && !text.chars().any(control_like)
            }
            TextKind::KindName => name_ok(&text),
            TextKind::EventName => {
                let family = text.split('.').next().unwrap_or_default();
                name_ok(&text)
                    && text.contains('.')
                    && !audit_log::event::RESERVED_FAMILIES.contains(&family)
            }
        };
        match log.record_entry(entry) {
            Ok(receipt) => {
                prop_assert!(expected_ok, "{} accepted {:?}", f.path, text);
                let r = store.get(&tenant, receipt.seq).unwrap().unwrap();
                let stored = (f.get)(&serde_json::to_value(&r).unwrap());
                let stored = stored.unwrap_or_else(|| panic!("{} not found in the record", f.path));
                let listed = r.cut_fields().into_iter().find(|c| c.field == f.path);
                if let TextKind::Display(max) = f.kind {
                    prop_assert_eq!(&stored, &expected_display(&text, max), "{}", f.path);
                    prop_assert!(stored.len() <= max, "{}: {} bytes", f.path, stored.len());
                    if text.len() > max {
                        prop_assert_eq!(listed.map(|c| c.original_bytes), Some(text.len()));
                    } else {
                        // Only text that was typed with a marker reads as cut.
                        prop_assert_eq!(listed.is_some(), audit_log::text::cut_from(&text).is_some());
                    }
                } else {
                    prop_assert_eq!(&stored, &text, "{}", f.path);
                    prop_assert!(listed.is_none());
                }
                // What is stored is what is hashed: the chain verifies, through JSON too.
                let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
                prop_assert_eq!(&back, &r);
                prop_assert_eq!(chain::compute_hash(&back), r.hash);
                prop_assert!(store.verify(&tenant).unwrap().is_intact());
            }
            Err(Error::InvalidInput { field: named, reason }) => {
                prop_assert!(!expected_ok, "{} refused {:?}: {}", f.path, text, reason);
                prop_assert_eq!(named.as_str(), f.path);
                prop_assert_eq!(store.tenants().unwrap(), Vec::<TenantId>::new());
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    /// Several display texts of one entry, each over its limit or not, are each held to the
    /// rule, and the record lists exactly those that were cut.
    #[test]
    fn a_record_lists_exactly_its_cut_fields(
        actor in tricky_text(),
        reason in tricky_text(),
        agent in tricky_text(),
        group in tricky_text(),
    ) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let entry = Entry::new(
            Actor::user(1, actor.as_str()),
            Event::user_added_to_group(alice(), EntityRef::new(7, group.as_str())),
        )
        .context(Context::new().reason(reason.as_str()).user_agent(agent.as_str()));
        log.record_entry(entry).unwrap();
        let r = only_record(&store);
        let mut expected = Vec::new();
        for (path, text, max) in [
            ("actor.display", &actor, 512),
            ("context.reason", &reason, 4096),
            ("context.user_agent", &agent, 1024),
            ("event.group.display", &group, 512),
        ] {
            let kept = expected_display(text, max);
            if let Some(original_bytes) = audit_log::text::cut_from(&kept) {
                expected.push(audit_log::text::CutField { field: path.to_owned(), original_bytes });
            }
        }
        prop_assert_eq!(r.cut_fields(), expected);
    }

    /// Terminal output never holds a control character, an escape sequence's introducer
    /// (ESC, CSI, OSC), a bidi override or isolate, or a line separator; text without them
    /// is unchanged; every one replaced leaves a visible escape.
    #[test]
    fn terminal_text_is_inert_and_printable_text_unchanged(text in tricky_text()) {
        let shown = audit_log::text::for_terminal(&text);
        prop_assert!(!shown.chars().any(control_like), "{:?}", shown);
        let replaced = text.chars().filter(|c| control_like(*c)).count();
        if replaced == 0 {
            prop_assert_eq!(shown.as_ref(), text.as_str());
            prop_assert!(matches!(shown, std::borrow::Cow::Borrowed(_)));
        } else {
            let backslashes = |s: &str| s.matches('\\').count();
            prop_assert_eq!(backslashes(&shown), backslashes(&text) + replaced);
        }
        // The printable characters keep their order: removing the escapes' own characters
        // from the output leaves the input without its control-like characters.
        let printable: String = text.chars().filter(|c| !control_like(*c)).collect();
        prop_assert!(is_subsequence(&printable, &shown));
        // Applying it again changes nothing.
        let again = audit_log::text::for_terminal(&shown);
        prop_assert_eq!(again.as_ref(), shown.as_ref());
    }

    /// JSON text shown through `for_terminal` is still JSON, with the same meaning.
    #[test]
    fn terminal_form_of_json_is_the_same_json(v in json_value()) {
        let text = v.to_string();
        let shown = audit_log::text::for_terminal(&text);
        let back: Value = serde_json::from_str(&shown).unwrap();
        prop_assert_eq!(back, v);
    }
}

fn is_subsequence(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|c| hay.any(|h| h == c))
}

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

/// Text the log accepts as an id: printable, bounded, not blank.
fn id_text() -> impl Strategy<Value = String> {
    "\\PC{0,12}[a-zA-Z0-9\u{e9}\u{4e2d}\u{1F600}]\\PC{0,12}"
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
            any_text(),
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

    /// Any text in a display snapshot, an id, a reason, a user agent or a tenant is either
    /// recorded and read back exactly, or refused with `InvalidInput`; nothing panics and a
    /// refusal writes nothing.
    #[test]
    fn arbitrary_text_is_recorded_exactly_or_refused(
        display in mostly_printable(),
        id in mostly_printable(),
        reason in prop_oneof![mostly_printable(), "[\\PC\n\t]{0,40}", "x{4090,4100}"],
        user_agent in mostly_printable(),
        actor_display in mostly_printable(),
        tenant in mostly_printable(),
        long in prop_oneof![Just(0usize), 500usize..520, 2000usize..2100],
    ) {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        let display = format!("{display}{}", "é".repeat(long / 2));
        let event = Event::user_added_to_group(
            EntityRef::new(id.as_str(), display.clone()),
            EntityRef::new(7, "ops"),
        );
        let entry = Entry::new(Actor { kind: ActorKind::User, id: "1".into(), display: Some(actor_display.clone()) }, event.clone())
            .context(Context::new().reason(reason.clone()).user_agent(user_agent.clone()))
            .tenant(tenant.as_str());
        match log.record_entry(entry) {
            Ok(receipt) => {
                let r = store.get(&TenantId::new(tenant.as_str()), receipt.seq).unwrap().unwrap();
                prop_assert_eq!(&r.event, &event);
                prop_assert_eq!(r.actor.display.as_deref(), Some(actor_display.as_str()));
                prop_assert_eq!(r.context.reason.as_deref(), Some(reason.as_str()));
                prop_assert_eq!(r.context.user_agent.as_deref(), Some(user_agent.as_str()));
                let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
                prop_assert_eq!(&back, &r);
                prop_assert_eq!(chain::compute_hash(&back), r.hash);
            }
            Err(Error::InvalidInput { field, reason: why }) => {
                prop_assert!(!field.is_empty() && !why.is_empty());
                prop_assert_eq!(store.tenants().unwrap(), Vec::<TenantId>::new());
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}

//! No secret at rest: a password, or any value under a secret-looking name, never appears in
//! a stored record: not in its JSON, not in its canonical bytes (what is hashed), not in the
//! store's text dump.

use audit_log::chain::canonical_body;
use audit_log::*;
use serde_json::{json, Value};

/// Distinct, greppable secret values; each must be absent from everything stored.
const SECRETS: &[&str] = &[
    "pw-hunter2-0001",
    "pw-old-0002",
    "tok-0003",
    "tok-0004",
    "sec-0005",
    "key-0006",
    "key-0007",
    "pem-0008",
    "cred-0009",
    "phrase-0010",
    "smtp-0011",
    "smtp-0012",
    "nested-0013",
    "payload-0014",
    "payload-0015",
    "payload-0016",
    "nested-attr-0017",
    "nested-change-0018",
];

fn s(i: usize) -> &'static str {
    SECRETS[i]
}

fn every_family(admin: &Actor, log: &AuditLog) -> Result<usize> {
    let alice = EntityRef::new(42, "alice");
    let ops = EntityRef::new("g-ops", "Operations");
    let payroll = EntityRef::new(3, "Payroll");
    let finance = EntityRef::new(1, "Finance");
    let events: Vec<Event> = vec![
        UserCreated::new(alice.clone())
            .login_name("alice")
            .attribute("api_token", s(2))
            .attribute(
                "profile",
                json!({"theme": "dark", "smtp": {"password": s(16)}}),
            )
            .into(),
        Event::user_edited(
            alice.clone(),
            vec![
                UserChange::password_changed(),
                UserChange::other("recovery-token", s(3), s(4)),
                UserChange::other("db_password", s(1), s(0)),
                UserChange::email("a@example.com", "alice@example.com"),
            ],
        ),
        Event::GroupCreated(GroupCreated {
            group: ops.clone(),
            attributes: [("webhook_secret".to_owned(), FieldValue::from(s(4)))]
                .into_iter()
                .collect(),
        }),
        Event::group_edited(ops.clone(), vec![FieldChange::new("API-Key", s(5), s(6))]),
        Event::ApplicationCreated(ApplicationCreated {
            application: payroll.clone(),
            workspace: finance.clone(),
            attributes: [("privateKey".to_owned(), FieldValue::from(s(7)))]
                .into_iter()
                .collect(),
        }),
        Event::application_edited(
            payroll.clone(),
            finance.clone(),
            vec![
                FieldChange::set("credentials", json!({"user": "svc", "pass": s(8)})),
                FieldChange::new(
                    "integration",
                    json!({"url": "https://x"}),
                    json!({"url": "https://y", "client_secret": s(17)}),
                ),
            ],
        ),
        Event::WorkspaceCreated(WorkspaceCreated {
            workspace: finance.clone(),
            attributes: [("Passphrase".to_owned(), FieldValue::from(s(9)))]
                .into_iter()
                .collect(),
        }),
        Event::workspace_edited(
            finance.clone(),
            vec![FieldChange::new("smtp.password", s(10), s(11))],
        ),
        Event::custom(
            "billing.settings_changed",
            json!({
                "config": {"token": s(12), "region": "eu"},
                "items": [{"apiKey": s(13)}, {"note": "visible"}],
                "Password": s(14),
                "deep": [[{"refresh_token": {"value": s(15)}}]],
            }),
        ),
    ];
    let n = events.len();
    for e in events {
        log.record(admin, e)?;
    }
    Ok(n)
}

fn assert_no_secret_in_store(store: &MemorySink, tenant: &TenantId) {
    let records: Vec<Record> = store
        .query(&Query::for_tenant(tenant.clone()))
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    assert!(!records.is_empty());
    let dump = store.dump(tenant);
    for r in &records {
        let json = serde_json::to_string(r).unwrap();
        let pretty = serde_json::to_string_pretty(r).unwrap();
        let body = canonical_body(r);
        let debug = format!("{r:?}");
        for secret in SECRETS {
            assert!(
                !json.contains(secret),
                "{secret} stored in #{}: {json}",
                r.seq
            );
            assert!(!pretty.contains(secret), "{secret} in #{}", r.seq);
            assert!(
                !debug.contains(secret),
                "{secret} in the Debug of #{}",
                r.seq
            );
            assert!(
                !body.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in the canonical bytes of #{}",
                r.seq
            );
            assert!(!dump.contains(secret), "{secret} in the dump");
        }
    }
}

#[test]
fn no_secret_reaches_a_stored_record_under_the_default_policy() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::user(1, "root");
    let n = every_family(&admin, &log).unwrap();
    assert_no_secret_in_store(&store, log.default_tenant());

    // The test is not vacuous: the records are there, with their harmless values.
    let records = store.records();
    assert_eq!(records.len(), n);
    let all = serde_json::to_string(&records).unwrap();
    for visible in ["alice@example.com", "visible", "eu", "dark", "https://y"] {
        assert!(all.contains(visible), "{visible} should be kept");
    }
    assert!(
        all.contains(r#"{"field":"password"}"#),
        "password change recorded"
    );
    assert!(all.contains(r#""redacted":{}"#));
}

#[test]
fn a_users_password_is_refused_whatever_its_spelling_or_the_policy() {
    let store = MemorySink::new();
    let policies = [
        RedactionPolicy::default(),
        RedactionPolicy::default().without_secret_words(),
    ];
    for policy in policies {
        let log = AuditLog::builder(store.clone()).redaction(policy).build();
        let admin = Actor::system();
        let bob = EntityRef::new(7, "bob");
        for name in [
            "password",
            "Password",
            "PASS_WORD",
            "pass-word",
            "passwd",
            "password_hash",
        ] {
            let created: Event = UserCreated::new(bob.clone()).attribute(name, s(0)).into();
            let edited = Event::user_edited(bob.clone(), vec![UserChange::other(name, s(1), s(0))]);
            for e in [created, edited] {
                match log.record(&admin, e) {
                    Err(Error::InvalidInput { field, .. }) => {
                        assert!(field.starts_with("event."), "{field}")
                    }
                    other => panic!("{name}: expected a refusal, got {other:?}"),
                }
            }
        }
        // Names that merely contain "password" are redacted, even with secret words off.
        let e = Event::user_edited(
            bob.clone(),
            vec![UserChange::other("new_password", s(1), s(0))],
        );
        log.record(&admin, e).unwrap();
        let e: Event = UserCreated::new(bob.clone())
            .attribute("initial-passwd", s(0))
            .into();
        log.record(&admin, e).unwrap();
    }
    assert_eq!(store.records().len(), 4);
    assert_no_secret_in_store(&store, &TenantId::default());
}

#[test]
fn a_hosts_own_names_are_redacted_when_the_policy_names_them() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone())
        .redaction(
            RedactionPolicy::default()
                .without_secret_words()
                .redact("IBAN"),
        )
        .build();
    let admin = Actor::system();
    log.record(
        &admin,
        Event::custom(
            "billing.account_changed",
            json!({"account": {"iban": s(14)}}),
        ),
    )
    .unwrap();
    log.record(
        &admin,
        Event::group_edited(
            EntityRef::new(1, "ops"),
            vec![FieldChange::new("iban", s(15), s(16))],
        ),
    )
    .unwrap();
    assert_no_secret_in_store(&store, &TenantId::default());
}

fn fingerprints(r: &Record) -> (Option<String>, Option<String>) {
    let Event::GroupEdited(e) = &r.event else {
        panic!("group.edited expected")
    };
    let fp = |v: &Option<FieldValue>| match v {
        Some(FieldValue::Redacted { fingerprint }) => fingerprint.clone(),
        other => panic!("redacted value expected, got {other:?}"),
    };
    (fp(&e.changes[0].old), fp(&e.changes[0].new))
}

#[test]
fn fingerprints_match_equal_secrets_and_only_them() {
    let store = MemorySink::new();
    let key = b"kept-in-a-vault-not-in-the-store";
    let log = AuditLog::builder(store.clone())
        .redaction(RedactionPolicy::default().fingerprint_key(key))
        .build();
    let admin = Actor::system();
    let ops = EntityRef::new(1, "ops");
    let change = |old: &str, new: &str| {
        Event::group_edited(ops.clone(), vec![FieldChange::new("api_key", old, new)])
    };
    log.record(&admin, change(s(5), s(6))).unwrap();
    log.record(&admin, change(s(6), s(7))).unwrap();
    assert_no_secret_in_store(&store, &TenantId::default());

    let records = store.records();
    let (a_old, a_new) = fingerprints(&records[0]);
    let (b_old, b_new) = fingerprints(&records[1]);
    let (a_old, a_new, b_old, b_new) = (
        a_old.unwrap(),
        a_new.unwrap(),
        b_old.unwrap(),
        b_new.unwrap(),
    );
    // The same secret in two records carries the same fingerprint ...
    assert_eq!(a_new, b_old);
    // ... and different secrets differ.
    assert_ne!(a_old, a_new);
    assert_ne!(b_old, b_new);
    assert_ne!(a_old, b_new);
    assert!(a_new.starts_with("hmac-sha256:"));
    // An investigator with the key can check a candidate value.
    let policy = RedactionPolicy::default().fingerprint_key(key);
    assert_eq!(policy.fingerprint(&json!(s(6))), Some(a_new.clone()));
    assert_ne!(policy.fingerprint(&json!("a guess")), Some(a_new));
    // The key itself is not stored either.
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains("kept-in-a-vault"));
}

/// Every value in `secrets` is absent from every stored record (JSON, canonical bytes,
/// Debug) and from the store's dump.
fn assert_absent(store: &MemorySink, secrets: &[String]) {
    let dump = store.dump(&TenantId::default());
    for r in store.records() {
        let json = serde_json::to_string(&r).unwrap();
        let body = canonical_body(&r);
        let debug = format!("{r:?}");
        for secret in secrets {
            assert!(
                !json.contains(secret.as_str()),
                "{secret} stored in #{}: {json}",
                r.seq
            );
            assert!(!debug.contains(secret.as_str()), "{secret} in the Debug");
            assert!(
                !body.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in the canonical bytes of #{}",
                r.seq
            );
            assert!(!dump.contains(secret.as_str()), "{secret} in the dump");
        }
    }
}

/// The secret words the default policy knows, each in the spellings hosts use: snake case,
/// camel case, kebab case, upper case, and as the whole key.
const SECRET_WORD_SPELLINGS: &[(&str, &[&str])] = &[
    ("pwd", &["pwd", "db_pwd", "userPwd", "X-PWD"]),
    ("pass", &["pass", "db_pass", "smtpPass", "ldap-pass"]),
    ("passwd", &["passwd", "root_passwd", "rootPasswd"]),
    (
        "passphrase",
        &["passphrase", "key_passphrase", "gpgPassphrase"],
    ),
    ("pin", &["pin", "card_pin", "userPin", "PIN", "pin-code"]),
    ("otp", &["otp", "otp_seed", "backupOtp", "OTP"]),
    (
        "api_key",
        &["api_key", "apikey", "apiKey", "X-Api-Key", "stripe_api_key"],
    ),
    (
        "access_key",
        &["access_key", "accessKey", "aws-access-key", "AccessKey"],
    ),
    (
        "private_key",
        &["private_key", "privateKey", "ssh-private-key"],
    ),
    (
        "client_secret",
        &["client_secret", "clientSecret", "oauth-client-secret"],
    ),
    (
        "credential",
        &[
            "credential",
            "credentials",
            "dbCredentials",
            "smtp-credential",
        ],
    ),
    (
        "session",
        &["session", "session_id", "sessionToken", "X-Session"],
    ),
    (
        "cookie",
        &["cookie", "set_cookie", "authCookie", "Set-Cookie"],
    ),
    (
        "authorization",
        &["authorization", "Authorization", "proxy_authorization"],
    ),
    ("bearer", &["bearer", "bearer_token", "oauthBearer"]),
    ("password", &["userPassword", "db_password", "Password"]),
];

/// Keys that only look like secret words: a word of them is not one (`passport` is not
/// `pass`, `spinner` is not `pin`, `possession` is not `session`).
const LOOK_ALIKES: &[&str] = &[
    "passport_number",
    "passportNumber",
    "spinner",
    "pinned",
    "shipping_address",
    "opinion",
    "possession",
    "compass",
    "bypass_cache",
    "passenger_count",
    "hotpink",
    "cookbook_url",
    "bearing",
    "primary_key",
    "key_name",
    "access_level",
    "client_id",
    "sessionless",
];

/// Each secret word, in each spelling, as a group's changed field, a workspace attribute
/// and a custom payload key: no value under it is stored, and the policy says so.
#[test]
fn every_secret_word_is_redacted_in_every_spelling() {
    let policy = RedactionPolicy::default();
    let mut missed = Vec::new();
    for (word, spellings) in SECRET_WORD_SPELLINGS {
        for name in *spellings {
            if !policy.is_redacted(name) {
                missed.push(format!("{word}: {name}"));
            }
        }
    }
    assert!(missed.is_empty(), "not redacted: {missed:?}");

    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let admin = Actor::system();
    let mut secrets = Vec::new();
    for (i, name) in SECRET_WORD_SPELLINGS
        .iter()
        .flat_map(|(_, s)| s.iter())
        .enumerate()
    {
        let [old, new, attr, key] = ["old", "new", "attr", "key"].map(|k| format!("s-{k}-{i:03}"));
        log.record(
            &admin,
            Event::group_edited(
                EntityRef::new(1, "ops"),
                vec![FieldChange::new(*name, old.as_str(), new.as_str())],
            ),
        )
        .unwrap();
        log.record(
            &admin,
            Event::WorkspaceCreated(WorkspaceCreated {
                workspace: EntityRef::new(2, "Finance"),
                attributes: [(name.to_string(), FieldValue::from(attr.as_str()))]
                    .into_iter()
                    .collect(),
            }),
        )
        .unwrap();
        log.record(
            &admin,
            Event::custom("billing.configured", json!({ "settings": { *name: key } })),
        )
        .unwrap();
        secrets.extend([old, new, attr, key]);
    }
    assert_absent(&store, &secrets);
}

/// A key whose words only look like secret words keeps its value, under the default policy.
#[test]
fn look_alikes_of_secret_words_are_kept() {
    let policy = RedactionPolicy::default();
    let over: Vec<&&str> = LOOK_ALIKES
        .iter()
        .filter(|n| policy.is_redacted(n))
        .collect();
    assert!(over.is_empty(), "redacted although not secret: {over:?}");

    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    let changes = LOOK_ALIKES
        .iter()
        .enumerate()
        .map(|(i, n)| FieldChange::set(*n, format!("visible-{i:02}")))
        .collect();
    log.record(
        &Actor::system(),
        Event::group_edited(EntityRef::new(1, "ops"), changes),
    )
    .unwrap();
    let all = serde_json::to_string(&store.records()).unwrap();
    for (i, name) in LOOK_ALIKES.iter().enumerate() {
        assert!(all.contains(&format!("visible-{i:02}")), "{name}");
    }
}

/// A field change a host writes inside a custom payload, in the crate's own shape
/// (`{"field": ..., "old": ..., "new": ...}`) or with a single `value`, at any depth, is
/// redacted as a built-in change of that field is; a change of a harmless field is kept.
#[test]
fn a_field_change_inside_a_custom_payload_is_redacted_like_a_built_in_one() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone()).build();
    log.record(
        &Actor::system(),
        Event::custom(
            "crm.contact_updated",
            json!({
                "changes": [
                    {"field": "password", "old": "cp-0001", "new": "cp-0002"},
                    {"field": "api_key", "new": {"value": "cp-0003"}},
                    {"field": "display_name", "old": "Ann", "new": "Anne"},
                ],
                "audit": {"diff": [[{"field": "Client-Secret", "value": "cp-0004"}]]},
                // Every value of a change of a secret field is that field's, under any key.
                "last": {"field": "sessionToken", "new": "cp-0005", "confirm": "cp-0006"},
            }),
        ),
    )
    .unwrap();
    let secrets: Vec<String> = (1..=6).map(|i| format!("cp-{i:04}")).collect();
    assert_absent(&store, &secrets);
    let all = serde_json::to_string(&store.records()).unwrap();
    for kept in [
        "Ann",
        "Anne",
        "display_name",
        "Client-Secret",
        "password",
        "sessionToken",
    ] {
        assert!(all.contains(kept), "{kept} should be kept: {all}");
    }
}

/// A user's field named like a password in the new words (`pwd`, `pass`) is redacted under
/// every policy, as `new_password` is.
#[test]
fn a_users_short_password_names_are_redacted_under_every_policy() {
    let store = MemorySink::new();
    let log = AuditLog::builder(store.clone())
        .redaction(RedactionPolicy::default().without_secret_words())
        .build();
    let bob = EntityRef::new(7, "bob");
    log.record(
        &Actor::system(),
        Event::user_edited(
            bob.clone(),
            vec![
                UserChange::other("old_pwd", "up-0001", "up-0002"),
                UserChange::other("ldapPass", "up-0003", "up-0004"),
                UserChange::other("passphrase", "up-0005", "up-0006"),
            ],
        ),
    )
    .unwrap();
    let secrets: Vec<String> = (1..=6).map(|i| format!("up-{i:04}")).collect();
    assert_absent(&store, &secrets);
}

/// A field change written in a payload is redacted to exactly the form, and the
/// fingerprint, that the same change gets as a built-in one, so an investigator compares
/// them alike.
#[test]
fn a_payload_field_change_carries_the_fingerprint_of_a_built_in_one() {
    let store = MemorySink::new();
    let key = b"kept-in-a-vault-not-in-the-store";
    let log = AuditLog::builder(store.clone())
        .redaction(RedactionPolicy::default().fingerprint_key(key))
        .build();
    let admin = Actor::system();
    log.record(
        &admin,
        Event::group_edited(
            EntityRef::new(1, "ops"),
            vec![FieldChange::new("api_key", "fp-0001", "fp-0002")],
        ),
    )
    .unwrap();
    log.record(
        &admin,
        Event::custom(
            "crm.synced",
            json!({"changes": [
                {"field": "api_key", "old": "fp-0001", "new": {"value": "fp-0002"}},
                // Not the tagged form: marked whole.
                {"field": "api_key", "old": {"other": "fp-0003"},
                 "new": {"value": "fp-0004", "note": "fp-0005"}},
                // What looks like a marker is no exception: it may hold the secret.
                {"field": "password", "old": {"redacted": "fp-0006"},
                 "new": {"redacted": {}, "also": "fp-0007"}},
            ]}),
        ),
    )
    .unwrap();
    let secrets: Vec<String> = (1..=7).map(|i| format!("fp-{i:04}")).collect();
    assert_absent(&store, &secrets);
    let records = store.records();
    let built_in = serde_json::to_value(&records[0].event).unwrap()["changes"][0].clone();
    let written = serde_json::to_value(&records[1].event).unwrap()["payload"]["changes"].clone();
    assert_eq!(written[0], built_in);
    assert!(built_in["new"]["redacted"]["fingerprint"].is_string());
    let policy = RedactionPolicy::default().fingerprint_key(key);
    let fingerprint = |v: &Value| json!({"redacted": {"fingerprint": policy.fingerprint(v)}});
    assert_eq!(written[1]["old"], fingerprint(&json!({"other": "fp-0003"})));
    assert_eq!(
        written[1]["new"],
        fingerprint(&json!({"value": "fp-0004", "note": "fp-0005"}))
    );
    assert_eq!(
        written[2]["old"],
        fingerprint(&json!({"redacted": "fp-0006"}))
    );
}

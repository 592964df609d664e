#![cfg(all(feature = "web", feature = "sqlite"))]
//! The viewer over HTTP, without a browser (issue #15): secure by default, tenants apart,
//! hostile parameters refused readably, read-only, the JSON API and the downloads.

mod viewer_support;

use std::net::SocketAddr;

use audit_log::web::Viewer;
use audit_log::{Actor, AuditLog, AuditStore, EntityRef, Event, Query, SqliteSink, TenantId};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use viewer_support::{Served, TrailKind};

fn records(store: &SqliteSink, tenant: &str) -> usize {
    store
        .query(&Query::for_tenant(TenantId::new(tenant)))
        .unwrap()
        .count()
}

#[tokio::test]
async fn nothing_is_served_until_the_host_says_who_may_see_what() {
    let store = SqliteSink::open_in_memory().unwrap();
    let router = Viewer::new(store).into_router();
    for path in [
        "/",
        "/records/1",
        "/api/v1/records",
        "/export.csv",
        "/assets/viewer.css",
    ] {
        let r = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn local_only_serves_the_loopback_address_alone() {
    let store = SqliteSink::open_in_memory().unwrap();
    let router = Viewer::new(store).local_only().into_router();
    let ask = |peer: &str| {
        let mut r = Request::get("/").body(Body::empty()).unwrap();
        r.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        router.clone().oneshot(r)
    };
    assert_eq!(
        ask("127.0.0.1:5000").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(ask("[::1]:5000").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        ask("192.168.1.20:5000").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // Without the peer's address (served without connect info): refused, not assumed local.
    let r = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let served = Served::start(TrailKind::Investigation).await;
    for path in [
        "/admin/audit",
        "/admin/audit/records/1",
        "/admin/audit/nope",
        "/admin/audit/api/v1/records",
        "/admin/audit?before=x",
    ] {
        let r = reqwest::get(served.url(path)).await.unwrap();
        let h = r.headers();
        let Some(csp) = h.get("content-security-policy") else {
            panic!("{path}: {} without a CSP", r.status());
        };
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn hostile_parameters_get_a_readable_400_never_a_500() {
    let served = Served::start(TrailKind::Investigation).await;
    // Longer than any value or address the viewer reads (HTTP clients refuse a megabyte).
    let big = "a".repeat(60 * 1024);
    let cases = [
        "/admin/audit?before=99999999999999999999999999".to_owned(),
        "/admin/audit?after=-5".to_owned(),
        "/admin/audit?limit=1000000".to_owned(),
        "/admin/audit?since=not-a-date".to_owned(),
        "/admin/audit?until=2026-13-45".to_owned(),
        "/admin/audit?outcome=%27%20OR%201%3D1%20--".to_owned(),
        "/admin/audit?event=user.*%27%3B%20DROP%20TABLE%20audit_records%3B%20--".to_owned(),
        format!("/admin/audit?entity={big}"),
        "/admin/audit?tz=Not/AZone".to_owned(),
        "/admin/audit/records/-1".to_owned(),
        "/admin/audit/records/18446744073709551616".to_owned(),
        "/admin/audit/records/abc".to_owned(),
        "/admin/audit/entities/us%20er/1".to_owned(),
        "/admin/audit/access?user=alice&at=yesterday".to_owned(),
        "/admin/audit/access?user=alice&to=5".to_owned(),
        "/admin/audit/api/v1/records?limit=0".to_owned(),
        "/admin/audit/export.csv?since=%00".to_owned(),
    ];
    let client = reqwest::Client::new();
    for path in &cases {
        let r = client.get(served.url(path)).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(
            status,
            400,
            "{}: {}",
            &path[..path.len().min(80)],
            &body[..body.len().min(200)]
        );
        assert!(
            !body.contains("panicked") && !body.to_lowercase().contains("sqlite"),
            "{body}"
        );
    }
    // The store is untouched and still answers.
    assert_eq!(
        reqwest::get(served.url("/admin/audit"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn pages_change_nothing_and_a_download_records_itself() {
    let served = Served::start(TrailKind::Investigation).await;
    let before = records(&served.store, "default");
    for path in [
        "/admin/audit",
        "/admin/audit?entity=alice",
        "/admin/audit/records/3",
        "/admin/audit/entities/user/42?at=5&from=1&to=head",
        "/admin/audit/access?user=alice&from=1",
        "/admin/audit/integrity",
        "/admin/audit/api/v1/records",
        "/admin/audit/export.csv.manifest.json",
    ] {
        let r = reqwest::get(served.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    assert_eq!(
        records(&served.store, "default"),
        before,
        "reading wrote nothing"
    );
    let csv = reqwest::get(served.url("/admin/audit/export.csv?entity=alice"))
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("seq,"));
    assert_eq!(
        records(&served.store, "default"),
        before + 1,
        "the download is on record"
    );
    let last = served
        .store
        .query(&Query::new().descending().limit(1))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(last.event.name(), "audit.exported");
    assert_eq!(last.actor.display.as_deref(), Some("local operator"));
}

#[tokio::test]
async fn a_download_and_its_manifest_agree() {
    let served = Served::start(TrailKind::Investigation).await;
    let head = served
        .store
        .head(&TenantId::default())
        .unwrap()
        .unwrap()
        .seq;
    let q = format!("?event=user.*&through={head}");
    let csv = reqwest::get(served.url(&format!("/admin/audit/export.csv{q}")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let manifest = reqwest::get(served.url(&format!("/admin/audit/export.csv.manifest.json{q}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let manifest = audit_log::Manifest::from_json(&manifest).unwrap();
    let report = audit_log::verify_export(&csv[..], &manifest).unwrap();
    assert!(report.is_intact(), "{report}");
}

#[tokio::test]
async fn a_viewer_of_one_tenant_finds_nothing_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = SqliteSink::open(&path).unwrap();
    for tenant in ["acme", "globex"] {
        let log = AuditLog::builder(store.clone()).tenant(tenant).build();
        for i in 0..5 {
            log.record(
                &Actor::user(1, "root"),
                Event::user_created(EntityRef::new(
                    format!("{tenant}-{i}"),
                    format!("{tenant} user {i}"),
                )),
            )
            .unwrap();
        }
    }
    let served = Served::per_tenant(store.clone(), path, dir).await;
    let client = reqwest::Client::new();
    let get = |path: &str, who: &str| client.get(served.url(path)).header("x-viewer", who).send();
    // Acme's own record 3 is there; globex's is "not found" to acme, whatever the URL says.
    let own = get("/admin/audit/records/3", "acme").await.unwrap();
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("acme user 2"));
    for path in [
        "/admin/audit/records/3?tenant=globex",
        "/admin/audit?tenant=globex",
        "/admin/audit/entities/user/globex-1?tenant=globex",
        "/admin/audit/entities/user/globex-1",
        "/admin/audit/export.csv?tenant=globex",
        "/admin/audit/export.jsonl?tenant=globex",
        "/admin/audit/api/v1/records?tenant=globex",
        "/admin/audit/api/v1/records/1?tenant=globex",
        "/admin/audit/access?user=globex-1&tenant=globex",
    ] {
        let r = get(path, "acme").await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("globex user"), "{path}: {body}");
    }
    // Acme's timeline shows no globex record.
    let page = get("/admin/audit", "acme")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("acme user 4") && !page.contains("globex user"));
    // Without a viewer header: refused.
    assert_eq!(
        client
            .get(served.url("/admin/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn the_json_api_answers_what_the_pages_show() {
    let served = Served::start(TrailKind::Investigation).await;
    let get = |p: &str| {
        let url = served.url(p);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let page = get("/admin/audit/api/v1/records?entity=alice&limit=2").await;
    assert_eq!(page["entity"]["label"], "alice");
    let recs = page["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs[0]["seq"].as_u64().unwrap() > recs[1]["seq"].as_u64().unwrap());
    assert!(page["older"].is_u64());
    let one = get("/admin/audit/api/v1/records/7").await;
    assert_eq!(one["record"]["seq"], 7);
    assert_eq!(one["hash_verifies"], true);
    let access = get("/admin/audit/api/v1/access?user=alice").await;
    assert!(access["access"]["grants"].is_array());
    let chain = get("/admin/audit/api/v1/integrity").await;
    assert_eq!(chain["state"], "intact");
    let openapi = get("/admin/audit/api/v1/openapi.json").await;
    assert_eq!(openapi["openapi"], "3.1.0");
    let missing = reqwest::get(served.url("/admin/audit/api/v1/records/9999"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let err: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(err["status"], 404);
}

#[tokio::test]
async fn a_name_that_matches_several_entities_offers_a_choice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let store = SqliteSink::open(&path).unwrap();
    let log = AuditLog::builder(store.clone()).build();
    let root = Actor::user(1, "root");
    log.record(&root, Event::user_created(EntityRef::new(1, "alex")))
        .unwrap();
    log.record(&root, Event::group_created(EntityRef::new("g1", "alex")))
        .unwrap();
    drop(log);
    let app = axum::Router::new().nest("/a", Viewer::new(store.clone()).local_only().into_router());
    let (addr, _server) = viewer_support::spawn_app(app).await;
    let page = reqwest::get(format!("http://{addr}/a?entity=alex"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("names several entities"), "{page}");
    assert!(
        page.contains("entity=user%3A1") && page.contains("entity=group%3Ag1"),
        "{page}"
    );
    let none = reqwest::get(format!("http://{addr}/a?entity=zed"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(none.contains("Nothing in this trail is named"));
}

/// After a retention purge, every page says so: purged through N on DATE by ACTOR; and the
/// access view answers from the state the purge kept.
#[tokio::test]
async fn a_purged_trail_says_so_on_every_page() {
    use audit_log::{PurgePoint, RetentionExt};
    let served = Served::start(TrailKind::Investigation).await;
    served
        .store
        .purge(
            &audit_log::Preparer::new(),
            &TenantId::default(),
            PurgePoint::ThroughSeq(10),
            &Actor::service("retention-job"),
        )
        .unwrap();
    for path in [
        "/admin/audit",
        "/admin/audit/access?user=alice",
        "/admin/audit/integrity",
    ] {
        let page = reqwest::get(served.url(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("purged through 10 on"), "{path}");
        assert!(page.contains("by retention-job"), "{path}");
    }
    let access = reqwest::get(served.url("/admin/audit/access?user=alice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        access.contains("Payroll editors"),
        "the grant made before the purge point is kept"
    );
}

/// A store whose full verification is slow (its census takes 3 s), as a million records are.
#[derive(Debug, Clone)]
struct SlowToVerify(SqliteSink);

impl audit_log::AuditSink for SlowToVerify {
    fn append(
        &self,
        batch: Vec<audit_log::PreparedRecord>,
    ) -> audit_log::Result<Vec<audit_log::Receipt>> {
        self.0.append(batch)
    }
}

impl AuditStore for SlowToVerify {
    fn query<'a>(&'a self, q: &Query) -> audit_log::Result<audit_log::RecordStream<'a>> {
        self.0.query(q)
    }
    fn head(&self, t: &TenantId) -> audit_log::Result<Option<audit_log::Head>> {
        self.0.head(t)
    }
    fn chain_algorithm(&self) -> audit_log::ChainAlgorithm {
        self.0.chain_algorithm()
    }
    fn tenants(&self) -> audit_log::Result<Vec<TenantId>> {
        self.0.tenants()
    }
    fn census(&self, t: &TenantId, through: u64) -> audit_log::Result<Option<audit_log::Census>> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        self.0.census(t, through)
    }
}

/// A page never waits long for a full verification: the first says the check runs, a later
/// one shows its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_verification_does_not_hold_the_page() {
    let store = SqliteSink::open_in_memory().unwrap();
    viewer_support::investigation(&store);
    let app = axum::Router::new().nest(
        "/a",
        Viewer::new(SlowToVerify(store)).local_only().into_router(),
    );
    let (addr, _server) = viewer_support::spawn_app(app).await;
    let started = std::time::Instant::now();
    let first = reqwest::get(format!("http://{addr}/a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2900),
        "the page did not wait for the check"
    );
    assert!(
        first.contains("Checking the chain of 54 records"),
        "{}",
        &first[..first.len().min(2000)]
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later = reqwest::get(format!("http://{addr}/a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(later.contains("Chain intact up to seq 54"));
}

/// The integrity page checks a checkpoint pasted (GET) or uploaded (POST multipart): one of
/// this trail holds; one of another history (a rewrite, a restored backup) is named; a
/// signed one is checked with the key the host gave the viewer.
#[tokio::test]
async fn a_pasted_or_uploaded_checkpoint_is_checked() {
    use audit_log::{AuditStoreExt, CheckpointSigner};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = SqliteSink::open(&path).unwrap();
    viewer_support::investigation(&store);
    let t = TenantId::default();
    let good = store.checkpoint(&t).unwrap().unwrap();
    let mut forged = good.clone();
    forged.hash = audit_log::Digest([7; 32]);
    let signer = CheckpointSigner::from_bytes("audit-key", &[9; 32]).unwrap();
    let signed = good.sign(&signer, chrono::Utc::now());
    let app = axum::Router::new().nest(
        "/a",
        Viewer::new(store.clone())
            .local_only()
            .checkpoint_key(signer.verifier())
            .into_router(),
    );
    let (addr, _server) = viewer_support::spawn_app(app).await;
    let paste = |text: String| {
        let url = format!(
            "http://{addr}/a/integrity?checkpoint={}",
            form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
        );
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let ok = paste(good.to_json()).await;
    assert!(
        ok.contains("holds the record #54"),
        "{}",
        &ok[..ok.len().min(3000)]
    );
    let bad = paste(forged.to_json()).await;
    assert!(
        bad.contains("Broken at seq 54"),
        "{}",
        &bad[..bad.len().min(3000)]
    );
    let sig = paste(signed.to_json()).await;
    assert!(sig.contains("The signature of key audit-key holds"));
    assert!(sig.contains("holds the record #54"));
    // A signature that does not hold: refused before the trail is read.
    let mut tampered = signed.clone();
    tampered.checkpoint.seq = 53;
    let refused = paste(tampered.to_json()).await;
    assert!(
        refused.contains("signature does not hold"),
        "{}",
        &refused[..refused.len().min(3000)]
    );
    // Uploaded as a file of checkpoints, newest last.
    let file = format!("{}\n{}\n", forged.to_json(), good.to_json());
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file.into_bytes()).file_name("checkpoints.jsonl"),
    );
    let uploaded = reqwest::Client::new()
        .post(format!("http://{addr}/a/integrity"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        uploaded.contains("holds the record #54"),
        "the last line is used"
    );
    let junk = paste("not a checkpoint".to_owned()).await;
    assert!(junk.contains("That is not a checkpoint"));
}

/// Times show in the zone the viewer chose, daylight saving included.
#[tokio::test]
async fn times_show_in_the_chosen_zone() {
    let served = Served::start(TrailKind::Investigation).await;
    // The trail's first record is at 2026-03-02 08:00 UTC: 09:00 in Berlin (winter time).
    let utc = reqwest::get(served.url("/admin/audit/records/1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(utc.contains("2026-03-02 08:00:00"));
    let berlin = reqwest::get(served.url("/admin/audit/records/1?tz=Europe/Berlin"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(berlin.contains("2026-03-02 09:00:00") && berlin.contains("Europe/Berlin"));
    // A date typed in that zone means its midnight there.
    let page = reqwest::get(
        served.url("/admin/audit/api/v1/records?tz=Europe/Berlin&until=2026-03-02T09:01"),
    )
    .await
    .unwrap()
    .json::<serde_json::Value>()
    .await
    .unwrap();
    let seqs: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1], "only the record before 08:01 UTC");
}

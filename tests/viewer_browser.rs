#![cfg(all(feature = "web", feature = "sqlite"))]
//! The viewer in a real headless Chromium (issue #15), driven over WebDriver (chromedriver,
//! from Debian's `chromium-driver`; `.ci/run` installs it and sets `AUDIT_LOG_CHROMEDRIVER`).
//! Without it each test prints NOT RUN and passes.
//!
//! Each scenario saves screenshots under `target/viewer-screenshots/` for a person to look at.

mod viewer_support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use viewer_support::{hostile_trail, screenshot_dir, tamper, Served, TrailKind};

/// A chromedriver of our own on a free port, and a browser session on it.
struct Browser {
    client: Client,
    driver: std::process::Child,
}

impl Browser {
    async fn start(test: &str, width: u32, height: u32) -> Option<Browser> {
        Self::start_with(test, width, height, &[]).await
    }

    async fn start_with(test: &str, width: u32, height: u32, extra: &[&str]) -> Option<Browser> {
        let Ok(driver_path) = std::env::var("AUDIT_LOG_CHROMEDRIVER") else {
            eprintln!(
                "browser test {test} NOT RUN: set AUDIT_LOG_CHROMEDRIVER (chromedriver) to run it"
            );
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = std::process::Command::new(driver_path)
            .args([
                format!("--port={port}"),
                "--allowed-ips=127.0.0.1".to_owned(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap().keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": std::env::var("AUDIT_LOG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
            args.extend(extra.iter().map(|a| json!(a)));
        }
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(caps.clone())
            .connect(&url)
            .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("a browser session");
        client.set_window_size(width, height).await.unwrap();
        Some(Browser { client, driver })
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// No script of the trail ran: no dialog, no element a payload would inject, no request
    /// to another origin, only the viewer's own script.
    async fn assert_nothing_ran(&self, origin: &str) {
        assert!(
            self.client.get_alert_text().await.is_err(),
            "a dialog is open: a stored script ran"
        );
        let found: Value = self
            .client
            .execute(
                "return {
                    scripts: Array.from(document.scripts).map(s => s.src),
                    injected: document.querySelectorAll('img[src=\"x\"], [onerror], [onload], svg, iframe, object, embed').length,
                    pwned: typeof window.pwned !== 'undefined',
                    resources: performance.getEntriesByType('resource').map(e => e.name),
                };",
                vec![],
            )
            .await
            .unwrap();
        let scripts = found["scripts"].as_array().unwrap();
        assert_eq!(scripts.len(), 1, "only the viewer's script: {scripts:?}");
        assert!(scripts[0].as_str().unwrap().ends_with("/assets/viewer.js"));
        assert_eq!(found["injected"], 0, "no element injected by a payload");
        assert_eq!(found["pwned"], false);
        for r in found["resources"].as_array().unwrap() {
            assert!(
                r.as_str().unwrap().starts_with(origin),
                "a request to another origin: {r}"
            );
        }
    }

    /// Runs axe-core (`AUDIT_LOG_AXE`, the path of `axe.min.js`) on the page: no violation of
    /// impact serious or critical.
    async fn assert_accessible(&self, page: &str) {
        let Ok(path) = std::env::var("AUDIT_LOG_AXE") else {
            eprintln!("accessibility check of {page} NOT RUN: set AUDIT_LOG_AXE (axe.min.js)");
            return;
        };
        let axe = std::fs::read_to_string(path).unwrap();
        self.client.execute(&axe, vec![]).await.unwrap();
        let loaded: Value = self
            .client
            .execute(
                "return typeof axe === 'object' && typeof axe.run === 'function';",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(loaded, json!(true), "axe-core loaded into {page}");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}))));",
                vec![],
            )
            .await
            .unwrap();
        let bad: Vec<&Value> = result
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "accessibility violations on {page}: {bad:#?}"
        );
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn fill(c: &Client, id: &str, value: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Submits the filter form and waits for the page it leads to (whose address holds `wait_for`):
/// what the test reads next must be the new page, not the one being left.
async fn submit(c: &Client, wait_for: &str) {
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(c, wait_for).await;
}

/// Waits until the browser has left the page at `old` and loaded another.
async fn wait_for_new_page(c: &Client, old: &str) {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        let ready: Value = c
            .execute("return document.readyState;", vec![])
            .await
            .unwrap();
        if url.as_str() != old && ready == json!("complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the browser stayed on {old}");
}

/// Waits until the browser shows a loaded page whose address holds `part`.
async fn wait_for_url(c: &Client, part: &str) {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        let ready: Value = c
            .execute("return document.readyState;", vec![])
            .await
            .unwrap();
        if url.as_str().contains(part) && ready == json!("complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the browser did not reach a page with {part}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_investigates_in_the_browser() {
    let Some(b) = Browser::start("an_administrator_investigates_in_the_browser", 1280, 900).await
    else {
        return;
    };
    let served = Served::start(TrailKind::Investigation).await;
    let c = &b.client;
    let home = served.url("/admin/audit");
    c.goto(&home).await.unwrap();
    b.shot("01-timeline").await;
    let text = b.text().await;
    assert!(text.contains("Chain intact up to seq"), "{text}");
    assert!(text.contains("Timeline"));
    b.assert_nothing_ran(&served.origin()).await;
    b.assert_accessible("timeline").await;

    // Find alice by name.
    fill(c, "entity", "alice").await;
    submit(c, "entity=alice").await;
    let text = b.text().await;
    assert!(text.contains("Timeline of user alice"), "{text}");
    assert!(!text.contains("created user bob"), "only alice's records");
    b.shot("02-timeline-alice").await;

    // Her history and state, through the entity link.
    c.find(Locator::LinkText("its history and state"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = b.text().await;
    assert!(text.contains("User alice"), "{text}");
    assert!(text.contains("member of"), "{text}");
    b.shot("03-entity-alice").await;
    b.assert_accessible("entity").await;

    // An event family and an actor.
    c.goto(&home).await.unwrap();
    let select = c.find(Locator::Id("event")).await.unwrap();
    select.select_by_value("permission.*").await.unwrap();
    fill(c, "actor", "2").await;
    submit(c, "actor=2").await;
    let rows = c
        .find_all(Locator::Css("table.records tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let t = r.text().await.unwrap();
        assert!(t.contains("bob"), "actor 2 is bob: {t}");
    }
    b.shot("04-filter-permission-bob").await;

    // Page deep and back: five records a page.
    c.goto(&served.url("/admin/audit?limit=5")).await.unwrap();
    let first_page = b.text().await;
    for _ in 0..3 {
        let before = c.current_url().await.unwrap();
        c.find(Locator::LinkText("Older →"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_new_page(c, before.as_str()).await;
    }
    let deep = b.text().await;
    assert_ne!(first_page, deep);
    b.shot("05-deep-page").await;
    for _ in 0..3 {
        let before = c.current_url().await.unwrap();
        c.find(Locator::LinkText("← Newer"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_new_page(c, before.as_str()).await;
    }
    let back = c
        .find_all(Locator::Css("table.records td.seq"))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    for s in back {
        seqs.push(s.text().await.unwrap());
    }
    assert!(
        first_page.contains(&seqs[0]),
        "back on the first page: {seqs:?}"
    );

    // A record's detail, from the timeline.
    c.find(Locator::Css("table.records td.seq a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = b.text().await;
    assert!(
        text.contains("Envelope") && text.contains("Chain") && text.contains("Verifies"),
        "{text}"
    );
    assert!(text.contains("Yes: its hash recomputes"), "{text}");
    b.shot("06-record").await;
    b.assert_accessible("record").await;

    // The access question, and what changed it.
    c.goto(&served.url("/admin/audit/access?user=alice&from=1"))
        .await
        .unwrap();
    let text = b.text().await;
    assert!(text.contains("Access of alice"), "{text}");
    assert!(text.contains("What changed it"), "{text}");
    b.shot("07-access-alice").await;
    b.assert_accessible("access").await;

    // Get Audit Log: the CSV of the current filter, read back by a CSV reader.
    c.goto(&served.url("/admin/audit?entity=alice"))
        .await
        .unwrap();
    let href = c
        .find(Locator::LinkText("CSV"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = reqwest::get(format!("{}{href}", served.origin()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r.iter().any(|cell| cell.contains("alice"))));
    // The download is on record, by the viewer.
    c.goto(&served.url("/admin/audit?event=audit.exported"))
        .await
        .unwrap();
    let text = b.text().await;
    assert!(text.contains("local operator exported"), "{text}");
    b.shot("08-export-recorded").await;

    // A narrow screen, dark or light as the system says: still usable.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&home).await.unwrap();
    b.shot("09-phone-timeline").await;
    let overflow: Value = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(true),
        "no sideways scrolling at phone width"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_scripts_stay_text() {
    let Some(b) = Browser::start("stored_scripts_stay_text", 1280, 900).await else {
        return;
    };
    let served = Served::start(TrailKind::Hostile).await;
    let c = &b.client;
    for page in [
        "/admin/audit",
        "/admin/audit/records/1",
        "/admin/audit/records/2",
        "/admin/audit/records/3",
        "/admin/audit/entities/user/evil",
        "/admin/audit/access?user=evil",
        "/admin/audit?entity=%3Cscript%3E",
    ] {
        c.goto(&served.url(page)).await.unwrap();
        b.assert_nothing_ran(&served.origin()).await;
        let text = b.text().await;
        assert!(!text.is_empty());
    }
    c.goto(&served.url("/admin/audit/records/1")).await.unwrap();
    let text = b.text().await;
    assert!(
        text.contains("<script>"),
        "the payload shows as text: {text}"
    );
    b.shot("10-hostile-record").await;
    c.goto(&served.url("/admin/audit")).await.unwrap();
    b.shot("11-hostile-timeline").await;
    hostile_trail::assert_links_are_ours(c, &served.origin()).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_trail_is_reported_on_every_page() {
    let Some(b) = Browser::start("a_tampered_trail_is_reported_on_every_page", 1280, 900).await
    else {
        return;
    };
    let served = Served::start(TrailKind::Investigation).await;
    tamper(&served.path, 5);
    let c = &b.client;
    for page in [
        "/admin/audit",
        "/admin/audit/records/9",
        "/admin/audit/access?user=alice",
        "/admin/audit/entities/user/42",
    ] {
        c.goto(&served.url(page)).await.unwrap();
        let banner = c
            .find(Locator::Css(".integrity"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(banner.contains("Chain broken at seq 5"), "{page}: {banner}");
    }
    b.shot("12-tampered").await;
    c.goto(&served.url("/admin/audit/records/5")).await.unwrap();
    assert!(b
        .text()
        .await
        .contains("No: its content does not match its hash"));
    b.shot("13-tampered-record").await;
    b.close().await;
}

/// Keyboard alone: the skip link first, then into the filters, a search by Enter, and into a
/// record by Enter on its link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usable_by_keyboard_alone() {
    use fantoccini::key::Key;
    let Some(b) = Browser::start("usable_by_keyboard_alone", 1280, 900).await else {
        return;
    };
    let served = Served::start(TrailKind::Investigation).await;
    let c = &b.client;
    c.goto(&served.url("/admin/audit")).await.unwrap();
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let focused: Value = c
        .execute("return document.activeElement.textContent;", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused,
        json!("Skip to the content"),
        "the first stop is the skip link"
    );
    b.shot("14-keyboard-skip-link").await;
    // Into the entity field, type, Enter submits the form.
    let entity = c.find(Locator::Id("entity")).await.unwrap();
    entity
        .send_keys(&format!("carol{}", Key::Enter))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.text().await.contains("Timeline of user carol"));
    // Focus the first record's link and follow it with Enter.
    c.execute(
        "document.querySelector('table.records td.seq a').focus();",
        vec![],
    )
    .await
    .unwrap();
    let active = c.active_element().await.unwrap();
    active.send_keys(&Key::Enter.to_string()).await.unwrap();
    wait_for_url(c, "/records/").await;
    assert!(b.text().await.contains("Envelope"));
    // Every control can show focus: the stylesheet gives them a visible outline.
    let outline: Value = c
        .execute(
            "const a = document.querySelector('a'); a.focus(); return getComputedStyle(a).outlineStyle;",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(outline, json!("none"), "a focused link shows it");
    b.close().await;
}

/// The system's dark mode: the page follows it, readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_in_dark_mode() {
    let Some(b) = Browser::start_with(
        "readable_in_dark_mode",
        1280,
        900,
        &["--force-dark-mode", "--enable-features=WebUIDarkMode"],
    )
    .await
    else {
        return;
    };
    let served = Served::start(TrailKind::Investigation).await;
    let c = &b.client;
    c.goto(&served.url("/admin/audit/access?user=alice"))
        .await
        .unwrap();
    let dark: Value = c
        .execute(
            "return window.matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        )
        .await
        .unwrap();
    b.shot("15-dark-access").await;
    if dark != json!(true) {
        eprintln!("dark mode NOT RUN: this Chromium does not report dark mode to pages");
        b.close().await;
        return;
    }
    let colours: Value = c
        .execute(
            "const s = getComputedStyle(document.body); return [s.backgroundColor, s.color];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colours[0], json!("rgb(13, 17, 23)"), "the dark background");
    b.assert_accessible("access, dark").await;
    b.close().await;
}

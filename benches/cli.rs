//! The command line's speed on a large store, each figure against a baseline measured in the
//! same run (issue #13):
//!
//! - `cli_list/first_page` vs `cli_list/deep_page`: `audit-log list --limit 50` at the start
//!   of a 1M-record SQLite store and 500 000 records deep (`--after 500000`), the whole
//!   process each time (start, open the store read-only, query, print the table to a pipe).
//!   Goal: the deep page within 2x the first (keyset pages: no offset to skip).
//! - `cli_export/binary` vs `cli_export/library`: `audit-log export --format csv -o FILE` of
//!   all 1M records against the library's `CsvExport::to_file` on the same store opened the
//!   same way (read-only), into a file on the same disk. Goal: the binary at least 0.8x the
//!   library's throughput.
//!
//! The store (`AUDIT_BENCH_N` records, default 1 000 000; a realistic mix with ip, user agent,
//! request id and reason) is built once per run in a temp dir through the library's batch
//! append. Run with `cargo bench --bench cli --features cli`; figures in docs/benchmarks.md.

#[path = "../tests/cli_support/mod.rs"]
mod cli_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use audit_log::{CsvExport, Query, SqliteOptions};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

fn n() -> u64 {
    std::env::var("AUDIT_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn run_cli(args: &[&str]) {
    let status = Command::new(cli_support::BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "audit-log {args:?} failed");
}

fn benches(c: &mut Criterion) {
    let n = n();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let built = std::time::Instant::now();
    drop(cli_support::big_store(&path, n));
    eprintln!("store of {n} records built in {:?}", built.elapsed());
    let store_arg = format!("sqlite:{}", path.display());
    let deep = (n / 2).to_string();

    let mut list = c.benchmark_group("cli_list");
    list.sample_size(30)
        .measurement_time(Duration::from_secs(10));
    list.bench_function("first_page", |b| {
        b.iter(|| run_cli(&["--store", &store_arg, "list", "--limit", "50"]))
    });
    list.bench_function("deep_page", |b| {
        b.iter(|| {
            run_cli(&[
                "--store", &store_arg, "list", "--limit", "50", "--after", &deep,
            ])
        })
    });
    list.finish();

    let mut export = c.benchmark_group("cli_export");
    export
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(n));
    let by_binary = dir.path().join("binary.csv");
    export.bench_function("binary", |b| {
        b.iter(|| {
            run_cli(&[
                "--store",
                &store_arg,
                "export",
                "--format",
                "csv",
                "--force",
                "-o",
                by_binary.to_str().unwrap(),
            ])
        })
    });
    let by_library = dir.path().join("library.csv");
    export.bench_function("library", |b| {
        b.iter(|| {
            let store = SqliteOptions::new().read_only(true).open(&path).unwrap();
            CsvExport::new()
                .to_file(&store, &Query::new(), &by_library)
                .unwrap()
        })
    });
    export.finish();
    // Both wrote the same CSV.
    assert_eq!(
        std::fs::read(&by_binary).unwrap(),
        std::fs::read(&by_library).unwrap()
    );
}

criterion_group!(cli, benches);
criterion_main!(cli);

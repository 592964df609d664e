//! Records a change inside a sqlx SQLite transaction and reads it back with the store.

use audit_log::{Actor, AuditStore, EntityRef, Entry, Event, Preparer, Query, SqliteSink};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sqlx-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("host.db");
    let store = SqliteSink::open(&path)?;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY)").execute(&mut *tx).await?;
    let record = Preparer::new().prepare(Entry::new(
        Actor::system(),
        Event::user_created(EntityRef::id_only(1)),
    ))?;
    audit_log::sqlx::append_in_sqlite(&mut tx, vec![record]).await?;
    tx.commit().await?;
    let n = store.query(&Query::new())?.count();
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(n, 1);
    println!("one libsqlite3-sys, one record");
    Ok(())
}

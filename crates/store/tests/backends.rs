//! Every backend passes the one contract suite.

use std::sync::Arc;

use cirrus_store::contract;
use cirrus_store::memory::MemoryStore;
use cirrus_store::postgres::PostgresStore;
use cirrus_store::sqlite::{Durability, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_the_contract() {
    contract::run(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_contract() {
    let dir = std::env::temp_dir().join(format!("cirrus-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("contract.db");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path, Durability::Full).expect("open");
    contract::run(Arc::new(store)).await;
    // Opening again finds the schema migrated and the data there.
    let again = SqliteStore::open(&path, Durability::Normal).expect("reopen");
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The machine's PostgreSQL (`CIRRUS_TEST_POSTGRES`, default 127.0.0.1:5432/test), in a
/// schema of its own that is dropped afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_contract() {
    let base = std::env::var("CIRRUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("contract_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL at CIRRUS_TEST_POSTGRES (default 127.0.0.1:5432/test) must run");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    let url = format!("{base}?options=-csearch_path%3D{schema}");
    let store = PostgresStore::connect(&url).await.expect("connect");
    contract::run(Arc::new(store)).await;
    // Migrating again is a no-op.
    PostgresStore::connect(&url).await.expect("reconnect");
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

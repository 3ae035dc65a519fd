//! Every backend passes the one contract suite.

use std::sync::Arc;

use cirrus_store::contract;
use cirrus_store::memory::MemoryStore;
use cirrus_store::postgres::PostgresStore;
use cirrus_store::sqlite::{Durability, SqliteStore};
use cirrus_store::{Function, FunctionVersion, Functions, Invocations, QueuedInvocation, Store};

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

/// What a function and invocation call wrote is there after the store is closed and opened
/// again: each was committed before its call returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_functions_and_queued_invocations_when_reopened() {
    let dir = std::env::temp_dir().join(format!("cirrus-store-reopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reopen.db");
    let _ = std::fs::remove_file(&path);
    let f = Function {
        name: "f".into(),
        config: "{}".into(),
        code_digest: "sha".into(),
        revision_id: "r1".into(),
        next_version: 1,
        created_ms: 1,
        updated_ms: 1,
    };
    let v = FunctionVersion {
        function: "f".into(),
        number: 0,
        config: "{}".into(),
        code_digest: "sha".into(),
        revision_id: "r1".into(),
        created_ms: 2,
    };
    let i = QueuedInvocation {
        id: "req-1".into(),
        function: "f".into(),
        qualifier: "$LATEST".into(),
        payload: vec![0, 1, 2, 255],
        attempts: 0,
        due_ms: 10,
        created_ms: 5,
        last_error: None,
    };
    {
        let store = SqliteStore::open(&path, Durability::Full).expect("open");
        store.put_code("sha", b"\0asm").await.unwrap();
        store.create_function(&f).await.unwrap();
        store
            .publish_function_version(&v, Some("r1"))
            .await
            .unwrap();
        store.enqueue_invocation(&i).await.unwrap();
    }
    let store = SqliteStore::open(&path, Durability::Full).expect("reopen");
    assert_eq!(
        store.function("f").await.unwrap().map(|f| f.next_version),
        Some(2)
    );
    assert_eq!(
        store.function_version("f", 1).await.unwrap(),
        Some(FunctionVersion { number: 1, ..v })
    );
    assert_eq!(
        store.code("sha").await.unwrap().as_deref(),
        Some(&b"\0asm"[..])
    );
    assert_eq!(store.due_invocations(i64::MAX, 0).await.unwrap(), vec![i]);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The machine's PostgreSQL (`CIRRUS_TEST_POSTGRES`, default 127.0.0.1:5432/test), in a
/// schema of its own: its URL, and a client to drop the schema with [`drop_schema`].
async fn postgres_schema(name: &str) -> (String, String, tokio_postgres::Client) {
    let base = std::env::var("CIRRUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("{name}_{}", std::process::id());
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
    (url, schema, admin)
}

async fn drop_schema(admin: &tokio_postgres::Client, schema: &str) {
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_contract() {
    let (url, schema, admin) = postgres_schema("contract").await;
    let store = PostgresStore::connect(&url).await.expect("connect");
    contract::run(Arc::new(store)).await;
    // Migrating again is a no-op.
    PostgresStore::connect(&url).await.expect("reconnect");
    drop_schema(&admin, &schema).await;
}

/// Two stores on one database, as two nodes: each schedule tick fires once and each
/// queue message is received by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_fire_each_tick_once_and_receive_each_message_once() {
    let (url, schema, admin) = postgres_schema("race").await;
    let one: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.expect("connect"));
    let two: Arc<dyn Store> = Arc::new(
        PostgresStore::connect_without_node_lock(&url)
            .await
            .expect("connect a second node"),
    );
    let nodes = [one, two];
    contract::racing_fires(&nodes).await;
    contract::racing_receivers(&nodes).await;
    drop(nodes);
    drop_schema(&admin, &schema).await;
}

/// `put_schedules` of 1,000,000 schedules on SQLite, timed (run with
/// `cargo test --release -p cirrus-store --test backends -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn sqlite_puts_a_million_schedules() {
    use cirrus_store::{Schedule, Schedules};
    let dir = std::env::temp_dir().join(format!("cirrus-store-1m-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("schedules.db");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path, Durability::Full).expect("open");
    let schedules: Vec<Schedule> = (0..1_000_000i64)
        .map(|i| Schedule {
            name: format!("schedule/g{}/s{i:07}", i % 100),
            expression: "rate(1 minute)".into(),
            timezone: "UTC".into(),
            next_ms: Some(1_700_000_000_000 + (i * 7919) % 60_000),
            document: r#"{"target":{"arn":"arn:aws:lambda:us-east-1:1:function:f"},"input":"{}"}"#
                .into(),
            created_ms: 1,
            updated_ms: 1,
        })
        .collect();
    let started = std::time::Instant::now();
    store.put_schedules(&schedules).await.expect("put 1M");
    let took = started.elapsed();
    assert_eq!(store.schedule_count().await.unwrap(), 1_000_000);
    eprintln!("put_schedules of 1,000,000 on SQLite: {took:?}");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Missed ticks: a schedule found ten minutes late (as when no node ran) follows its
//! policy: `fire_once` fires one catch-up tick, `skip` none, `fire_all` every missed tick;
//! all three then wait for their next tick on time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cirrus_server::events::scheduler::{Missed, ScheduleDoc, schedule_name};
use cirrus_server::{Node, NodeOptions};
use cirrus_store::Schedule;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_follow_the_schedule_policy() {
    let dir = std::env::temp_dir().join(format!("cirrus-schedules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn cirrus_store::Store> = Arc::new(cirrus_store::memory::MemoryStore::new());
    let node = Node::open_with(NodeOptions::new(&dir), Some(store))
        .await
        .expect("node");
    let now = cirrus_engine::now_ms();
    // Ticks every minute from 9.5 minutes ago: ten of them are missed (the last 30 s
    // late), the next is 30 s away.
    let first = now - 570_000;
    let mut schedules = Vec::new();
    for (policy, missed) in [
        ("fire_once", Missed::FireOnce),
        ("skip", Missed::Skip),
        ("fire_all", Missed::FireAll),
    ] {
        let queue = format!("ticks-{policy}");
        node.events
            .queues
            .create(&queue, &[], BTreeMap::new())
            .await
            .expect("queue");
        let target = serde_json::from_value(json!({
            "id": "q", "action": {"type": "queue", "queue": queue},
            "input": {"type": "constant", "value": json!({"policy": policy}).to_string()}
        }))
        .unwrap();
        let doc = ScheduleDoc {
            rule: None,
            target: Some(target),
            missed,
            anchor_ms: first - 60_000,
            enabled: true,
            description: String::new(),
        };
        schedules.push(Schedule {
            name: schedule_name("default", policy),
            expression: "rate(1 minute)".into(),
            timezone: "UTC".into(),
            next_ms: Some(first),
            document: serde_json::to_string(&doc).unwrap(),
            created_ms: first,
            updated_ms: first,
        });
    }
    node.events
        .put_schedules(schedules)
        .await
        .expect("schedules");

    let expected = [("fire_once", 1u64), ("skip", 0), ("fire_all", 10)];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut counts = Vec::new();
        for (policy, _) in expected {
            let c = node
                .events
                .store
                .queue_counts(&format!("ticks-{policy}"), cirrus_engine::now_ms())
                .await
                .unwrap();
            counts.push((policy, c.visible));
        }
        if counts == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "messages per policy: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more comes before the next tick, and every schedule waits for it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (policy, n) in expected {
        let c = node
            .events
            .store
            .queue_counts(&format!("ticks-{policy}"), cirrus_engine::now_ms())
            .await
            .unwrap();
        assert_eq!(c.visible, n, "{policy}");
        let s = node
            .events
            .store
            .schedule(&schedule_name("default", policy))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.next_ms, Some(first + 600_000), "{policy}");
    }
    let stats = node.events.scheduler.stats();
    assert_eq!(stats["fired"], 11, "{stats}");
    assert_eq!(stats["missed"], 1, "{stats}");
}

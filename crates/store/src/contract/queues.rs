//! The contract of [`Queues`]: SQS's visibility, receipts and redrive.

use std::collections::HashSet;
use std::sync::Arc;

use crate::*;

pub(super) fn message(queue: &str, id: &str, sent_ms: i64, visible_ms: i64) -> QueueMessage {
    QueueMessage {
        queue: queue.into(),
        id: id.into(),
        body: format!("body of {id}"),
        attributes: r#"{"a":{"DataType":"String","StringValue":"1"}}"#.into(),
        sent_ms,
        visible_ms,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
    }
}

fn ids(v: &[QueueMessage]) -> Vec<&str> {
    v.iter().map(|m| m.id.as_str()).collect()
}

fn counts(visible: u64, in_flight: u64, delayed: u64) -> QueueCounts {
    QueueCounts {
        visible,
        in_flight,
        delayed,
    }
}

pub(super) async fn queues(s: &dyn Store) {
    assert_eq!(s.queue_counts("q1", 0).await.unwrap(), counts(0, 0, 0));
    assert_eq!(s.next_visible("q1").await.unwrap(), None);
    assert!(
        s.receive_messages("q1", 10, 0, 1000, None)
            .await
            .unwrap()
            .is_empty()
    );

    let m1 = message("q1", "m1", 100, 100);
    let m2 = message("q1", "m2", 101, 101);
    let m3 = message("q1", "m3", 102, 500);
    let mut m4 = message("q1", "m4", 99, 101);
    m4.receipt = Some("the store's, not the sender's".into());
    s.send_messages(&[m1.clone(), m2.clone(), m3.clone(), m4.clone()])
        .await
        .expect("send");
    s.send_messages(&[message("q2", "m1", 1, 1)])
        .await
        .expect("an id is unique within its queue only");
    s.send_messages(&[]).await.expect("send nothing");
    for batch in [
        vec![message("q1", "m9", 1, 1), message("q1", "m1", 1, 1)],
        vec![message("q1", "m9", 1, 1), message("q1", "m9", 1, 1)],
    ] {
        assert!(
            matches!(s.send_messages(&batch).await, Err(StoreError::Conflict(_))),
            "an id in its queue already is a conflict"
        );
        assert_eq!(
            s.queue_counts("q1", 1000).await.unwrap(),
            counts(4, 0, 0),
            "and nothing is sent"
        );
    }
    assert_eq!(
        s.queue_counts("q1", 200).await.unwrap(),
        counts(3, 0, 1),
        "a message sent with a delay is delayed"
    );
    assert_eq!(s.next_visible("q1").await.unwrap(), Some(100));

    // Receive: by (visible_ms, sent_ms, id), each made invisible for the timeout.
    let got = s
        .receive_messages("q1", 2, 200, 1000, None)
        .await
        .expect("receive");
    assert_eq!(
        ids(&got),
        vec!["m1", "m4"],
        "visible first, then sent first"
    );
    assert_eq!(
        got[0],
        QueueMessage {
            receive_count: 1,
            first_receive_ms: Some(200),
            receipt: Some("m1#1".into()),
            visible_ms: 1200,
            ..m1.clone()
        },
        "a received message as updated"
    );
    assert_eq!(got[1].receipt.as_deref(), Some("m4#1"));
    assert_eq!(s.queue_counts("q1", 200).await.unwrap(), counts(1, 2, 1));
    assert_eq!(s.queue_counts("q1", 600).await.unwrap(), counts(2, 2, 0));
    assert_eq!(
        ids(&s.receive_messages("q1", 10, 300, 1000, None).await.unwrap()),
        vec!["m2"],
        "in-flight and delayed messages are not received"
    );
    assert!(
        s.receive_messages("q1", 10, 300, 1000, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.receive_messages("q1", 0, 5000, 1000, None)
            .await
            .unwrap()
            .is_empty(),
        "receiving 0 receives nothing"
    );
    assert_eq!(s.next_visible("q1").await.unwrap(), Some(500));

    // Received again once visible: a new receipt, the first receive time kept.
    let again = s.receive_messages("q1", 3, 1250, 1000, None).await.unwrap();
    assert_eq!(
        ids(&again),
        vec!["m3", "m4", "m1"],
        "m3 became visible at 500, m4 and m1 at 1200 (m4 sent first)"
    );
    assert_eq!(
        (
            again[2].receive_count,
            again[2].first_receive_ms,
            again[2].receipt.as_deref()
        ),
        (2, Some(200), Some("m1#2"))
    );
    assert_eq!(again[0].first_receive_ms, Some(1250));

    // Only the latest receipt deletes or changes visibility.
    assert!(
        !s.change_visibility("q1", "m1#1", 0).await.unwrap(),
        "a stale receipt does not change visibility"
    );
    assert_eq!(
        s.delete_messages(
            "q1",
            &[
                "m1#1".into(),
                "m1#2".into(),
                "m1#2".into(),
                "junk".into(),
                "m1#02".into()
            ]
        )
        .await
        .unwrap(),
        vec![false, true, false, false, false],
        "a stale receipt deletes nothing; the latest deletes once"
    );
    assert!(
        !s.delete_messages("q2", &["m4#1".into()]).await.unwrap()[0],
        "a receipt deletes in its queue only"
    );
    assert!(s.delete_messages("q1", &[]).await.unwrap().is_empty());
    assert!(!s.change_visibility("q1", "m4#1", 50).await.unwrap());
    assert!(s.change_visibility("q1", "m4#2", 50).await.unwrap());
    assert!(!s.change_visibility("q1", "m1#2", 50).await.unwrap());
    assert!(!s.change_visibility("q1", "m9#1", 50).await.unwrap());
    assert_eq!(s.next_visible("q1").await.unwrap(), Some(50));
    let got = s.receive_messages("q1", 10, 60, 1000, None).await.unwrap();
    assert_eq!(
        ids(&got),
        vec!["m4"],
        "a message made visible is received again"
    );
    assert_eq!(got[0].receipt.as_deref(), Some("m4#3"));
    assert_eq!(s.queue_counts("q1", 60).await.unwrap(), counts(0, 3, 0));

    // Retention and purge.
    assert_eq!(
        s.expire_messages("q1", 101).await.unwrap(),
        1,
        "messages sent before the time expire"
    );
    assert_eq!(
        s.queue_counts("q1", i64::MAX).await.unwrap(),
        counts(2, 0, 0)
    );
    assert_eq!(s.expire_messages("q1", 0).await.unwrap(), 0);
    assert_eq!(s.purge_queue("q1").await.unwrap(), 2);
    assert_eq!(s.purge_queue("q1").await.unwrap(), 0);
    assert_eq!(s.next_visible("q1").await.unwrap(), None);
    assert_eq!(
        s.queue_counts("q2", i64::MAX).await.unwrap(),
        counts(1, 0, 0),
        "other queues stay"
    );
    assert_eq!(s.purge_queue("q2").await.unwrap(), 1);

    // Big bodies.
    let mut big = message("q-big", "big", 1, 1);
    big.body = "y".repeat(256 << 10);
    s.send_messages(std::slice::from_ref(&big)).await.unwrap();
    let got = s.receive_messages("q-big", 1, 1, 1000, None).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, big.body, "a 256 KiB body is kept");
    assert_eq!(s.purge_queue("q-big").await.unwrap(), 1);
}

pub(super) async fn redrive(s: &dyn Store) {
    let redrive = Redrive {
        dead_letter_queue: "rq-dlq".into(),
        max_receives: 2,
    };
    let r1 = message("rq", "r1", 10, 10);
    let r2 = message("rq", "r2", 20, 150);
    let r3 = message("rq", "r3", 30, 160);
    s.send_messages(&[r1.clone(), r2.clone(), r3.clone()])
        .await
        .unwrap();
    // r1 received twice (visibility 0: visible again at once).
    for n in 1..=2 {
        let got = s
            .receive_messages("rq", 1, 100, 0, Some(&redrive))
            .await
            .unwrap();
        assert_eq!(ids(&got), vec!["r1"]);
        assert_eq!(got[0].receive_count, n);
    }
    // The third receive moves r1 and, not counting it, receives the next one.
    let got = s
        .receive_messages("rq", 1, 200, 1000, Some(&redrive))
        .await
        .unwrap();
    assert_eq!(
        ids(&got),
        vec!["r2"],
        "an exhausted message is moved, not received, and does not count"
    );
    let moved = s
        .receive_messages("rq-dlq", 10, 200, 1000, None)
        .await
        .unwrap();
    assert_eq!(ids(&moved), vec!["r1"], "it is in the dead-letter queue");
    assert_eq!(
        moved[0],
        QueueMessage {
            queue: "rq-dlq".into(),
            receive_count: 1,
            first_receive_ms: Some(200),
            receipt: Some("r1#1".into()),
            visible_ms: 1200,
            ..r1.clone()
        },
        "with its id, body, attributes and sent time, its count started over, visible at once"
    );
    assert_eq!(
        s.queue_counts("rq", 200).await.unwrap(),
        counts(1, 1, 0),
        "and gone from its queue"
    );
    assert!(
        !s.delete_messages("rq", &["r1#2".into()]).await.unwrap()[0],
        "its old receipt deletes nothing"
    );
    // Without redrive, counts grow past any limit.
    for _ in 0..3 {
        let got = s.receive_messages("rq", 1, 300, 0, None).await.unwrap();
        assert_eq!(ids(&got), vec!["r3"]);
    }
    // Several exhausted messages in a row are all moved on the way.
    let got = s
        .receive_messages("rq", 5, 5000, 0, Some(&redrive))
        .await
        .unwrap();
    assert_eq!(
        ids(&got),
        vec!["r2"],
        "r3 (3 receives) moved; r2 (1) received"
    );
    assert_eq!(
        s.queue_counts("rq-dlq", 5000).await.unwrap(),
        counts(2, 0, 0),
        "r3 joined r1 in the dead-letter queue"
    );
    // A message moved to a dead-letter queue holding its id replaces it.
    for _ in 0..2 {
        s.receive_messages("rq", 5, 6000, 0, None).await.unwrap();
    }
    s.send_messages(&[message("rq-dlq", "r2", 1, 1)])
        .await
        .unwrap();
    assert!(
        s.receive_messages("rq", 5, 7000, 0, Some(&redrive))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.queue_counts("rq", 7000).await.unwrap(), counts(0, 0, 0));
    let dlq = s
        .receive_messages("rq-dlq", 10, 7000, 1000, None)
        .await
        .unwrap();
    assert_eq!(
        ids(&dlq),
        vec!["r1", "r3", "r2"],
        "by the time each became visible"
    );
    let r2_moved = dlq.iter().find(|m| m.id == "r2").expect("r2 moved");
    assert_eq!(
        (r2_moved.sent_ms, r2_moved.body.as_str()),
        (20, "body of r2"),
        "the moved message replaced the one of its id"
    );
    assert_eq!(dlq.len(), 3);
    assert_eq!(s.purge_queue("rq-dlq").await.unwrap(), 3);
}

/// Receivers racing on one queue (tasks spread over `stores`, which share their data as
/// nodes sharing a database do) never get the same message in one visibility window.
pub async fn racing_receivers(stores: &[Arc<dyn Store>]) {
    let s = stores[0].clone();
    let messages: Vec<QueueMessage> = (0..60)
        .map(|i| message("race-q", &format!("m{i:03}"), i, i))
        .collect();
    s.send_messages(&messages).await.unwrap();
    let mut handles = Vec::new();
    for receiver in 0..4 {
        let s = stores[receiver % stores.len()].clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s
                    .receive_messages("race-q", 3, 1000, 1_000_000, None)
                    .await?;
                if batch.is_empty() {
                    return Ok::<_, StoreError>(got);
                }
                got.extend(batch.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for h in handles {
        let got = h.await.expect("task").expect("receive");
        total += got.len();
        seen.extend(got);
    }
    assert_eq!(total, 60, "each message was received once");
    assert_eq!(seen.len(), 60, "by one receiver");
    assert_eq!(s.purge_queue("race-q").await.unwrap(), 60);
}

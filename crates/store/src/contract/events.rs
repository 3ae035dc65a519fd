//! The contract of [`Resources`] and [`EventLog`]: revisions and `Expect`, the delivery
//! queue and its dead letters, archives.

use crate::*;

pub(super) fn resource(kind: &str, name: &str, document: &str) -> Resource {
    Resource {
        kind: kind.into(),
        name: name.into(),
        document: document.into(),
        revision: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

pub(super) fn delivery(id: &str, bus: &str, rule: &str, due_ms: i64) -> Delivery {
    Delivery {
        id: id.into(),
        bus: bus.into(),
        rule: rule.into(),
        target: "t1".into(),
        payload: format!(r#"{{"id":"{id}"}}"#),
        attempts: 0,
        due_ms,
        created_ms: 10,
        last_error: None,
    }
}

pub(super) fn archived(archive: &str, time_ms: i64, id: &str, event: &str) -> ArchivedEvent {
    ArchivedEvent {
        archive: archive.into(),
        time_ms,
        id: id.into(),
        event: event.into(),
    }
}

pub(super) fn dead(delivery: Delivery, failed_ms: i64) -> DeadEvent {
    DeadEvent {
        delivery,
        reason: "RetriesExhausted".into(),
        failed_ms,
    }
}

fn delivery_ids(v: &[Delivery]) -> Vec<&str> {
    v.iter().map(|d| d.id.as_str()).collect()
}

fn dead_ids(v: &[DeadEvent]) -> Vec<&str> {
    v.iter().map(|d| d.delivery.id.as_str()).collect()
}

fn archived_ids(v: &[ArchivedEvent]) -> Vec<(i64, &str)> {
    v.iter().map(|e| (e.time_ms, e.id.as_str())).collect()
}

pub(super) async fn resources(s: &dyn Store) {
    assert!(s.resources("rule").await.unwrap().is_empty());
    assert_eq!(s.resource("rule", "r1").await.unwrap(), None);
    let before = now_ms();

    // The store sets revision and times; the caller's are ignored.
    let mut r1 = resource("rule", "r1", r#"{"v":1}"#);
    r1.revision = 99;
    r1.created_ms = 5;
    r1.updated_ms = 5;
    let stored = s.put_resource(&r1, Expect::Absent).await.expect("create");
    assert_eq!(stored.revision, 1, "a new resource has revision 1");
    assert!(
        stored.created_ms >= before,
        "created_ms is the store's clock"
    );
    assert_eq!(stored.updated_ms, stored.created_ms);
    assert_eq!((stored.kind.as_str(), stored.name.as_str()), ("rule", "r1"));
    assert_eq!(stored.document, r1.document);
    assert_eq!(
        s.resource("rule", "r1").await.unwrap(),
        Some(stored.clone())
    );
    assert!(
        matches!(
            s.put_resource(&r1, Expect::Absent).await,
            Err(StoreError::Conflict(_))
        ),
        "Expect::Absent on an existing resource is a conflict"
    );

    let v2 = s
        .put_resource(&resource("rule", "r1", r#"{"v":2}"#), Expect::Any)
        .await
        .expect("replace");
    assert_eq!(v2.revision, 2, "a replace increments the revision");
    assert_eq!(
        v2.created_ms, stored.created_ms,
        "a replace keeps created_ms"
    );
    assert!(v2.updated_ms >= stored.updated_ms);
    assert_eq!(v2.document, r#"{"v":2}"#);

    let v3 = s
        .put_resource(&resource("rule", "r1", r#"{"v":3}"#), Expect::Revision(2))
        .await
        .expect("replace revision 2");
    assert_eq!(v3.revision, 3);
    assert_eq!(v3.created_ms, stored.created_ms);
    assert!(
        matches!(
            s.put_resource(&resource("rule", "r1", "{}"), Expect::Revision(2))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a stale revision is a conflict"
    );
    assert_eq!(
        s.resource("rule", "r1").await.unwrap(),
        Some(v3.clone()),
        "and changes nothing"
    );
    assert!(
        matches!(
            s.put_resource(&resource("rule", "ghost", "{}"), Expect::Revision(1))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "Expect::Revision of a missing resource is not found"
    );
    assert_eq!(s.resource("rule", "ghost").await.unwrap(), None);

    // Expect::Any creates too; kinds are separate namespaces.
    let r0 = s
        .put_resource(&resource("rule", "r0", "{}"), Expect::Any)
        .await
        .expect("create with Any");
    assert_eq!(r0.revision, 1);
    s.put_resource(&resource("rules", "r1", "{}"), Expect::Absent)
        .await
        .expect("the same name in another kind");
    s.put_resource(&resource("bus", "r1", "{}"), Expect::Absent)
        .await
        .expect("and another");
    let rules = s.resources("rule").await.unwrap();
    assert_eq!(
        rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["r0", "r1"],
        "a kind's resources, by name, and no other kind's"
    );
    assert_eq!(rules[1], v3);

    assert!(s.delete_resource("rule", "r1").await.unwrap());
    assert!(!s.delete_resource("rule", "r1").await.unwrap());
    assert_eq!(s.resource("rule", "r1").await.unwrap(), None);
    assert!(s.resource("rules", "r1").await.unwrap().is_some());
    let again = s
        .put_resource(&resource("rule", "r1", "{}"), Expect::Absent)
        .await
        .expect("create after delete");
    assert_eq!(again.revision, 1, "a deleted resource starts over");

    for (kind, name) in [
        ("rule", "r0"),
        ("rule", "r1"),
        ("rules", "r1"),
        ("bus", "r1"),
    ] {
        assert!(s.delete_resource(kind, name).await.unwrap());
    }
}

pub(super) async fn deliveries(s: &dyn Store) {
    assert_eq!(s.queued_deliveries().await.unwrap(), 0);
    assert_eq!(s.next_delivery_due().await.unwrap(), None);
    assert!(s.due_deliveries(i64::MAX, 0).await.unwrap().is_empty());

    let c = delivery("d-c", "default", "r1", 300);
    let b = delivery("d-b", "default", "r1", 100);
    let mut a = delivery("d-a", "default", "r2", 100);
    a.last_error = Some("earlier".into());
    let d = delivery("d-d", "orders", "r1", 200);
    s.accept(&Accepted {
        deliveries: vec![c.clone(), b.clone(), a.clone(), d.clone()],
        archived: vec![archived("acc", 1, "e1", "{}")],
    })
    .await
    .expect("accept");
    s.accept(&Accepted::default())
        .await
        .expect("accepting nothing");
    assert_eq!(s.queued_deliveries().await.unwrap(), 4);
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(100));
    let due = s.due_deliveries(150, 10).await.unwrap();
    assert_eq!(
        delivery_ids(&due),
        vec!["d-a", "d-b"],
        "due, earliest first, then by id"
    );
    assert_eq!(due[0], a, "a delivery is kept as given");
    assert_eq!(
        delivery_ids(&s.due_deliveries(200, 0).await.unwrap()),
        vec!["d-a", "d-b", "d-d"],
        "due at the time counts; 0 is no limit"
    );
    assert_eq!(
        delivery_ids(&s.due_deliveries(i64::MAX, 2).await.unwrap()),
        vec!["d-a", "d-b"],
        "the limit holds"
    );
    assert!(s.due_deliveries(99, 0).await.unwrap().is_empty());

    // A conflict writes nothing: neither the new deliveries nor the archived events.
    let e = delivery("d-e", "default", "r1", 1);
    for batch in [
        vec![e.clone(), delivery("d-a", "default", "r1", 1)],
        vec![e.clone(), e.clone()],
    ] {
        assert!(
            matches!(
                s.accept(&Accepted {
                    deliveries: batch,
                    archived: vec![archived("acc", 2, "e2", "{}")],
                })
                .await,
                Err(StoreError::Conflict(_))
            ),
            "a queued or repeated delivery id is a conflict"
        );
        assert_eq!(s.queued_deliveries().await.unwrap(), 4, "nothing is queued");
        assert_eq!(
            s.archive_size("acc").await.unwrap(),
            (1, 2),
            "nothing is archived"
        );
    }

    // Big payloads.
    let mut big = delivery("d-big", "default", "r3", 5000);
    big.payload = format!(r#"{{"data":"{}"}}"#, "x".repeat(256 << 10));
    s.accept(&Accepted {
        deliveries: vec![big.clone()],
        archived: Vec::new(),
    })
    .await
    .expect("accept 256 KiB");
    assert_eq!(s.due_deliveries(5000, 0).await.unwrap().last(), Some(&big));
    assert_eq!(s.finish_deliveries(&["d-big".into()]).await.unwrap(), 1);

    // A failed attempt: attempts, due time and error change, nothing else.
    let mut retry = a.clone();
    retry.attempts = 2;
    retry.due_ms = 250;
    retry.last_error = Some("Timeout".into());
    retry.payload = "ignored".into();
    retry.bus = "ignored".into();
    s.reschedule_delivery(&retry).await.expect("reschedule");
    let due = s.due_deliveries(i64::MAX, 0).await.unwrap();
    assert_eq!(delivery_ids(&due), vec!["d-b", "d-d", "d-a", "d-c"]);
    assert_eq!(
        due[2],
        Delivery {
            attempts: 2,
            due_ms: 250,
            last_error: Some("Timeout".into()),
            ..a.clone()
        },
        "rescheduling changes attempts, due time and error only"
    );
    let mut cleared = retry.clone();
    cleared.last_error = None;
    s.reschedule_delivery(&cleared).await.unwrap();
    assert_eq!(
        s.due_deliveries(250, 0).await.unwrap()[2].last_error,
        None,
        "an error may be cleared"
    );
    assert!(
        matches!(
            s.reschedule_delivery(&delivery("d-ghost", "default", "r1", 1))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "rescheduling a missing delivery is not found"
    );

    assert_eq!(
        s.finish_deliveries(&["d-b".into(), "d-ghost".into(), "d-b".into()])
            .await
            .unwrap(),
        1,
        "finishing counts the deliveries that were queued"
    );
    assert_eq!(s.finish_deliveries(&[]).await.unwrap(), 0);
    assert_eq!(s.queued_deliveries().await.unwrap(), 3);
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(200));
    // A finished id may be accepted again.
    s.accept(&Accepted {
        deliveries: vec![b.clone()],
        archived: Vec::new(),
    })
    .await
    .expect("accept a finished id");
    assert_eq!(
        s.finish_deliveries(&["d-a".into(), "d-b".into(), "d-c".into(), "d-d".into()])
            .await
            .unwrap(),
        4
    );
    assert_eq!(s.queued_deliveries().await.unwrap(), 0);
    assert_eq!(s.next_delivery_due().await.unwrap(), None);
    assert_eq!(s.trim_archive("acc", None).await.unwrap(), 1);
}

pub(super) async fn dead_events(s: &dyn Store) {
    assert!(s.dead_events(None, 0).await.unwrap().is_empty());
    // (id, bus, rule, failed_ms): two at 1003 (then by id, descending); rule r1 on two buses.
    let spec = [
        ("x-0", "default", "r1", 1000),
        ("x-1", "default", "r2", 1003),
        ("x-2", "default", "r1", 1001),
        ("x-3", "default", "r1", 1003),
        ("x-4", "orders", "r1", 1002),
    ];
    let queued: Vec<Delivery> = spec
        .iter()
        .map(|(id, bus, rule, _)| delivery(id, bus, rule, 100))
        .collect();
    s.accept(&Accepted {
        deliveries: queued
            .iter()
            .cloned()
            .chain([delivery("x-stays", "default", "r1", 50)])
            .collect(),
        archived: Vec::new(),
    })
    .await
    .unwrap();
    for (d, (.., failed)) in queued.iter().zip(spec) {
        let mut d = d.clone();
        d.attempts = 3;
        d.last_error = Some("Boom".into());
        s.dead_letter_delivery(&dead(d, failed), None)
            .await
            .expect("dead-letter");
    }
    assert_eq!(
        delivery_ids(&s.due_deliveries(i64::MAX, 0).await.unwrap()),
        vec!["x-stays"],
        "dead-lettering removes from the queue"
    );
    let all = s.dead_events(None, 0).await.unwrap();
    assert_eq!(
        dead_ids(&all),
        vec!["x-3", "x-1", "x-4", "x-2", "x-0"],
        "dead letters newest first, then by id descending"
    );
    assert_eq!(
        all[4],
        dead(
            Delivery {
                attempts: 3,
                last_error: Some("Boom".into()),
                ..queued[0].clone()
            },
            1000
        ),
        "a dead letter is kept as given"
    );
    assert_eq!(
        dead_ids(&s.dead_events(None, 2).await.unwrap()),
        vec!["x-3", "x-1"]
    );
    assert_eq!(
        dead_ids(&s.dead_events(Some(("default", "r1")), 0).await.unwrap()),
        vec!["x-3", "x-2", "x-0"],
        "one rule's dead letters: its bus and name"
    );
    assert_eq!(
        dead_ids(&s.dead_events(Some(("default", "r1")), 1).await.unwrap()),
        vec!["x-3"]
    );
    assert_eq!(
        dead_ids(&s.dead_events(Some(("orders", "r1")), 0).await.unwrap()),
        vec!["x-4"]
    );
    assert!(
        s.dead_events(Some(("orders", "r2")), 0)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        matches!(
            s.dead_letter_delivery(&dead(delivery("x-ghost", "default", "r1", 1), 2000), None)
                .await,
            Err(StoreError::NotFound(_))
        ),
        "dead-lettering a delivery that is not queued is not found"
    );
    // A second dead letter of one id is a conflict, and the delivery stays queued.
    s.accept(&Accepted {
        deliveries: vec![queued[0].clone()],
        archived: Vec::new(),
    })
    .await
    .unwrap();
    assert!(matches!(
        s.dead_letter_delivery(&dead(queued[0].clone(), 3000), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.queued_deliveries().await.unwrap(), 2);
    assert_eq!(s.dead_events(None, 0).await.unwrap()[4].failed_ms, 1000);

    // With a message for the target's dead-letter queue: all or nothing.
    let message = QueueMessage {
        queue: "dlq-events".into(),
        id: "x-0".into(),
        body: queued[0].payload.clone(),
        attributes: r#"{"reason":"RetriesExhausted"}"#.into(),
        sent_ms: 3000,
        visible_ms: 3000,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
    };
    assert!(s.delete_dead_event("x-0").await.unwrap());
    assert!(!s.delete_dead_event("x-0").await.unwrap());
    s.send_messages(std::slice::from_ref(&message))
        .await
        .unwrap();
    assert!(
        matches!(
            s.dead_letter_delivery(&dead(queued[0].clone(), 3000), Some(&message))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a message whose id is in its queue is a conflict"
    );
    assert_eq!(
        s.queued_deliveries().await.unwrap(),
        2,
        "and the delivery stays queued"
    );
    assert_eq!(
        s.dead_events(None, 0).await.unwrap().len(),
        4,
        "with no dead letter"
    );
    assert_eq!(s.purge_queue("dlq-events").await.unwrap(), 1);
    s.dead_letter_delivery(&dead(queued[0].clone(), 3000), Some(&message))
        .await
        .expect("dead-letter with a message");
    assert_eq!(s.queued_deliveries().await.unwrap(), 1);
    assert_eq!(
        dead_ids(&s.dead_events(None, 1).await.unwrap()),
        vec!["x-0"]
    );
    let got = s
        .receive_messages("dlq-events", 10, 3000, 1000, None)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "the message was sent");
    assert_eq!(
        (got[0].id.as_str(), got[0].body.as_str(), got[0].sent_ms),
        ("x-0", message.body.as_str(), 3000)
    );
    assert_eq!(s.purge_queue("dlq-events").await.unwrap(), 1);

    for d in s.dead_events(None, 0).await.unwrap() {
        assert!(s.delete_dead_event(&d.delivery.id).await.unwrap());
    }
    assert_eq!(s.finish_deliveries(&["x-stays".into()]).await.unwrap(), 1);
}

pub(super) async fn archives(s: &dyn Store) {
    assert_eq!(s.archive_size("ar1").await.unwrap(), (0, 0));
    assert!(
        s.archived_events("ar1", 0, i64::MAX, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let events = vec![
        archived("ar1", 300, "b", r#"{"n":"b"}"#),
        archived("ar1", 100, "y", r#"{"n":"y"}"#),
        archived("ar1", 200, "a", r#"{"n":"é"}"#),
        archived("ar1", 100, "x", r#"{"n":"x"}"#),
        archived("ar2", 100, "x", r#"{"other":true}"#),
    ];
    s.accept(&Accepted {
        deliveries: Vec::new(),
        archived: events.clone(),
    })
    .await
    .expect("archive");
    // Archiving the same event again keeps the first.
    s.accept(&Accepted {
        deliveries: Vec::new(),
        archived: vec![archived("ar1", 100, "x", "changed")],
    })
    .await
    .expect("archive again");
    let all = s
        .archived_events("ar1", 0, i64::MAX, None, 0)
        .await
        .unwrap();
    assert_eq!(
        archived_ids(&all),
        vec![(100, "x"), (100, "y"), (200, "a"), (300, "b")],
        "by time, then id"
    );
    assert_eq!(all[0], events[3], "the first copy stays");
    assert_eq!(all[2].event, r#"{"n":"é"}"#);
    let bytes: u64 = events[..4].iter().map(|e| e.event.len() as u64).sum();
    assert_eq!(
        s.archive_size("ar1").await.unwrap(),
        (4, bytes),
        "size in bytes"
    );
    assert_eq!(
        archived_ids(&s.archived_events("ar1", 100, 300, None, 0).await.unwrap()),
        vec![(100, "x"), (100, "y"), (200, "a")],
        "from inclusive, to exclusive"
    );
    assert_eq!(
        archived_ids(&s.archived_events("ar1", 101, 301, None, 0).await.unwrap()),
        vec![(200, "a"), (300, "b")]
    );
    assert_eq!(
        archived_ids(
            &s.archived_events("ar1", 0, i64::MAX, Some((100, "x")), 2)
                .await
                .unwrap()
        ),
        vec![(100, "y"), (200, "a")],
        "after is exclusive; the limit holds"
    );
    assert_eq!(
        archived_ids(
            &s.archived_events("ar1", 0, 250, Some((100, "y")), 0)
                .await
                .unwrap()
        ),
        vec![(200, "a")]
    );
    // Paging through with `after` visits each event once.
    let mut seen = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = s
            .archived_events(
                "ar1",
                0,
                i64::MAX,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                3,
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|e| (e.time_ms, e.id.clone()));
        seen.extend(page);
    }
    assert_eq!(seen, all, "paging visits every event once");
    assert_eq!(
        archived_ids(
            &s.archived_events("ar2", 0, i64::MAX, None, 0)
                .await
                .unwrap()
        ),
        vec![(100, "x")],
        "archives are separate"
    );

    assert_eq!(s.trim_archive("ar1", Some(200)).await.unwrap(), 2);
    assert_eq!(
        archived_ids(
            &s.archived_events("ar1", 0, i64::MAX, None, 0)
                .await
                .unwrap()
        ),
        vec![(200, "a"), (300, "b")],
        "trimming deletes events older than the time"
    );
    assert_eq!(s.trim_archive("ar1", Some(200)).await.unwrap(), 0);
    assert_eq!(s.trim_archive("ar-none", None).await.unwrap(), 0);
    assert_eq!(s.trim_archive("ar1", None).await.unwrap(), 2);
    assert_eq!(s.archive_size("ar1").await.unwrap(), (0, 0));
    assert_eq!(
        s.archive_size("ar2").await.unwrap().0,
        1,
        "other archives stay"
    );
    assert_eq!(s.trim_archive("ar2", None).await.unwrap(), 1);
}

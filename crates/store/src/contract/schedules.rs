//! The contract of [`Schedules`]: put and replace, listing, due order, and firing ticks
//! with compare-and-set on `next_ms`.

use std::sync::Arc;

use super::events::{archived, delivery};
use crate::*;

pub(super) fn schedule(name: &str, next_ms: Option<i64>) -> Schedule {
    Schedule {
        name: name.into(),
        expression: "rate(1 minute)".into(),
        timezone: "UTC".into(),
        next_ms,
        document: format!(r#"{{"name":"{name}"}}"#),
        created_ms: 10,
        updated_ms: 10,
    }
}

fn fire(name: &str, expected_ms: i64, next_ms: Option<i64>, ids: &[&str]) -> ScheduleFire {
    ScheduleFire {
        name: name.into(),
        expected_ms,
        next_ms,
        accepted: Accepted {
            deliveries: ids
                .iter()
                .map(|id| delivery(id, "default", name, expected_ms))
                .collect(),
            archived: Vec::new(),
        },
    }
}

fn names(v: &[Schedule]) -> Vec<&str> {
    v.iter().map(|s| s.name.as_str()).collect()
}

pub(super) async fn schedules(s: &dyn Store) {
    assert_eq!(s.schedule_count().await.unwrap(), 0);
    assert_eq!(s.next_schedule_due().await.unwrap(), None);
    assert_eq!(s.schedule("rule/default/a").await.unwrap(), None);

    let a = schedule("rule/default/a", Some(300));
    s.put_schedule(&a).await.expect("put");
    assert_eq!(s.schedule(&a.name).await.unwrap(), Some(a.clone()));
    // A replace keeps created_ms and takes everything else.
    let mut a2 = schedule("rule/default/a", Some(200));
    a2.expression = "cron(0 * * * ? *)".into();
    a2.timezone = "Europe/Paris".into();
    a2.document = r#"{"v":2}"#.into();
    a2.created_ms = 99;
    a2.updated_ms = 50;
    s.put_schedule(&a2).await.expect("replace");
    assert_eq!(
        s.schedule(&a.name).await.unwrap(),
        Some(Schedule {
            created_ms: 10,
            ..a2.clone()
        }),
        "a replace keeps created_ms"
    );

    let mut batch = vec![
        schedule("rule/default/c", Some(100)),
        schedule("rule/default/b", Some(100)),
        schedule("rule/orders/a", Some(150)),
        schedule("schedule/g1/x", Some(400)),
        schedule("schedule/g1/off", None),
        schedule("schedule/g2/y", Some(100)),
        schedule("rulez", Some(1000)),
    ];
    // In the same batch as others, a replace keeps created_ms too.
    let mut a3 = a2.clone();
    a3.created_ms = 77;
    a3.next_ms = Some(250);
    batch.push(a3);
    s.put_schedules(&batch).await.expect("put many");
    s.put_schedules(&[]).await.expect("put none");
    assert_eq!(s.schedule_count().await.unwrap(), 8);
    let a3 = s.schedule(&a.name).await.unwrap().expect("a");
    assert_eq!((a3.created_ms, a3.next_ms), (10, Some(250)));
    assert_eq!(
        s.schedule("schedule/g1/off").await.unwrap(),
        Some(batch[4].clone()),
        "a schedule without a next tick is kept"
    );

    // Listing: by name, with a prefix, in pages.
    let all = s.schedules("", Page::default()).await.unwrap();
    assert_eq!(
        names(&all),
        vec![
            "rule/default/a",
            "rule/default/b",
            "rule/default/c",
            "rule/orders/a",
            "rulez",
            "schedule/g1/off",
            "schedule/g1/x",
            "schedule/g2/y"
        ]
    );
    assert_eq!(
        names(&s.schedules("rule/", Page::default()).await.unwrap()),
        vec![
            "rule/default/a",
            "rule/default/b",
            "rule/default/c",
            "rule/orders/a"
        ],
        "only names starting with the prefix"
    );
    assert_eq!(
        names(
            &s.schedules(
                "rule/",
                Page {
                    after: None,
                    limit: 2
                }
            )
            .await
            .unwrap()
        ),
        vec!["rule/default/a", "rule/default/b"]
    );
    assert_eq!(
        names(
            &s.schedules(
                "rule/",
                Page {
                    after: Some("rule/default/b"),
                    limit: 2
                }
            )
            .await
            .unwrap()
        ),
        vec!["rule/default/c", "rule/orders/a"],
        "a page continues after its key"
    );
    assert_eq!(
        names(
            &s.schedules(
                "schedule/",
                Page {
                    after: Some("a"),
                    limit: 0
                }
            )
            .await
            .unwrap()
        ),
        vec!["schedule/g1/off", "schedule/g1/x", "schedule/g2/y"],
        "a key before the prefix starts at the prefix"
    );
    assert!(
        s.schedules(
            "rule/",
            Page {
                after: Some("s"),
                limit: 0
            }
        )
        .await
        .unwrap()
        .is_empty(),
        "a key after the prefix's names ends the listing"
    );
    assert!(
        s.schedules("rule/x", Page::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(&s.schedules("schedule/g1/x", Page::default()).await.unwrap()),
        vec!["schedule/g1/x"],
        "a full name is a prefix of itself"
    );

    // Due: by (next_ms, name), never those without a next tick.
    assert_eq!(s.next_schedule_due().await.unwrap(), Some(100));
    assert_eq!(
        names(&s.due_schedules(150, None, 0).await.unwrap()),
        vec![
            "rule/default/b",
            "rule/default/c",
            "schedule/g2/y",
            "rule/orders/a"
        ]
    );
    assert_eq!(
        names(&s.due_schedules(149, None, 2).await.unwrap()),
        vec!["rule/default/b", "rule/default/c"],
        "the limit holds"
    );
    assert_eq!(
        names(
            &s.due_schedules(1000, Some((100, "rule/default/c")), 3)
                .await
                .unwrap()
        ),
        vec!["schedule/g2/y", "rule/orders/a", "rule/default/a"],
        "after is exclusive"
    );
    assert_eq!(
        names(&s.due_schedules(i64::MAX, Some((250, "")), 0).await.unwrap()),
        vec!["rule/default/a", "schedule/g1/x", "rulez"]
    );
    assert!(s.due_schedules(99, None, 0).await.unwrap().is_empty());

    assert!(s.delete_schedule("rulez").await.unwrap());
    assert!(!s.delete_schedule("rulez").await.unwrap());
    assert_eq!(s.schedule("rulez").await.unwrap(), None);
    assert_eq!(s.schedule_count().await.unwrap(), 7);
    assert_eq!(
        s.due_schedules(i64::MAX, Some((400, "schedule/g1/x")), 0)
            .await
            .unwrap(),
        Vec::new(),
        "a deleted schedule is not due"
    );
    for s2 in all.iter().filter(|x| x.name != "rulez") {
        assert!(s.delete_schedule(&s2.name).await.unwrap());
    }
    assert_eq!(s.schedule_count().await.unwrap(), 0);
    assert_eq!(s.next_schedule_due().await.unwrap(), None);
}

pub(super) async fn firing(s: &dyn Store) {
    s.put_schedules(&[
        schedule("f/a", Some(100)),
        schedule("f/b", Some(100)),
        schedule("f/c", Some(200)),
        schedule("f/once", Some(100)),
    ])
    .await
    .unwrap();
    assert!(s.fire_schedules(&[]).await.unwrap().is_empty());

    let mut with_archive = fire("f/a", 100, Some(160), &["fa-100"]);
    with_archive
        .accepted
        .archived
        .push(archived("f-ar", 100, "fa-100", "{}"));
    let applied = s
        .fire_schedules(&[
            with_archive,
            fire("f/b", 90, Some(150), &["fb-90"]),
            fire("f/gone", 100, Some(200), &["fg-100"]),
            fire("f/once", 100, None, &["fo-100a", "fo-100b"]),
        ])
        .await
        .expect("fire");
    assert_eq!(
        applied,
        vec![true, false, false, true],
        "a fire applies when next_ms is as expected and the schedule exists"
    );
    let a = s.schedule("f/a").await.unwrap().expect("f/a");
    assert_eq!(a.next_ms, Some(160), "the schedule moved to its next tick");
    assert_eq!(
        s.schedule("f/b").await.unwrap().and_then(|b| b.next_ms),
        Some(100),
        "a stale fire changes nothing"
    );
    assert_eq!(s.schedule("f/gone").await.unwrap(), None, "nor creates");
    let once = s.schedule("f/once").await.unwrap().expect("f/once stays");
    assert_eq!(once.next_ms, None, "a one-time schedule has no next tick");
    let queued: Vec<String> = s
        .due_deliveries(i64::MAX, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        queued,
        vec!["fa-100", "fo-100a", "fo-100b"],
        "only the applied fires' deliveries are queued"
    );
    assert_eq!(s.archive_size("f-ar").await.unwrap().0, 1);
    assert_eq!(
        s.due_schedules(i64::MAX, None, 0)
            .await
            .unwrap()
            .iter()
            .map(|x| (x.name.as_str(), x.next_ms))
            .collect::<Vec<_>>(),
        vec![("f/b", Some(100)), ("f/a", Some(160)), ("f/c", Some(200))],
        "due order follows the new ticks"
    );
    assert_eq!(s.next_schedule_due().await.unwrap(), Some(100));
    assert_eq!(
        s.fire_schedules(&[fire("f/once", 100, Some(300), &["fo-again"])])
            .await
            .unwrap(),
        vec![false],
        "a tick fires once"
    );

    // Fires of one schedule apply in order within a call.
    assert_eq!(
        s.fire_schedules(&[
            fire("f/c", 200, Some(210), &["fc-200"]),
            fire("f/c", 210, Some(220), &["fc-210"]),
            fire("f/c", 200, Some(230), &["fc-200-late"]),
        ])
        .await
        .unwrap(),
        vec![true, true, false]
    );
    assert_eq!(
        s.schedule("f/c").await.unwrap().and_then(|c| c.next_ms),
        Some(220)
    );

    // A fire that applies with a delivery id already queued fails the call: nothing
    // applies, not even the other fires.
    assert!(
        matches!(
            s.fire_schedules(&[
                fire("f/b", 100, Some(150), &["fb-100"]),
                fire("f/a", 160, Some(170), &["fa-100"]),
            ])
            .await,
            Err(StoreError::Conflict(_))
        ),
        "a queued delivery id is a conflict"
    );
    assert!(
        matches!(
            s.fire_schedules(&[
                fire("f/b", 100, Some(150), &["fb-100"]),
                fire("f/a", 160, Some(170), &["fb-100"]),
            ])
            .await,
            Err(StoreError::Conflict(_))
        ),
        "so is one repeated across fires that apply"
    );
    assert_eq!(
        s.schedule("f/b").await.unwrap().and_then(|b| b.next_ms),
        Some(100),
        "and nothing moved"
    );
    assert_eq!(
        s.schedule("f/a").await.unwrap().and_then(|a| a.next_ms),
        Some(160)
    );
    assert_eq!(s.queued_deliveries().await.unwrap(), 5, "nor was queued");
    // A fire that does not apply writes nothing, so its ids do not conflict.
    assert_eq!(
        s.fire_schedules(&[
            fire("f/b", 100, Some(150), &["fb-100"]),
            fire("f/a", 1, Some(170), &["fa-100"]),
        ])
        .await
        .expect("a stale fire's ids are not checked"),
        vec![true, false]
    );

    for name in ["f/a", "f/b", "f/c", "f/once"] {
        assert!(s.delete_schedule(name).await.unwrap());
    }
    let ids: Vec<String> = s
        .due_deliveries(i64::MAX, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(s.finish_deliveries(&ids).await.unwrap(), 6);
    assert_eq!(s.trim_archive("f-ar", None).await.unwrap(), 1);
}

/// Firers racing on the same ticks (tasks spread over `stores`, which share their data as
/// nodes sharing a database do): each tick applies once, and only the winner's deliveries
/// are queued.
pub async fn racing_fires(stores: &[Arc<dyn Store>]) {
    let s = stores[0].clone();
    const RACERS: usize = 4;
    const TICKS: i64 = 20;
    let names: Vec<String> = (0..5).map(|i| format!("race/{i}")).collect();
    let all: Vec<Schedule> = names.iter().map(|n| schedule(n, Some(0))).collect();
    s.put_schedules(&all).await.unwrap();
    let mut handles = Vec::new();
    for racer in 0..RACERS {
        let (s, names) = (stores[racer % stores.len()].clone(), names.clone());
        handles.push(tokio::spawn(async move {
            let mut won = 0;
            for tick in 0..TICKS {
                // Each racer fires every schedule's tick, in its own order.
                let mut fires: Vec<ScheduleFire> = names
                    .iter()
                    .map(|n| {
                        let id = format!("{n}@{tick}#{racer}");
                        fire(n, tick, Some(tick + 1), &[id.as_str()])
                    })
                    .collect();
                if racer % 2 == 1 {
                    fires.reverse();
                }
                // A racer that is behind catches up by trying again with the next tick.
                let applied = s.fire_schedules(&fires).await?;
                won += applied.iter().filter(|a| **a).count();
                tokio::task::yield_now().await;
            }
            Ok::<usize, StoreError>(won)
        }));
    }
    let mut won = 0;
    for h in handles {
        won += h.await.expect("task").expect("fire");
    }
    let queued = s.due_deliveries(i64::MAX, 0).await.unwrap();
    assert_eq!(
        queued.len(),
        won,
        "each applied fire queued its deliveries, and no other did"
    );
    for n in &names {
        let mine: Vec<&Delivery> = queued.iter().filter(|d| &d.rule == n).collect();
        let mut ticks: Vec<i64> = mine.iter().map(|d| d.due_ms).collect();
        ticks.sort();
        ticks.dedup();
        assert_eq!(ticks.len(), mine.len(), "no tick of {n} fired twice");
        let next = s.schedule(n).await.unwrap().and_then(|x| x.next_ms);
        assert_eq!(
            next,
            Some(mine.len() as i64),
            "{n} moved once per applied fire"
        );
    }
    let ids: Vec<String> = queued.into_iter().map(|d| d.id).collect();
    s.finish_deliveries(&ids).await.unwrap();
    for n in &names {
        assert!(s.delete_schedule(n).await.unwrap());
    }
}

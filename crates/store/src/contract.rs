//! The contract every backend passes: call [`run`] from a backend's integration test with
//! a fresh, empty store. It panics with a message naming the broken rule.

use std::sync::Arc;

use crate::*;

/// Runs every check against `store`, which must be empty.
pub async fn run(store: Arc<dyn Store>) {
    machines(&*store).await;
    activities(&*store).await;
    steps(&*store).await;
    failed_steps_change_nothing(&*store).await;
    timers(&*store).await;
    tasks(&*store).await;
    outbox(&*store).await;
    listing(&*store).await;
    group_commit(store.clone()).await;
    retention(&*store).await;
}

fn machine(name: &str) -> Machine {
    Machine {
        arn: format!("arn:aws:states:us-east-1:1:stateMachine:{name}"),
        name: name.into(),
        kind: "STANDARD".into(),
        definition: r#"{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}"#.into(),
        role_arn: "arn:aws:iam::1:role/r".into(),
        description: String::new(),
        logging: None,
        revision_id: "r1".into(),
        created_ms: 1000,
        updated_ms: 1000,
    }
}

/// A running execution of machine `m`, started at `start_ms`.
pub fn execution(m: &str, name: &str, start_ms: i64) -> Execution {
    Execution {
        arn: format!("arn:aws:states:us-east-1:1:execution:{m}:{name}"),
        machine_arn: format!("arn:aws:states:us-east-1:1:stateMachine:{m}"),
        version_arn: None,
        alias_arn: None,
        definition_digest: "d1".into(),
        name: name.into(),
        status: "RUNNING".into(),
        input: "{}".into(),
        output: None,
        error: None,
        cause: None,
        start_ms,
        stop_ms: None,
        redrive_count: 0,
        redrive_ms: None,
        event_count: 0,
        parent: None,
        ready: false,
    }
}

fn event(id: u64, kind: &str) -> HistoryEvent {
    HistoryEvent {
        id,
        previous_id: id.saturating_sub(1),
        timestamp_ms: 1000 + id as i64,
        kind: kind.into(),
        details: format!(r#"{{"n":{id}}}"#),
    }
}

fn task(arn: &str, id: u64, kind: TaskKind, token: Option<&str>, resource: &str) -> Task {
    Task {
        execution_arn: arn.into(),
        task: id,
        kind,
        token: token.map(str::to_owned),
        resource: resource.into(),
        state: "T".into(),
        invocation: "{}".into(),
        worker: None,
        created_ms: 1000 + id as i64,
    }
}

async fn machines(s: &dyn Store) {
    let a = machine("alpha");
    let b = machine("beta");
    s.create_machine(&a).await.expect("create alpha");
    s.create_machine(&b).await.expect("create beta");
    assert!(
        matches!(s.create_machine(&a).await, Err(StoreError::Conflict(_))),
        "creating an existing machine is a conflict"
    );
    assert_eq!(s.machine(&a.arn).await.unwrap(), Some(a.clone()));
    let mut a2 = a.clone();
    a2.definition = "{}".into();
    a2.revision_id = "r2".into();
    a2.logging = Some(r#"{"level":"ALL"}"#.into());
    s.update_machine(&a2).await.expect("update alpha");
    assert_eq!(s.machine(&a.arn).await.unwrap(), Some(a2.clone()));
    assert!(matches!(
        s.update_machine(&machine("nobody")).await,
        Err(StoreError::NotFound(_))
    ));
    let all = s.machines(Page::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let first = s
        .machines(Page {
            after: None,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(first, vec![a2.clone()], "machines are listed in ARN order");
    let rest = s
        .machines(Page {
            after: Some(&a.arn),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(rest, vec![b.clone()], "paging continues after the key");

    let v1 = Version {
        arn: format!("{}:1", a.arn),
        machine_arn: a.arn.clone(),
        number: 1,
        definition: a2.definition.clone(),
        role_arn: a.role_arn.clone(),
        kind: "STANDARD".into(),
        description: "first".into(),
        revision_id: "r2".into(),
        created_ms: 2000,
    };
    let mut v2 = v1.clone();
    v2.arn = format!("{}:2", a.arn);
    v2.number = 2;
    s.create_version(&v1).await.unwrap();
    s.create_version(&v2).await.unwrap();
    let mut dup = v1.clone();
    dup.arn = format!("{}:other", a.arn);
    assert!(
        matches!(s.create_version(&dup).await, Err(StoreError::Conflict(_))),
        "a version number is used once per machine"
    );
    assert_eq!(
        s.versions(&a.arn).await.unwrap(),
        vec![v2.clone(), v1.clone()],
        "versions newest first"
    );
    assert_eq!(s.version(&v1.arn).await.unwrap(), Some(v1.clone()));

    let mut alias = Alias {
        arn: format!("{}:live", a.arn),
        machine_arn: a.arn.clone(),
        name: "live".into(),
        description: String::new(),
        routing: format!(
            r#"[{{"stateMachineVersionArn":"{}","weight":100}}]"#,
            v1.arn
        ),
        created_ms: 3000,
        updated_ms: 3000,
    };
    s.put_alias(&alias).await.unwrap();
    alias.routing = format!(
        r#"[{{"stateMachineVersionArn":"{}","weight":100}}]"#,
        v2.arn
    );
    alias.updated_ms = 4000;
    s.put_alias(&alias).await.unwrap();
    assert_eq!(s.alias(&alias.arn).await.unwrap(), Some(alias.clone()));
    assert_eq!(s.aliases(&a.arn).await.unwrap(), vec![alias.clone()]);
    assert!(s.delete_version(&v1.arn).await.unwrap());
    assert!(!s.delete_version(&v1.arn).await.unwrap());

    assert!(s.delete_machine(&a.arn).await.unwrap());
    assert!(!s.delete_machine(&a.arn).await.unwrap());
    assert_eq!(s.machine(&a.arn).await.unwrap(), None);
    assert!(
        s.versions(&a.arn).await.unwrap().is_empty(),
        "deleting a machine deletes its versions"
    );
    assert!(
        s.aliases(&a.arn).await.unwrap().is_empty(),
        "and its aliases"
    );
    assert!(s.delete_machine(&b.arn).await.unwrap());

    s.put_definition("d1", "one").await.unwrap();
    s.put_definition("d1", "other").await.unwrap();
    assert_eq!(
        s.definition("d1").await.unwrap().as_deref(),
        Some("one"),
        "a digest keeps its first text"
    );
    assert_eq!(s.definition("d2").await.unwrap(), None);
}

async fn activities(s: &dyn Store) {
    let a = Activity {
        arn: "arn:aws:states:us-east-1:1:activity:work".into(),
        name: "work".into(),
        created_ms: 5,
    };
    s.create_activity(&a).await.unwrap();
    let mut again = a.clone();
    again.created_ms = 99;
    s.create_activity(&again)
        .await
        .expect("creating again is fine");
    assert_eq!(
        s.activity(&a.arn).await.unwrap(),
        Some(a.clone()),
        "creating again keeps the original"
    );
    assert_eq!(
        s.activities(Page::default()).await.unwrap(),
        vec![a.clone()]
    );
    assert!(s.delete_activity(&a.arn).await.unwrap());
    assert_eq!(s.activity(&a.arn).await.unwrap(), None);
}

async fn steps(s: &dyn Store) {
    let mut e = execution("m", "one", 10_000);
    let mut first = Step::new(ExecutionWrite::Insert(e.clone()));
    first.checkpoint = Some(vec![1, 2, 3]);
    first.history = vec![event(1, "ExecutionStarted"), event(2, "PassStateEntered")];
    e.event_count = 2;
    first.execution = ExecutionWrite::Insert(e.clone());
    s.commit(first).await.expect("insert step");
    assert_eq!(s.execution(&e.arn).await.unwrap(), Some(e.clone()));
    assert_eq!(s.checkpoint(&e.arn).await.unwrap(), Some(vec![1, 2, 3]));

    let dup = Step::new(ExecutionWrite::Insert(e.clone()));
    assert!(
        matches!(s.commit(dup).await, Err(StoreError::Conflict(_))),
        "inserting an existing execution is a conflict"
    );

    let mut done = e.clone();
    done.status = "SUCCEEDED".into();
    done.output = Some(r#"{"ok":true}"#.into());
    done.stop_ms = Some(20_000);
    done.event_count = 4;
    // The static part is never rewritten by an update.
    done.input = "changed".into();
    let mut second = Step::new(ExecutionWrite::Update(done.clone()));
    second.checkpoint = Some(vec![9]);
    second.history = vec![event(3, "PassStateExited"), event(4, "ExecutionSucceeded")];
    s.commit(second).await.expect("update step");
    let stored = s.execution(&e.arn).await.unwrap().expect("stored");
    assert_eq!(stored.status, "SUCCEEDED");
    assert_eq!(stored.output.as_deref(), Some(r#"{"ok":true}"#));
    assert_eq!(stored.stop_ms, Some(20_000));
    assert_eq!(stored.input, "{}", "input is written once");
    assert_eq!(s.checkpoint(&e.arn).await.unwrap(), Some(vec![9]));
    let h = s.history(&e.arn, 1, u64::MAX).await.unwrap();
    assert_eq!(
        h.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "history in id order"
    );
    assert_eq!(h[3].kind, "ExecutionSucceeded");
    assert_eq!(h[1].details, r#"{"n":2}"#);
    let page = s.history(&e.arn, 2, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 3]);

    let missing = Step::new(ExecutionWrite::Update(execution("m", "ghost", 1)));
    assert!(
        matches!(s.commit(missing).await, Err(StoreError::NotFound(_))),
        "updating a missing execution fails"
    );
    s.delete_execution(&e.arn).await.unwrap();
}

async fn failed_steps_change_nothing(s: &dyn Store) {
    let e = execution("m", "atomic", 11_000);
    s.commit(Step::new(ExecutionWrite::Insert(e.clone())))
        .await
        .unwrap();
    let mut ok = Step::new(ExecutionWrite::Update(e.clone()));
    ok.history = vec![event(1, "ExecutionStarted")];
    s.commit(ok).await.unwrap();
    // A step whose history repeats an id fails, and with it everything else it carried.
    let mut changed = e.clone();
    changed.status = "FAILED".into();
    let mut bad = Step::new(ExecutionWrite::Update(changed));
    bad.history = vec![event(1, "Again")];
    bad.timers_set = vec![Timer {
        execution_arn: e.arn.clone(),
        timer: 1,
        due_ms: 5,
    }];
    bad.tasks_added = vec![task(&e.arn, 1, TaskKind::Dispatch, None, "r")];
    bad.checkpoint = Some(vec![7]);
    assert!(s.commit(bad).await.is_err(), "a repeated event id fails");
    let stored = s.execution(&e.arn).await.unwrap().unwrap();
    assert_eq!(stored.status, "RUNNING", "the failed step left no change");
    assert_eq!(s.checkpoint(&e.arn).await.unwrap(), None);
    assert!(s.due_timers(i64::MAX, 100).await.unwrap().is_empty());
    assert!(s.dispatch_tasks().await.unwrap().is_empty());
    s.delete_execution(&e.arn).await.unwrap();
    assert_eq!(s.execution(&e.arn).await.unwrap(), None);
    assert!(s.history(&e.arn, 0, u64::MAX).await.unwrap().is_empty());
}

async fn timers(s: &dyn Store) {
    let e = execution("m", "sleepy", 12_000);
    let mut step = Step::new(ExecutionWrite::Insert(e.clone()));
    step.timers_set = (1..=5)
        .map(|i| Timer {
            execution_arn: e.arn.clone(),
            timer: i,
            due_ms: 100 * i as i64,
        })
        .collect();
    s.commit(step).await.unwrap();
    assert_eq!(s.timer_count().await.unwrap(), 5);
    let due = s.due_timers(300, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|t| t.timer).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "due timers, earliest first"
    );
    assert_eq!(s.due_timers(300, 2).await.unwrap().len(), 2, "limit holds");
    assert_eq!(s.next_due_after(300).await.unwrap(), Some(400));
    assert_eq!(s.next_due_after(500).await.unwrap(), None);
    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.timers_cleared = vec![1, 2];
    // Setting a timer again moves it.
    step.timers_set = vec![Timer {
        execution_arn: e.arn.clone(),
        timer: 5,
        due_ms: 50,
    }];
    s.commit(step).await.unwrap();
    let due = s.due_timers(i64::MAX, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|t| (t.timer, t.due_ms)).collect::<Vec<_>>(),
        vec![(5, 50), (3, 300), (4, 400)]
    );
    s.delete_execution(&e.arn).await.unwrap();
    assert_eq!(s.timer_count().await.unwrap(), 0, "deleting removes timers");
}

async fn tasks(s: &dyn Store) {
    let act = "arn:aws:states:us-east-1:1:activity:work";
    let e = execution("m", "busy", 13_000);
    let mut step = Step::new(ExecutionWrite::Insert(e.clone()));
    step.tasks_added = vec![
        task(&e.arn, 1, TaskKind::Dispatch, None, "arn:aws:lambda:f"),
        task(&e.arn, 2, TaskKind::Callback, Some("tok-2"), "arn:x"),
        task(&e.arn, 3, TaskKind::Activity, Some("tok-3"), act),
        task(&e.arn, 4, TaskKind::Activity, Some("tok-4"), act),
    ];
    s.commit(step).await.unwrap();
    let found = s.task_by_token("tok-2").await.unwrap().expect("by token");
    assert_eq!((found.task, found.kind), (2, TaskKind::Callback));
    assert_eq!(s.task_by_token("nope").await.unwrap(), None);
    let d = s.dispatch_tasks().await.unwrap();
    assert_eq!(
        d.iter().map(|t| t.task).collect::<Vec<_>>(),
        vec![1, 2],
        "dispatch and callback tasks are dispatched again after a restart"
    );
    let c1 = s
        .claim_activity_task(act, "w1")
        .await
        .unwrap()
        .expect("one");
    assert_eq!(
        (c1.task, c1.worker.as_deref()),
        (3, Some("w1")),
        "oldest first"
    );
    let c2 = s
        .claim_activity_task(act, "w2")
        .await
        .unwrap()
        .expect("two");
    assert_eq!(c2.task, 4);
    assert_eq!(
        s.claim_activity_task(act, "w3").await.unwrap(),
        None,
        "a task goes to one worker"
    );
    assert_eq!(s.claim_activity_task("other", "w").await.unwrap(), None);

    let mut dup = Step::new(ExecutionWrite::Update(e.clone()));
    dup.tasks_added = vec![task(&e.arn, 9, TaskKind::Callback, Some("tok-2"), "x")];
    assert!(s.commit(dup).await.is_err(), "a token is unique");

    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.tasks_finished = vec![1, 2, 3, 4];
    s.commit(step).await.unwrap();
    assert_eq!(s.task_by_token("tok-2").await.unwrap(), None);
    assert!(s.dispatch_tasks().await.unwrap().is_empty());
    s.delete_execution(&e.arn).await.unwrap();
}

async fn outbox(s: &dyn Store) {
    let e = execution("m", "noisy", 14_000);
    let mut step = Step::new(ExecutionWrite::Insert(e.clone()));
    step.events = (0..3)
        .map(|i| Event {
            seq: 0,
            time_ms: i,
            detail_type: "Step Functions Execution Status Change".into(),
            detail: format!(r#"{{"i":{i}}}"#),
        })
        .collect();
    s.commit(step).await.unwrap();
    let events = s.events_after(0, 10).await.unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "sequence numbers increase"
    );
    assert_eq!(events[0].detail, r#"{"i":0}"#);
    let after = s.events_after(events[0].seq, 10).await.unwrap();
    assert_eq!(after.len(), 2);
    s.acknowledge_events(events[1].seq).await.unwrap();
    let left = s.events_after(0, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, events[2].seq);
    s.acknowledge_events(events[2].seq).await.unwrap();
    s.delete_execution(&e.arn).await.unwrap();
}

async fn listing(s: &dyn Store) {
    for (i, m) in ["x", "x", "x", "y"].iter().enumerate() {
        let mut e = execution(m, &format!("e{i}"), 50_000 + i as i64);
        e.ready = i == 1;
        if i == 2 {
            e.status = "FAILED".into();
            e.stop_ms = Some(60_000);
        }
        s.commit(Step::new(ExecutionWrite::Insert(e)))
            .await
            .unwrap();
    }
    let mx = "arn:aws:states:us-east-1:1:stateMachine:x";
    let all = s
        .executions(ExecutionFilter {
            machine_arn: Some(mx),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        vec!["e2", "e1", "e0"],
        "newest first"
    );
    let failed = s
        .executions(ExecutionFilter {
            machine_arn: Some(mx),
            status: Some("FAILED"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let next = s
        .executions(ExecutionFilter {
            machine_arn: Some(mx),
            before: Some((all[0].start_ms, &all[0].arn)),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].name, "e1", "paging continues after the key");
    assert_eq!(
        s.executions(ExecutionFilter::default())
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        s.ready_executions().await.unwrap(),
        vec![all[1].arn.clone()]
    );
    assert_eq!(
        s.finished_before(70_000, 10).await.unwrap(),
        vec![all[0].arn.clone()]
    );
    assert!(s.finished_before(60_000, 10).await.unwrap().is_empty());
    for e in s.executions(ExecutionFilter::default()).await.unwrap() {
        s.delete_execution(&e.arn).await.unwrap();
    }
}

async fn group_commit(s: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let e = execution("g", &format!("c{i}"), i);
            let mut step = Step::new(ExecutionWrite::Insert(e.clone()));
            step.history = vec![event(1, "ExecutionStarted")];
            s.commit(step).await?;
            let mut step = Step::new(ExecutionWrite::Update(e));
            step.history = vec![event(2, "ExecutionSucceeded")];
            s.commit(step).await
        }));
    }
    // One bad step among them fails alone.
    let bad = {
        let s = s.clone();
        tokio::spawn(async move {
            s.commit(Step::new(ExecutionWrite::Update(execution(
                "g", "ghost", 0,
            ))))
            .await
        })
    };
    for h in handles {
        h.await.expect("task").expect("concurrent commit");
    }
    assert!(bad.await.expect("task").is_err());
    let all = s
        .executions(ExecutionFilter {
            machine_arn: Some("arn:aws:states:us-east-1:1:stateMachine:g"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 200, "every concurrent step landed");
    for e in &all {
        assert_eq!(s.history(&e.arn, 0, u64::MAX).await.unwrap().len(), 2);
        s.delete_execution(&e.arn).await.unwrap();
    }
}

async fn retention(s: &dyn Store) {
    assert!(
        s.executions(ExecutionFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.timer_count().await.unwrap(), 0);
}

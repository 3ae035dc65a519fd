//! The contract every backend passes: call [`run`] from a backend's integration test with
//! a fresh, empty store. It panics with a message naming the broken rule.

use std::sync::Arc;

use crate::*;

mod events;
mod queues;
mod schedules;

pub use queues::racing_receivers;
pub use schedules::racing_fires;

/// Runs every check against `store`, which must be empty.
pub async fn run(store: Arc<dyn Store>) {
    machines(&*store).await;
    activities(&*store).await;
    steps(&*store).await;
    failed_steps_change_nothing(&*store).await;
    timers(&*store).await;
    tasks(&*store).await;
    delivered_callbacks(&*store).await;
    outbox(&*store).await;
    listing(&*store).await;
    group_commit(store.clone()).await;
    retention(&*store).await;
    functions(&*store).await;
    publishing(&*store).await;
    concurrent_publishing(store.clone()).await;
    function_aliases(&*store).await;
    code_and_routes(&*store).await;
    deleting_functions(&*store).await;
    large_code(&*store).await;
    invocation_queue(&*store).await;
    dead_letters(&*store).await;
    functions_left_nothing(&*store).await;
    events::resources(&*store).await;
    events::deliveries(&*store).await;
    events::dead_events(&*store).await;
    events::archives(&*store).await;
    schedules::schedules(&*store).await;
    schedules::firing(&*store).await;
    racing_fires(std::slice::from_ref(&store)).await;
    queues::queues(&*store).await;
    queues::redrive(&*store).await;
    racing_receivers(std::slice::from_ref(&store)).await;
    events_left_nothing(&*store).await;
}

async fn events_left_nothing(s: &dyn Store) {
    assert_eq!(s.queued_deliveries().await.unwrap(), 0);
    assert!(s.dead_events(None, 0).await.unwrap().is_empty());
    assert_eq!(s.schedule_count().await.unwrap(), 0);
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
        delivered: false,
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

/// A callback task whose call succeeded is recorded as delivered and is not dispatched
/// again; it still answers to its token. Marking a task that is gone, or one that is not
/// a callback, changes nothing and fails nothing.
async fn delivered_callbacks(s: &dyn Store) {
    let e = execution("m", "calling", 13_500);
    let mut step = Step::new(ExecutionWrite::Insert(e.clone()));
    step.tasks_added = vec![
        task(&e.arn, 1, TaskKind::Dispatch, None, "arn:aws:lambda:f"),
        task(&e.arn, 2, TaskKind::Callback, Some("tok-d2"), "arn:x"),
        task(&e.arn, 3, TaskKind::Callback, Some("tok-d3"), "arn:x"),
    ];
    s.commit(step).await.unwrap();
    let undelivered = s.task_by_token("tok-d2").await.unwrap().expect("by token");
    assert!(!undelivered.delivered);

    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.history = vec![event(1, "TaskSubmitted")];
    step.tasks_delivered = vec![2, 1];
    s.commit(step).await.unwrap();
    let d = s.dispatch_tasks().await.unwrap();
    assert_eq!(
        d.iter().map(|t| (t.task, t.delivered)).collect::<Vec<_>>(),
        vec![(1, false), (3, false)],
        "a delivered callback is not dispatched again; a dispatch task is never marked"
    );
    let delivered = s.task_by_token("tok-d2").await.unwrap().expect("by token");
    assert!(
        delivered.delivered,
        "a delivered callback still has its token"
    );
    assert_eq!(s.history(&e.arn, 1, 1).await.unwrap().len(), 1);

    // Answered before its delivery was recorded: the record touches no row.
    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.tasks_finished = vec![3];
    s.commit(step).await.unwrap();
    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.tasks_delivered = vec![3, 99];
    s.commit(step).await.unwrap();
    assert_eq!(s.task_by_token("tok-d3").await.unwrap(), None);
    assert_eq!(
        s.dispatch_tasks()
            .await
            .unwrap()
            .iter()
            .map(|t| t.task)
            .collect::<Vec<_>>(),
        vec![1]
    );

    // Added already delivered (as given), it is not dispatched either.
    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    let mut given = task(&e.arn, 4, TaskKind::Callback, Some("tok-d4"), "arn:x");
    given.delivered = true;
    step.tasks_added = vec![given];
    s.commit(step).await.unwrap();
    assert!(
        s.task_by_token("tok-d4")
            .await
            .unwrap()
            .is_some_and(|t| t.delivered)
    );
    assert_eq!(s.dispatch_tasks().await.unwrap().len(), 1);

    let mut step = Step::new(ExecutionWrite::Update(e.clone()));
    step.tasks_finished = vec![1, 2, 4];
    s.commit(step).await.unwrap();
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

fn function(name: &str, digest: &str) -> Function {
    Function {
        name: name.into(),
        config: format!(r#"{{"runtime":"wasm","name":"{name}"}}"#),
        code_digest: digest.into(),
        revision_id: "rev-1".into(),
        next_version: 1,
        created_ms: 1000,
        updated_ms: 1000,
    }
}

/// What publishing `f`'s `$LATEST` passes (the store sets `number`).
fn latest(f: &Function) -> FunctionVersion {
    FunctionVersion {
        function: f.name.clone(),
        number: 0,
        config: f.config.clone(),
        code_digest: f.code_digest.clone(),
        revision_id: f.revision_id.clone(),
        created_ms: f.updated_ms + 1,
    }
}

fn function_alias(function: &str, name: &str, version: &str) -> FunctionAlias {
    FunctionAlias {
        function: function.into(),
        name: name.into(),
        version: version.into(),
        routing: "{}".into(),
        description: String::new(),
        revision_id: format!("{name}-1"),
        created_ms: 2000,
        updated_ms: 2000,
    }
}

fn route(key: &str, function: &str) -> Route {
    Route {
        route_key: key.into(),
        target: RouteTarget::Function {
            name: function.into(),
            qualifier: "$LATEST".into(),
        },
        created_ms: 3000,
    }
}

fn workflow_route(key: &str, workflow: &str) -> Route {
    Route {
        route_key: key.into(),
        target: RouteTarget::Workflow {
            name: workflow.into(),
        },
        created_ms: 3100,
    }
}

fn invocation(id: &str, function: &str, due_ms: i64) -> QueuedInvocation {
    QueuedInvocation {
        id: id.into(),
        function: function.into(),
        qualifier: "$LATEST".into(),
        // Not UTF-8, with a NUL: payloads are bytes.
        payload: vec![0, 159, 146, 150, b'{', b'}', 255],
        attempts: 0,
        due_ms,
        created_ms: due_ms - 10,
        last_error: None,
    }
}

fn letter(invocation: QueuedInvocation, failed_ms: i64) -> DeadLetter {
    DeadLetter {
        invocation,
        reason: "RetriesExhausted".into(),
        failed_ms,
    }
}

fn ids(v: &[QueuedInvocation]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

fn letter_ids(v: &[DeadLetter]) -> Vec<&str> {
    v.iter().map(|d| d.invocation.id.as_str()).collect()
}

async fn functions(s: &dyn Store) {
    let a = function("fn-a", "sha-a");
    let b = function("fn-b", "sha-b");
    let c = function("fn-c", "sha-c");
    for f in [&b, &a, &c] {
        s.create_function(f).await.expect("create function");
    }
    assert!(
        matches!(s.create_function(&a).await, Err(StoreError::Conflict(_))),
        "creating an existing function is a conflict"
    );
    assert_eq!(s.function(&a.name).await.unwrap(), Some(a.clone()));
    assert_eq!(s.function("fn-nobody").await.unwrap(), None);

    let names = |v: Vec<Function>| v.into_iter().map(|f| f.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.functions(Page::default()).await.unwrap()),
        vec!["fn-a", "fn-b", "fn-c"],
        "functions are listed by name"
    );
    assert_eq!(
        names(
            s.functions(Page {
                after: None,
                limit: 2
            })
            .await
            .unwrap()
        ),
        vec!["fn-a", "fn-b"],
        "the limit holds"
    );
    assert_eq!(
        names(
            s.functions(Page {
                after: Some("fn-b"),
                limit: 2
            })
            .await
            .unwrap()
        ),
        vec!["fn-c"],
        "paging continues after the key"
    );
    assert!(
        s.functions(Page {
            after: Some("fn-c"),
            limit: 0
        })
        .await
        .unwrap()
        .is_empty()
    );

    // Updating checks the revision.
    let mut a2 = a.clone();
    a2.config = r#"{"runtime":"wasm","memory":256}"#.into();
    a2.code_digest = "sha-a2".into();
    a2.revision_id = "rev-2".into();
    a2.updated_ms = 5000;
    // The caller's next_version is not written: publishing owns it.
    a2.next_version = 77;
    s.update_function(&a2, "rev-1")
        .await
        .expect("update at the expected revision");
    let stored = s.function(&a.name).await.unwrap().expect("stored");
    assert_eq!(
        stored,
        Function {
            next_version: 1,
            ..a2.clone()
        },
        "an update replaces the record but next_version"
    );
    let mut stale = a2.clone();
    stale.revision_id = "rev-3".into();
    stale.config = "{}".into();
    assert!(
        matches!(
            s.update_function(&stale, "rev-1").await,
            Err(StoreError::Conflict(_))
        ),
        "an update at another revision is a conflict"
    );
    assert_eq!(
        s.function(&a.name).await.unwrap().unwrap().revision_id,
        "rev-2",
        "a conflicting update changes nothing"
    );
    assert!(
        matches!(
            s.update_function(&function("fn-nobody", "x"), "rev-1")
                .await,
            Err(StoreError::NotFound(_))
        ),
        "updating a missing function is not found"
    );
    assert_eq!(s.function("fn-nobody").await.unwrap(), None);

    for f in [&a, &b, &c] {
        assert!(s.delete_function(&f.name).await.unwrap());
    }
    assert!(!s.delete_function(&a.name).await.unwrap());
    assert!(s.functions(Page::default()).await.unwrap().is_empty());
}

async fn publishing(s: &dyn Store) {
    let f = function("fn-pub", "sha-pub-1");
    s.create_function(&f).await.unwrap();
    assert!(
        s.function_versions(&f.name).await.unwrap().is_empty(),
        "a new function has no versions"
    );

    let v1 = s
        .publish_function_version(&latest(&f), None)
        .await
        .expect("publish");
    assert_eq!(
        v1,
        FunctionVersion {
            number: 1,
            ..latest(&f)
        },
        "the first version is 1, whatever number the caller passed"
    );
    assert_eq!(s.function(&f.name).await.unwrap().unwrap().next_version, 2);
    assert_eq!(
        s.function_version(&f.name, 1).await.unwrap(),
        Some(v1.clone())
    );

    // A new $LATEST, published at its revision.
    let mut f2 = f.clone();
    f2.code_digest = "sha-pub-2".into();
    f2.revision_id = "rev-2".into();
    f2.updated_ms = 6000;
    s.update_function(&f2, "rev-1").await.unwrap();
    assert!(
        matches!(
            s.publish_function_version(&latest(&f2), Some("rev-1"))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "publishing at another revision is a conflict"
    );
    assert_eq!(
        s.function(&f.name).await.unwrap().unwrap().next_version,
        2,
        "a conflicting publish takes no number"
    );
    assert_eq!(s.function_versions(&f.name).await.unwrap().len(), 1);
    let v2 = s
        .publish_function_version(&latest(&f2), Some("rev-2"))
        .await
        .expect("publish at the expected revision");
    assert_eq!(v2.number, 2);
    assert_eq!(v2.code_digest, "sha-pub-2");
    assert_eq!(
        s.function(&f.name).await.unwrap().unwrap().revision_id,
        "rev-2",
        "publishing does not change the function's revision"
    );

    assert!(
        matches!(
            s.publish_function_version(&latest(&function("fn-nobody", "x")), None)
                .await,
            Err(StoreError::NotFound(_))
        ),
        "publishing a missing function is not found"
    );
    assert!(s.function_versions("fn-nobody").await.unwrap().is_empty());

    assert_eq!(
        s.function_versions(&f.name).await.unwrap(),
        vec![v1.clone(), v2.clone()],
        "versions oldest first"
    );
    assert_eq!(s.function_version(&f.name, 3).await.unwrap(), None);
    assert_eq!(s.function_version("fn-nobody", 1).await.unwrap(), None);

    // Deleting the newest version does not give its number out again.
    assert!(s.delete_function_version(&f.name, 2).await.unwrap());
    assert!(!s.delete_function_version(&f.name, 2).await.unwrap());
    assert_eq!(s.function_version(&f.name, 2).await.unwrap(), None);
    let v3 = s
        .publish_function_version(&latest(&f2), None)
        .await
        .unwrap();
    assert_eq!(v3.number, 3, "version numbers are never reused");
    assert_eq!(
        s.function_versions(&f.name)
            .await
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );

    // Versions sort as numbers: 10 after 9.
    for _ in 0..8 {
        s.publish_function_version(&latest(&f2), None)
            .await
            .unwrap();
    }
    let numbers: Vec<u64> = s
        .function_versions(&f.name)
        .await
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(numbers, vec![1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert!(s.delete_function(&f.name).await.unwrap());
    assert!(s.function_versions(&f.name).await.unwrap().is_empty());
}

async fn concurrent_publishing(s: Arc<dyn Store>) {
    let f = function("fn-race", "sha-race");
    s.create_function(&f).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        let mut v = latest(&f);
        v.created_ms = 10_000 + i;
        handles.push(tokio::spawn(async move {
            s.publish_function_version(&v, Some("rev-1")).await
        }));
    }
    let mut numbers = Vec::new();
    for h in handles {
        numbers.push(h.await.expect("task").expect("concurrent publish").number);
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=20).collect::<Vec<u64>>(),
        "concurrent publishes take the numbers 1..=20, each once"
    );
    let stored = s.function_versions(&f.name).await.unwrap();
    assert_eq!(stored.len(), 20);
    assert!(
        stored
            .iter()
            .enumerate()
            .all(|(i, v)| v.number == i as u64 + 1),
        "every version stored under its number"
    );
    assert_eq!(s.function(&f.name).await.unwrap().unwrap().next_version, 21);
    assert!(s.delete_function(&f.name).await.unwrap());
}

async fn function_aliases(s: &dyn Store) {
    let f = "fn-alias";
    s.create_function(&function(f, "sha-alias")).await.unwrap();
    let live = function_alias(f, "live", "1");
    let beta = function_alias(f, "beta", "$LATEST");
    s.create_function_alias(&live).await.expect("create alias");
    s.create_function_alias(&beta).await.unwrap();
    assert!(
        matches!(
            s.create_function_alias(&live).await,
            Err(StoreError::Conflict(_))
        ),
        "creating an existing alias is a conflict"
    );
    // The same alias name on another function is another alias.
    let other = function_alias("fn-alias-other", "live", "2");
    s.create_function_alias(&other).await.unwrap();

    assert_eq!(
        s.function_alias(f, "live").await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(s.function_alias(f, "nope").await.unwrap(), None);
    assert_eq!(s.function_alias("fn-nobody", "live").await.unwrap(), None);
    assert_eq!(
        s.function_aliases(f).await.unwrap(),
        vec![beta.clone(), live.clone()],
        "aliases by name"
    );

    let mut live2 = live.clone();
    live2.version = "2".into();
    live2.routing = r#"{"3":0.1}"#.into();
    live2.description = "canary".into();
    live2.revision_id = "live-2".into();
    live2.updated_ms = 2500;
    s.update_function_alias(&live2).await.expect("update alias");
    assert_eq!(
        s.function_alias(f, "live").await.unwrap(),
        Some(live2.clone())
    );
    assert_eq!(
        s.function_alias("fn-alias-other", "live").await.unwrap(),
        Some(other.clone()),
        "an update changes one function's alias"
    );
    assert!(
        matches!(
            s.update_function_alias(&function_alias(f, "ghost", "1"))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "updating a missing alias is not found"
    );
    assert_eq!(s.function_alias(f, "ghost").await.unwrap(), None);

    assert!(s.delete_function_alias(f, "beta").await.unwrap());
    assert!(!s.delete_function_alias(f, "beta").await.unwrap());
    assert_eq!(s.function_aliases(f).await.unwrap(), vec![live2]);
    assert!(
        s.delete_function_alias("fn-alias-other", "live")
            .await
            .unwrap()
    );
    assert!(s.delete_function(f).await.unwrap());
    assert!(
        s.function_aliases(f).await.unwrap().is_empty(),
        "deleting a function deletes its aliases"
    );
}

async fn code_and_routes(s: &dyn Store) {
    s.put_code("sha-code", b"\0asm\x01\0\0\0").await.unwrap();
    s.put_code("sha-code", b"\0asm\x01\0\0\0")
        .await
        .expect("storing a digest again is fine");
    assert_eq!(
        s.code("sha-code").await.unwrap().as_deref(),
        Some(&b"\0asm\x01\0\0\0"[..])
    );
    assert_eq!(s.code("sha-none").await.unwrap(), None);
    s.put_code("sha-empty", b"").await.unwrap();
    assert_eq!(s.code("sha-empty").await.unwrap(), Some(Vec::new()));

    let get = route("GET /orders/{id}", "fn-orders");
    let post = route("POST /orders", "fn-orders");
    let any = route("ANY /{proxy+}", "fn-catchall");
    for r in [&get, &post, &any] {
        s.put_route(r).await.expect("put route");
    }
    assert_eq!(
        s.routes().await.unwrap(),
        vec![any.clone(), get.clone(), post.clone()],
        "routes by key"
    );
    let mut moved = get.clone();
    moved.target = RouteTarget::Function {
        name: "fn-orders-v2".into(),
        qualifier: "live".into(),
    };
    moved.created_ms = 3500;
    s.put_route(&moved).await.expect("replace route");
    assert_eq!(
        s.routes().await.unwrap(),
        vec![any.clone(), moved.clone(), post.clone()],
        "putting a route again replaces it"
    );
    let started = workflow_route("POST /orders", "order");
    s.put_route(&started).await.expect("a route to a workflow");
    assert_eq!(
        s.routes().await.unwrap(),
        vec![any.clone(), moved.clone(), started.clone()],
        "a route can change from a function to a workflow"
    );
    let mut back = started.clone();
    back.target = RouteTarget::Function {
        name: "fn-orders".into(),
        qualifier: "3".into(),
    };
    s.put_route(&back).await.unwrap();
    assert_eq!(s.routes().await.unwrap()[2], back, "and back");
    assert!(s.delete_route(&post.route_key).await.unwrap());
    assert!(!s.delete_route(&post.route_key).await.unwrap());
    assert!(s.delete_route(&moved.route_key).await.unwrap());
    assert!(s.delete_route(&any.route_key).await.unwrap());
    assert!(s.routes().await.unwrap().is_empty());
}

async fn deleting_functions(s: &dyn Store) {
    // fn-del: versions on code A and B, $LATEST on B. fn-keep shares B and has code C.
    for (digest, code) in [
        ("sha-del-a", &b"a"[..]),
        ("sha-del-b", b"b"),
        ("sha-del-c", b"c"),
        ("sha-del-orphan", b"o"),
    ] {
        s.put_code(digest, code).await.unwrap();
    }
    let del = function("fn-del", "sha-del-a");
    s.create_function(&del).await.unwrap();
    s.publish_function_version(&latest(&del), None)
        .await
        .unwrap();
    let mut del2 = del.clone();
    del2.code_digest = "sha-del-b".into();
    del2.revision_id = "rev-2".into();
    s.update_function(&del2, "rev-1").await.unwrap();
    s.publish_function_version(&latest(&del2), None)
        .await
        .unwrap();
    s.create_function_alias(&function_alias(&del.name, "live", "2"))
        .await
        .unwrap();
    s.put_route(&route("GET /del", &del.name)).await.unwrap();
    s.put_route(&route("GET /del/{id}", &del.name))
        .await
        .unwrap();

    let keep = function("fn-keep", "sha-del-b");
    s.create_function(&keep).await.unwrap();
    let mut keep_c = latest(&keep);
    keep_c.code_digest = "sha-del-c".into();
    s.publish_function_version(&keep_c, None).await.unwrap();
    s.create_function_alias(&function_alias(&keep.name, "live", "1"))
        .await
        .unwrap();
    s.put_route(&route("GET /keep", &keep.name)).await.unwrap();
    // A workflow that shares the function's name keeps its route.
    s.put_route(&workflow_route("POST /del", &del.name))
        .await
        .unwrap();

    assert!(s.delete_function(&del.name).await.unwrap());
    assert_eq!(s.function(&del.name).await.unwrap(), None);
    assert!(
        s.function_versions(&del.name).await.unwrap().is_empty(),
        "deleting a function deletes its versions"
    );
    assert!(
        s.function_aliases(&del.name).await.unwrap().is_empty(),
        "and its aliases"
    );
    assert_eq!(
        s.routes().await.unwrap(),
        vec![
            route("GET /keep", &keep.name),
            workflow_route("POST /del", &del.name)
        ],
        "and the routes naming it, only those"
    );
    assert!(s.delete_route("POST /del").await.unwrap());
    assert_eq!(
        s.code("sha-del-a").await.unwrap(),
        None,
        "code no function or version names any more is deleted"
    );
    assert_eq!(
        s.code("sha-del-b").await.unwrap().as_deref(),
        Some(&b"b"[..]),
        "code another function names stays"
    );
    assert_eq!(
        s.code("sha-del-c").await.unwrap().as_deref(),
        Some(&b"c"[..]),
        "code another function's version names stays"
    );
    assert_eq!(
        s.code("sha-del-orphan").await.unwrap().as_deref(),
        Some(&b"o"[..]),
        "code the deleted function never named stays (it may be about to be named)"
    );
    assert_eq!(s.function_aliases(&keep.name).await.unwrap().len(), 1);
    assert_eq!(s.function_versions(&keep.name).await.unwrap().len(), 1);
    assert!(!s.delete_function(&del.name).await.unwrap());

    // A function created again under the name starts afresh.
    s.create_function(&del).await.unwrap();
    let v = s
        .publish_function_version(&latest(&del), None)
        .await
        .unwrap();
    assert_eq!(v.number, 1, "a new function of an old name starts at 1");
    assert!(s.delete_function(&del.name).await.unwrap());

    // The last function naming B and C: both go.
    assert!(s.delete_function(&keep.name).await.unwrap());
    assert_eq!(s.code("sha-del-b").await.unwrap(), None);
    assert_eq!(s.code("sha-del-c").await.unwrap(), None);
    assert!(s.routes().await.unwrap().is_empty());
    assert!(s.function_aliases(&keep.name).await.unwrap().is_empty());
}

async fn large_code(s: &dyn Store) {
    // Code of tens of megabytes: a 20 MiB blob that does not compress.
    let mut code = vec![0u8; 20 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in code.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    s.put_code("sha-large", &code).await.expect("put 20 MiB");
    let back = s.code("sha-large").await.unwrap().expect("large code");
    assert_eq!(back.len(), code.len(), "large code keeps its length");
    assert!(back == code, "large code keeps its bytes");
    let f = function("fn-large", "sha-large");
    s.create_function(&f).await.unwrap();
    assert!(s.delete_function(&f.name).await.unwrap());
    assert_eq!(s.code("sha-large").await.unwrap(), None);
}

async fn invocation_queue(s: &dyn Store) {
    assert_eq!(s.queued_invocations().await.unwrap(), 0);
    assert_eq!(s.next_invocation_due().await.unwrap(), None);
    assert!(s.due_invocations(i64::MAX, 10).await.unwrap().is_empty());

    let c = invocation("inv-c", "fn-q", 300);
    let b = invocation("inv-b", "fn-q", 100);
    let d = invocation("inv-d", "fn-r", 200);
    let mut a = invocation("inv-a", "fn-q", 100);
    a.payload = Vec::new();
    for i in [&c, &b, &d, &a] {
        s.enqueue_invocation(i).await.expect("enqueue");
    }
    let mut again = b.clone();
    again.due_ms = 1;
    assert!(
        matches!(
            s.enqueue_invocation(&again).await,
            Err(StoreError::Conflict(_))
        ),
        "enqueueing an existing id is a conflict"
    );
    assert_eq!(s.queued_invocations().await.unwrap(), 4);
    assert_eq!(s.next_invocation_due().await.unwrap(), Some(100));

    let due = s.due_invocations(150, 10).await.unwrap();
    assert_eq!(ids(&due), vec!["inv-a", "inv-b"], "due, earliest first");
    assert_eq!(due[0], a, "an empty payload stays empty");
    assert_eq!(due[1], b, "payloads are bytes, kept exactly");
    assert_eq!(
        ids(&s.due_invocations(200, 10).await.unwrap()),
        vec!["inv-a", "inv-b", "inv-d"],
        "due at the time counts"
    );
    assert_eq!(
        ids(&s.due_invocations(i64::MAX, 3).await.unwrap()),
        vec!["inv-a", "inv-b", "inv-d"],
        "the limit holds"
    );
    assert_eq!(
        s.due_invocations(i64::MAX, 0).await.unwrap().len(),
        4,
        "a limit of 0 is no limit"
    );
    assert!(s.due_invocations(99, 10).await.unwrap().is_empty());

    // A failed delivery: later, counted, with its error; nothing else changes.
    let mut retry = a.clone();
    retry.attempts = 1;
    retry.due_ms = 250;
    retry.last_error = Some(r#"{"errorType":"Timeout"}"#.into());
    retry.payload = b"ignored".to_vec();
    retry.qualifier = "ignored".into();
    s.reschedule_invocation(&retry).await.expect("reschedule");
    let due = s.due_invocations(i64::MAX, 0).await.unwrap();
    assert_eq!(ids(&due), vec!["inv-b", "inv-d", "inv-a", "inv-c"]);
    assert_eq!(
        due[2],
        QueuedInvocation {
            attempts: 1,
            due_ms: 250,
            last_error: retry.last_error.clone(),
            ..a.clone()
        },
        "rescheduling changes attempts, due time and error only"
    );
    assert_eq!(s.next_invocation_due().await.unwrap(), Some(100));
    assert!(
        matches!(
            s.reschedule_invocation(&invocation("inv-ghost", "fn-q", 1))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "rescheduling a missing invocation is not found"
    );
    assert_eq!(s.queued_invocations().await.unwrap(), 4);

    assert!(s.finish_invocation("inv-b").await.unwrap());
    assert!(
        !s.finish_invocation("inv-b").await.unwrap(),
        "finishing twice"
    );
    assert!(!s.finish_invocation("inv-ghost").await.unwrap());
    assert_eq!(s.queued_invocations().await.unwrap(), 3);
    assert_eq!(s.next_invocation_due().await.unwrap(), Some(200));
    // A finished id may be used again.
    s.enqueue_invocation(&b)
        .await
        .expect("enqueue a finished id");
    for id in ["inv-a", "inv-b", "inv-c", "inv-d"] {
        assert!(s.finish_invocation(id).await.unwrap());
    }
    assert_eq!(s.queued_invocations().await.unwrap(), 0);
    assert_eq!(s.next_invocation_due().await.unwrap(), None);
}

async fn dead_letters(s: &dyn Store) {
    assert!(s.dead_letters(None, 0).await.unwrap().is_empty());
    let mut queued = Vec::new();
    for (i, f) in ["fn-x", "fn-y", "fn-x", "fn-x", "fn-y"].iter().enumerate() {
        let inv = invocation(&format!("dl-{i}"), f, 100 + i as i64);
        s.enqueue_invocation(&inv).await.unwrap();
        queued.push(inv);
    }
    s.enqueue_invocation(&invocation("dl-stays", "fn-x", 50))
        .await
        .unwrap();
    // Letters fail at 1000, 1003, 1001, 1003, 1002 (two at once: then by id, descending).
    let failed = [1000, 1003, 1001, 1003, 1002];
    for (inv, ms) in queued.iter().zip(failed) {
        let mut inv = inv.clone();
        inv.attempts = 3;
        inv.last_error = Some(r#"{"errorType":"Boom"}"#.into());
        s.dead_letter_invocation(&letter(inv, ms))
            .await
            .expect("dead-letter");
    }
    assert_eq!(
        s.queued_invocations().await.unwrap(),
        1,
        "dead-lettering removes from the queue"
    );
    assert_eq!(
        ids(&s.due_invocations(i64::MAX, 0).await.unwrap()),
        vec!["dl-stays"]
    );

    let all = s.dead_letters(None, 0).await.unwrap();
    assert_eq!(
        letter_ids(&all),
        vec!["dl-3", "dl-1", "dl-4", "dl-2", "dl-0"],
        "dead letters newest first"
    );
    assert_eq!(
        all[4],
        letter(
            QueuedInvocation {
                attempts: 3,
                last_error: Some(r#"{"errorType":"Boom"}"#.into()),
                ..queued[0].clone()
            },
            1000
        ),
        "a dead letter keeps the invocation as given, payload and all"
    );
    assert_eq!(
        letter_ids(&s.dead_letters(None, 2).await.unwrap()),
        vec!["dl-3", "dl-1"],
        "the limit holds"
    );
    assert_eq!(
        letter_ids(&s.dead_letters(Some("fn-x"), 0).await.unwrap()),
        vec!["dl-3", "dl-2", "dl-0"],
        "one function's dead letters, newest first"
    );
    assert_eq!(
        letter_ids(&s.dead_letters(Some("fn-y"), 1).await.unwrap()),
        vec!["dl-1"]
    );
    assert!(s.dead_letters(Some("fn-z"), 0).await.unwrap().is_empty());

    assert!(
        matches!(
            s.dead_letter_invocation(&letter(invocation("dl-ghost", "fn-x", 1), 2000))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "dead-lettering an invocation that is not queued is not found"
    );
    assert!(
        matches!(
            s.dead_letter_invocation(&letter(queued[0].clone(), 2000))
                .await,
            Err(StoreError::NotFound(_))
        ),
        "an invocation is dead-lettered once"
    );
    assert_eq!(s.dead_letters(None, 0).await.unwrap().len(), 5);

    // Atomic: when the letter cannot be stored, the invocation stays queued.
    let redo = queued[0].clone();
    s.enqueue_invocation(&redo).await.unwrap();
    assert!(
        matches!(
            s.dead_letter_invocation(&letter(redo.clone(), 3000)).await,
            Err(StoreError::Conflict(_))
        ),
        "a second dead letter of one id is a conflict"
    );
    assert_eq!(
        s.queued_invocations().await.unwrap(),
        2,
        "a failed dead-lettering leaves the invocation queued"
    );
    assert_eq!(
        s.dead_letters(None, 0).await.unwrap()[4].failed_ms,
        1000,
        "and the first letter as it was"
    );

    assert!(s.delete_dead_letter("dl-0").await.unwrap());
    assert!(!s.delete_dead_letter("dl-0").await.unwrap());
    s.dead_letter_invocation(&letter(redo, 3000))
        .await
        .expect("dead-letter again once the letter is gone");
    assert_eq!(
        letter_ids(&s.dead_letters(Some("fn-x"), 0).await.unwrap()),
        vec!["dl-0", "dl-3", "dl-2"]
    );
    for d in s.dead_letters(None, 0).await.unwrap() {
        assert!(s.delete_dead_letter(&d.invocation.id).await.unwrap());
    }
    assert!(s.finish_invocation("dl-stays").await.unwrap());
}

async fn functions_left_nothing(s: &dyn Store) {
    assert!(s.functions(Page::default()).await.unwrap().is_empty());
    assert!(s.routes().await.unwrap().is_empty());
    assert_eq!(s.queued_invocations().await.unwrap(), 0);
    assert!(s.dead_letters(None, 0).await.unwrap().is_empty());
}

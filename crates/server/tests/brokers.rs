//! Broker sources and publish targets against the real NATS (with JetStream) at
//! 127.0.0.1:4222 and Mosquitto at 127.0.0.1:1883. Every test uses its own subjects,
//! topics, stream and client ids, so runs in parallel do not collide; JetStream streams
//! made here are deleted at the end.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cirrus_events::CloudEvent;
use cirrus_server::events::brokers::{BrokerError, Brokers, PublishTarget, SourceConfig};
use cirrus_server::events::{EventSink, SinkError};
use serde_json::{Value, json};

const NATS: &str = "nats://127.0.0.1:4222";
const MQTT: &str = "mqtt://127.0.0.1:1883";

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}x{nanos}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Records the events it accepts; refuses the first `fail_first` calls (or every call).
#[derive(Default)]
struct Collect {
    accepted: Mutex<Vec<(String, CloudEvent)>>,
    calls: AtomicUsize,
    fail_first: usize,
    fail_always: bool,
}

impl Collect {
    fn failing_first(n: usize) -> Arc<Collect> {
        Arc::new(Collect {
            fail_first: n,
            ..Default::default()
        })
    }

    fn events(&self) -> Vec<CloudEvent> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<CloudEvent> {
        let start = Instant::now();
        loop {
            let events = self.events();
            if events.len() >= n || start.elapsed() > within {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl EventSink for Collect {
    async fn put_events(&self, bus: &str, events: Vec<CloudEvent>) -> Result<(), SinkError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_always || call < self.fail_first {
            return Err(SinkError::Store("the test sink refuses this call".into()));
        }
        let mut accepted = self.accepted.lock().unwrap();
        accepted.extend(events.into_iter().map(|e| (bus.to_owned(), e)));
        Ok(())
    }
}

async fn until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

async fn nats_client() -> async_nats::Client {
    async_nats::connect(NATS)
        .await
        .expect("NATS at 127.0.0.1:4222")
}

fn source(v: Value) -> SourceConfig {
    SourceConfig::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[tokio::test]
async fn malformed_configs_name_the_field() {
    let cases = [
        (json!([]), "(config)"),
        (json!({"url": NATS, "subject": "a"}), "'type'"),
        (json!({"type": "kafka"}), "'type'"),
        (json!({"type": "nats", "subject": "a"}), "'url'"),
        (
            json!({"type": "nats", "url": "http://x", "subject": "a"}),
            "'url'",
        ),
        (json!({"type": "nats", "url": NATS}), "'subject'"),
        (
            json!({"type": "nats", "url": NATS, "subject": "a..b"}),
            "'subject'",
        ),
        (
            json!({"type": "nats", "url": NATS, "subject": "a.>.b"}),
            "'subject'",
        ),
        (
            json!({"type": "nats", "url": NATS, "subject": "a", "bus": 5}),
            "'bus'",
        ),
        (
            json!({"type": "nats", "url": NATS, "subject": "a", "colour": 1}),
            "'colour'",
        ),
        (
            json!({"type": "nats", "url": NATS, "jetstream": {"consumer": "c"}}),
            "'jetstream.stream'",
        ),
        (
            json!({"type": "nats", "url": NATS, "jetstream": {"stream": "S.1", "consumer": "c"}}),
            "'jetstream.stream'",
        ),
        (
            json!({"type": "nats", "url": NATS, "jetstream": {"stream": "S", "consumer": "c", "deliver": "some"}}),
            "'jetstream.deliver'",
        ),
        (
            json!({"type": "nats", "url": NATS, "jetstream": {"stream": "S", "consumer": "c", "subjects": []}}),
            "'jetstream.subjects'",
        ),
        (
            json!({"type": "nats", "url": NATS, "jetstream": {"stream": "S", "consumer": "c", "x": 1}}),
            "'jetstream.x'",
        ),
        (json!({"type": "mqtt", "url": MQTT}), "'topics'"),
        (
            json!({"type": "mqtt", "url": MQTT, "topics": ["a/#/b"]}),
            "'topics'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topics": ["a/b+"]}),
            "'topics'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topics": ["a"], "qos": 2}),
            "'qos'",
        ),
        (
            json!({"type": "mqtt", "url": "mqtts://h", "topics": ["a"]}),
            "'url'",
        ),
        (
            json!({"type": "mqtt", "url": "mqtt://h:port", "topics": ["a"]}),
            "'url'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topics": ["a"], "clean_session": "no"}),
            "'clean_session'",
        ),
    ];
    for (v, field) in cases {
        let err = SourceConfig::parse(&v)
            .expect_err(&v.to_string())
            .to_string();
        assert!(err.contains(field), "{v}: {err}");
    }
    let targets = [
        (json!({"type": "nats", "url": NATS}), "'subject'"),
        (
            json!({"type": "nats", "url": NATS, "subject": "a.*"}),
            "'subject'",
        ),
        (
            json!({"type": "nats", "url": NATS, "subject": "a", "headers": {"k": 1}}),
            "'headers'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topic": "a/+"}),
            "'topic'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topic": "a", "retain": 1}),
            "'retain'",
        ),
        (
            json!({"type": "mqtt", "url": MQTT, "topic": "a", "qos": "1"}),
            "'qos'",
        ),
    ];
    for (v, field) in targets {
        let err = PublishTarget::parse(&v)
            .expect_err(&v.to_string())
            .to_string();
        assert!(err.contains(field), "{v}: {err}");
    }
    // The documented shapes parse.
    source(
        json!({"type":"nats","url":NATS,"subject":"orders.>","queue_group":"cirrus","bus":"default"}),
    );
    source(
        json!({"type":"nats","url":NATS,"bus":"b","jetstream":{"stream":"ORDERS","consumer":"cirrus","subjects":["orders.>"],"deliver":"new"}}),
    );
    source(
        json!({"type":"mqtt","url":MQTT,"topics":["sensors/+/temperature"],"qos":1,"bus":"default","client_id":"c","clean_session":false}),
    );
}

#[tokio::test]
async fn nats_subject_messages_become_events() {
    let u = unique();
    let brokers = Brokers::new();
    let sink = Arc::new(Collect::default());
    let config = source(json!({
        "type": "nats", "url": NATS, "subject": format!("t{u}.>"), "bus": "orders",
    }));
    brokers
        .apply_source("s", config, sink.clone())
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(5), || brokers
            .source_status("s")
            .is_some_and(|s| s.connected))
        .await
    );
    // The subscription is made right after connecting; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let nc = nats_client().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-Trace", "abc");
    nc.publish_with_headers(format!("t{u}.a.json"), headers, r#"{"n":1}"#.into())
        .await
        .unwrap();
    nc.publish(format!("t{u}.a.text"), "plain text".into())
        .await
        .unwrap();
    nc.publish(format!("t{u}.a.bin"), vec![0xff, 0xfe, 0x00].into())
        .await
        .unwrap();
    let mut ce = async_nats::HeaderMap::new();
    ce.insert("Content-Type", "application/cloudevents+json");
    let structured = json!({"specversion": "1.0", "id": "ce-1", "source": "shop", "type": "Order Placed", "data": {"total": 5}});
    nc.publish_with_headers(
        format!("t{u}.a.ce"),
        ce.clone(),
        structured.to_string().into(),
    )
    .await
    .unwrap();
    nc.publish(
        format!("t{u}.a.ce2"),
        json!({"specversion": "1.0", "id": "ce-2", "source": "shop", "type": "X"})
            .to_string()
            .into(),
    )
    .await
    .unwrap();
    // Claims to be a CloudEvent but is not JSON: delivered as text, not lost.
    nc.publish_with_headers(format!("t{u}.a.bad"), ce, "{not json".into())
        .await
        .unwrap();
    nc.publish(format!("other{u}"), "not for us".into())
        .await
        .unwrap();
    nc.flush().await.unwrap();

    let events = sink.wait_for(6, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 6, "{events:?}");
    let by_subject = |s: &str| {
        events
            .iter()
            .find(|e| e.subject.as_deref() == Some(&format!("t{u}.a.{s}")))
            .unwrap_or_else(|| panic!("no event for {s}: {events:?}"))
            .clone()
    };
    let e = by_subject("json");
    assert_eq!(e.source, "cirrus.nats");
    assert_eq!(e.ty, "NATS Message");
    assert!(cirrus_events::cloudevent::is_rfc3339(
        e.time.as_deref().unwrap()
    ));
    assert_eq!(e.id.len(), 36);
    assert_eq!(
        e.data,
        Some(
            json!({"subject": format!("t{u}.a.json"), "payload": {"n": 1}, "headers": {"X-Trace": "abc"}})
        )
    );
    assert_eq!(by_subject("text").data.unwrap()["payload"], "plain text");
    assert_eq!(
        by_subject("bin").data.unwrap()["payload"],
        json!({"base64": "//4A"})
    );
    assert_eq!(by_subject("bad").data.unwrap()["payload"], "{not json");
    let structured: Vec<_> = events.iter().filter(|e| e.source == "shop").collect();
    assert_eq!(structured.len(), 2);
    assert!(
        structured
            .iter()
            .any(|e| e.id == "ce-1" && e.data == Some(json!({"total": 5})))
    );
    assert!(structured.iter().any(|e| e.id == "ce-2"));
    assert!(
        sink.accepted
            .lock()
            .unwrap()
            .iter()
            .all(|(bus, _)| bus == "orders")
    );
    let status = brokers.source_status("s").unwrap();
    assert_eq!((status.received, status.accepted), (6, 6));
    brokers.shutdown().await;
}

#[tokio::test]
async fn nats_queue_group_shares_messages() {
    let u = unique();
    let brokers = Brokers::new();
    let (a, b) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    for (name, sink) in [("a", &a), ("b", &b)] {
        let config = source(json!({
            "type": "nats", "url": NATS, "subject": format!("q{u}.*"), "queue_group": "workers",
        }));
        brokers
            .apply_source(name, config, sink.clone())
            .await
            .unwrap();
    }
    assert!(
        until(Duration::from_secs(5), || ["a", "b"].iter().all(|n| {
            brokers.source_status(n).is_some_and(|s| s.connected)
        }))
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let nc = nats_client().await;
    for i in 0..200 {
        nc.publish(format!("q{u}.m"), format!("{i}").into())
            .await
            .unwrap();
    }
    nc.flush().await.unwrap();
    assert!(
        until(Duration::from_secs(5), || a.events().len()
            + b.events().len()
            >= 200)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all: Vec<String> = a
        .events()
        .into_iter()
        .chain(b.events())
        .map(|e| e.data.unwrap()["payload"].to_string())
        .collect();
    assert_eq!(
        all.len(),
        200,
        "each message goes to one member of the group"
    );
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 200);
    assert!(!a.events().is_empty() && !b.events().is_empty());
    brokers.shutdown().await;
}

#[tokio::test]
async fn jetstream_acks_only_what_the_sink_accepted() {
    let u = unique();
    let stream = format!("CIRRUS_T{u}");
    let nc = nats_client().await;
    let js = async_nats::jetstream::new(nc.clone());
    let config = || {
        source(json!({
            "type": "nats", "url": NATS, "bus": "b",
            "jetstream": {"stream": stream, "consumer": "cirrus", "subjects": [format!("js{u}.>")], "deliver": "all"},
        }))
    };
    let brokers = Brokers::new();
    // Fails the first 3 put_events calls: those batches are nak'd and redelivered.
    let first = Collect::failing_first(3);
    brokers
        .apply_source("js", config(), first.clone())
        .await
        .unwrap();
    // The source creates the stream; wait for it.
    assert!(
        until(Duration::from_secs(10), || brokers
            .source_status("js")
            .is_some_and(|s| s.connected))
        .await
    );
    let mut created = false;
    for _ in 0..100 {
        if js.get_stream(&stream).await.is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(created, "the source creates the stream");
    for i in 1..=10 {
        js.publish(format!("js{u}.orders"), format!("{{\"n\":{i}}}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let events = first.wait_for(10, Duration::from_secs(20)).await;
    assert_eq!(events.len(), 10, "{events:?}");
    assert!(
        first.calls.load(Ordering::SeqCst) > 3,
        "the failures were redelivered"
    );
    let status = brokers.source_status("js").unwrap();
    assert!(status.received > 10, "{status:?}");
    assert!(status.last_error.is_some());

    // Stop the source, publish more while it is away, start it again.
    assert!(brokers.remove_source("js").await);
    for i in 11..=15 {
        js.publish(format!("js{u}.orders"), format!("{{\"n\":{i}}}").into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let second = Arc::new(Collect::default());
    brokers
        .apply_source("js", config(), second.clone())
        .await
        .unwrap();
    // A pull the stopped source left open at the server may have taken one of these;
    // unacknowledged, it comes back after the consumer's ack wait (30 s), not lost.
    let later = second.wait_for(5, Duration::from_secs(45)).await;
    // Anything more would be a redelivery of something already acked.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later_all = second.events();
    assert_eq!(later_all.len(), 5, "{later:?}");

    let ids: Vec<String> = events
        .iter()
        .chain(&later_all)
        .map(|e| e.id.clone())
        .collect();
    let expected: Vec<String> = (1..=15).map(|seq| format!("{stream}:{seq}")).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id.rsplit(':').next().and_then(|n| n.parse::<u64>().ok()));
    assert_eq!(sorted, expected, "exactly the messages, once each");
    // In any order: one may have come back after the ack wait.
    let mut later_n: Vec<u64> = later_all
        .iter()
        .filter_map(|e| e.data.as_ref()?["payload"]["n"].as_u64())
        .collect();
    later_n.sort_unstable();
    assert_eq!(later_n, [11, 12, 13, 14, 15]);
    brokers.shutdown().await;
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn jetstream_without_stream_or_subjects_reports_why() {
    let u = unique();
    let brokers = Brokers::new();
    let config = source(json!({
        "type": "nats", "url": NATS,
        "jetstream": {"stream": format!("NOPE{u}"), "consumer": "c"},
    }));
    brokers
        .apply_source("js", config, Arc::new(Collect::default()))
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(5), || brokers
            .source_status("js")
            .and_then(|s| s.last_error)
            .is_some_and(|e| e.contains("does not exist")))
        .await,
        "{:?}",
        brokers.source_status("js")
    );
    brokers.shutdown().await;
}

async fn mqtt_client(
    id: &str,
) -> (
    rumqttc::AsyncClient,
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<rumqttc::Publish>,
) {
    let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", 1883);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 100);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok(ev) = eventloop.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p)) = ev {
                let _ = tx.send(p);
            }
        }
    });
    (client, task, rx)
}

/// Publishes QoS 1 messages and waits until the broker has them.
async fn mqtt_publish(messages: &[(String, &str)]) {
    let (client, task, _) = mqtt_client(&format!("pub{}", unique())).await;
    for (topic, payload) in messages {
        client
            .publish(
                topic.clone(),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.as_bytes().to_vec(),
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    task.abort();
}

/// Ends a persistent session so the broker forgets it.
async fn mqtt_forget_session(client_id: &str) {
    let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", 1883);
    opts.set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
    let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
}

#[tokio::test]
async fn mqtt_topic_filters_and_retry_before_ack() {
    let u = unique();
    let brokers = Brokers::new();
    let sink = Collect::failing_first(1);
    let client_id = format!("cirrus-t{u}");
    let config = source(json!({
        "type": "mqtt", "url": MQTT, "qos": 1, "client_id": client_id, "clean_session": false,
        "topics": [format!("c{u}/+/temperature"), format!("c{u}/alerts/#")],
        "event_source": "sensors", "event_type": "Reading",
    }));
    brokers
        .apply_source("m", config.clone(), sink.clone())
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(5), || brokers
            .source_status("m")
            .is_some_and(|s| s.connected))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    mqtt_publish(&[
        (format!("c{u}/kitchen/temperature"), "21.5"),
        (format!("c{u}/kitchen/humidity"), "40"),
        (format!("c{u}/alerts/fire/now"), r#"{"level":3}"#),
        (format!("c{u}/hall/temperature"), "hot"),
    ])
    .await;
    let events = sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events_now = sink.events();
    assert_eq!(events_now.len(), 3, "{events:?}");
    assert!(
        sink.calls.load(Ordering::SeqCst) >= 2,
        "the first call failed and was retried"
    );
    let kitchen = events_now
        .iter()
        .find(|e| e.subject.as_deref() == Some(&format!("c{u}/kitchen/temperature")))
        .unwrap();
    assert_eq!(kitchen.source, "sensors");
    assert_eq!(kitchen.ty, "Reading");
    assert_eq!(
        kitchen.data,
        Some(
            json!({"topic": format!("c{u}/kitchen/temperature"), "payload": 21.5, "qos": 1, "retain": false, "dup": false})
        )
    );
    assert!(
        events_now
            .iter()
            .any(|e| e.data.as_ref().unwrap()["payload"] == json!({"level": 3}))
    );
    assert!(
        events_now
            .iter()
            .any(|e| e.data.as_ref().unwrap()["payload"] == "hot")
    );

    // Everything was acked: a restart of the session brings nothing again.
    brokers.remove_source("m").await;
    let again = Arc::new(Collect::default());
    brokers
        .apply_source("m", config, again.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        brokers.source_status("m").is_some_and(|s| s.connected),
        "{:?}",
        brokers.source_status("m")
    );
    assert_eq!(
        again.events().len(),
        0,
        "nothing is redelivered after its ack"
    );
    brokers.shutdown().await;
    mqtt_forget_session(&client_id).await;
}

#[tokio::test]
async fn mqtt_unacked_messages_are_redelivered_to_a_restarted_source() {
    let u = unique();
    let brokers = Brokers::new();
    let client_id = format!("cirrus-r{u}");
    let config = source(json!({
        "type": "mqtt", "url": MQTT, "topics": [format!("r{u}/#")], "client_id": client_id,
    }));
    // This sink never accepts: the message stays unacked.
    let refusing = Arc::new(Collect {
        fail_always: true,
        ..Default::default()
    });
    brokers
        .apply_source("m", config.clone(), refusing.clone())
        .await
        .unwrap();
    assert!(
        until(Duration::from_secs(5), || brokers
            .source_status("m")
            .is_some_and(|s| s.connected))
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    mqtt_publish(&[(format!("r{u}/a"), "keep me")]).await;
    assert!(
        until(Duration::from_secs(5), || refusing
            .calls
            .load(Ordering::SeqCst)
            >= 1)
        .await
    );
    assert!(
        brokers
            .source_status("m")
            .and_then(|s| s.last_error)
            .is_some_and(|e| e.contains("refuses"))
    );
    // Stop it before it could ack, then start it again on the same session.
    brokers.remove_source("m").await;
    let accepting = Arc::new(Collect::default());
    brokers
        .apply_source("m", config, accepting.clone())
        .await
        .unwrap();
    let events = accepting.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        events.len(),
        1,
        "the broker redelivered the unacked message"
    );
    assert_eq!(events[0].data.as_ref().unwrap()["payload"], "keep me");
    brokers.shutdown().await;
    mqtt_forget_session(&client_id).await;
}

#[tokio::test]
async fn publish_targets_reach_real_subscribers() {
    let u = unique();
    let brokers = Brokers::new();

    let nc = nats_client().await;
    let mut sub = nc.subscribe(format!("out{u}.orders")).await.unwrap();
    nc.flush().await.unwrap();
    let target = PublishTarget::parse(&json!({
        "type": "nats", "url": NATS, "subject": format!("out{u}.orders"), "headers": {"X-From": "cirrus"},
    }))
    .unwrap();
    for i in 0..3 {
        brokers
            .publish(&target, format!("n{i}").into())
            .await
            .unwrap();
    }
    for i in 0..3 {
        let m = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut sub),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(&m.payload[..], format!("n{i}").as_bytes());
        assert_eq!(
            m.headers
                .as_ref()
                .and_then(|h| h.get("X-From"))
                .map(|v| v.as_str()),
            Some("cirrus")
        );
    }

    let (client, task, mut rx) = mqtt_client(&format!("sub{u}")).await;
    client
        .subscribe(format!("out{u}/+"), rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for qos in [0, 1] {
        let target = PublishTarget::parse(&json!({
            "type": "mqtt", "url": MQTT, "topic": format!("out{u}/q{qos}"), "qos": qos, "retain": false,
        }))
        .unwrap();
        for i in 0..3 {
            brokers
                .publish(&target, format!("q{qos}-{i}").into())
                .await
                .unwrap();
        }
    }
    let mut got = Vec::new();
    while got.len() < 6 {
        let p = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the subscriber gets every message")
            .unwrap();
        got.push(String::from_utf8_lossy(&p.payload).into_owned());
    }
    got.sort();
    assert_eq!(got, ["q0-0", "q0-1", "q0-2", "q1-0", "q1-1", "q1-2"]);
    task.abort();
    brokers.shutdown().await;
}

/// A TCP listener that accepts connections and never says anything.
async fn silent_listener() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn brokers_that_do_not_answer_give_errors_not_hangs() {
    let brokers = Brokers::new();
    let (silent, task) = silent_listener().await;
    // A closed port and a server that never speaks, for both brokers.
    for url in ["nats://127.0.0.1:1".to_owned(), format!("nats://{silent}")] {
        let target =
            PublishTarget::parse(&json!({"type": "nats", "url": url, "subject": "x"})).unwrap();
        let start = Instant::now();
        let err = brokers.publish(&target, "x".into()).await.unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "{url}: took {:?}",
            start.elapsed()
        );
        assert!(
            matches!(
                err,
                BrokerError::Connect { .. } | BrokerError::Timeout { .. }
            ),
            "{url}: {err}"
        );
        assert!(err.to_string().contains(&url), "{err}");
    }
    for url in ["mqtt://127.0.0.1:1".to_owned(), format!("mqtt://{silent}")] {
        let target =
            PublishTarget::parse(&json!({"type": "mqtt", "url": url, "topic": "x", "qos": 1}))
                .unwrap();
        let start = Instant::now();
        let err = brokers.publish(&target, "x".into()).await.unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "{url}: took {:?}",
            start.elapsed()
        );
        assert!(err.to_string().contains(&url), "{err}");
    }
    for (name, config) in [
        (
            "n",
            json!({"type": "nats", "url": "nats://127.0.0.1:1", "subject": "x"}),
        ),
        (
            "m",
            json!({"type": "mqtt", "url": "mqtt://127.0.0.1:1", "topics": ["x"]}),
        ),
        (
            "ns",
            json!({"type": "nats", "url": format!("nats://{silent}"), "subject": "x"}),
        ),
        (
            "ms",
            json!({"type": "mqtt", "url": format!("mqtt://{silent}"), "topics": ["x"]}),
        ),
    ] {
        brokers
            .apply_source(name, source(config), Arc::new(Collect::default()))
            .await
            .unwrap();
    }
    for name in ["n", "m", "ns", "ms"] {
        assert!(
            until(Duration::from_secs(12), || brokers
                .source_status(name)
                .is_some_and(|s| !s.connected && s.last_error.is_some()))
            .await,
            "{name}: {:?}",
            brokers.source_status(name)
        );
    }
    let status = serde_json::to_value(brokers.source_status("n").unwrap()).unwrap();
    assert_eq!(status["connected"], false);
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1"),
        "{status}"
    );
    brokers.shutdown().await;
    task.abort();
    assert!(brokers.source_status("n").is_none());
}

/// A TCP proxy to a real broker that a test can cut (closing every connection and
/// refusing new ones) and restore on the same port: a broker restart, seen from a client.
struct Proxy {
    addr: std::net::SocketAddr,
    upstream: &'static str,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: &'static str) -> Proxy {
        let mut proxy = Proxy {
            addr: "127.0.0.1:0".parse().unwrap(),
            upstream,
            task: None,
        };
        proxy.restore().await;
        proxy
    }

    async fn restore(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        self.addr = listener.local_addr().unwrap();
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        }));
    }

    /// Aborting the accept loop drops the JoinSet, which aborts every connection.
    async fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

#[tokio::test]
async fn sources_reconnect_after_the_broker_goes_away() {
    let u = unique();
    let mut nats_proxy = Proxy::start("127.0.0.1:4222").await;
    let mut mqtt_proxy = Proxy::start("127.0.0.1:1883").await;
    let brokers = Brokers::new();
    let (ns, ms) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let client_id = format!("cirrus-rc{u}");
    let nats_config = source(json!({
        "type": "nats", "url": format!("nats://{}", nats_proxy.addr), "subject": format!("rc{u}"),
    }));
    let mqtt_config = source(json!({
        "type": "mqtt", "url": format!("mqtt://{}", mqtt_proxy.addr), "topics": [format!("rc{u}")],
        "client_id": client_id,
    }));
    brokers
        .apply_source("n", nats_config, ns.clone())
        .await
        .unwrap();
    brokers
        .apply_source("m", mqtt_config, ms.clone())
        .await
        .unwrap();
    let connected = |name: &str| brokers.source_status(name).is_some_and(|s| s.connected);
    assert!(until(Duration::from_secs(5), || connected("n") && connected("m")).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let nc = nats_client().await;
    nc.publish(format!("rc{u}"), "before".into()).await.unwrap();
    nc.flush().await.unwrap();
    mqtt_publish(&[(format!("rc{u}"), "before")]).await;
    assert_eq!(ns.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(ms.wait_for(1, Duration::from_secs(5)).await.len(), 1);

    nats_proxy.cut().await;
    mqtt_proxy.cut().await;
    assert!(
        until(Duration::from_secs(10), || !connected("n")
            && !connected("m"))
        .await,
        "{:?} {:?}",
        brokers.source_status("n"),
        brokers.source_status("m")
    );
    // Published while the MQTT source is away: its persistent session keeps it.
    mqtt_publish(&[(format!("rc{u}"), "while away")]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats_proxy.restore().await;
    mqtt_proxy.restore().await;
    assert!(
        until(Duration::from_secs(15), || connected("n") && connected("m")).await,
        "{:?} {:?}",
        brokers.source_status("n"),
        brokers.source_status("m")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    nc.publish(format!("rc{u}"), "after".into()).await.unwrap();
    nc.flush().await.unwrap();
    mqtt_publish(&[(format!("rc{u}"), "after")]).await;
    let payloads = |events: Vec<CloudEvent>| -> Vec<Value> {
        events
            .into_iter()
            .map(|e| e.data.unwrap()["payload"].clone())
            .collect()
    };
    assert_eq!(
        payloads(ns.wait_for(2, Duration::from_secs(5)).await),
        [json!("before"), json!("after")]
    );
    assert_eq!(
        payloads(ms.wait_for(3, Duration::from_secs(5)).await),
        [json!("before"), json!("while away"), json!("after")]
    );
    brokers.shutdown().await;
    mqtt_forget_session(&client_id).await;
}

//! Event matching throughput on one thread: one realistic EventBridge event against 1, 5,
//! 100 and 10,000 rules shaped like AWS's examples (source + detail-type + a detail
//! condition: numeric range, prefix, anything-but, nested exact values). The event matches
//! a few of them. `value` matches a parsed event; `text` includes parsing its JSON, as
//! Event Ruler's published figure (220,000 events/s with 5 rules) does.

use cirrus_events::{Pattern, RuleSet};
use divan::counter::ItemsCount;
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const SOURCES: [&str; 10] = [
    "com.shop.orders",
    "com.shop.payments",
    "com.shop.shipping",
    "com.shop.users",
    "aws.ec2",
    "aws.s3",
    "aws.health",
    "com.crm.leads",
    "com.crm.accounts",
    "com.iot.sensors",
];

const TYPES: [&str; 20] = [
    "Order Placed",
    "Order Cancelled",
    "Order Shipped",
    "Payment Captured",
    "Payment Failed",
    "Refund Issued",
    "User Signed Up",
    "User Deleted",
    "EC2 Instance State-change Notification",
    "Object Created",
    "Object Deleted",
    "AWS Health Event",
    "Lead Created",
    "Lead Converted",
    "Account Updated",
    "Reading Taken",
    "Threshold Crossed",
    "Device Offline",
    "Device Online",
    "Firmware Updated",
];

fn rule(i: usize) -> Pattern {
    let detail = match i % 4 {
        0 => json!({ "price": [{ "numeric": [">", (i % 50) as f64, "<=", 1000] }] }),
        1 => json!({
            "region": [{ "prefix": "eu-" }],
            "customer": { "tier": ["gold", "platinum"] }
        }),
        2 => json!({ "status": [{ "anything-but": ["cancelled", "failed"] }] }),
        _ => json!({ "customer": { "id": [{ "prefix": format!("c-{}", i % 7) }] } }),
    };
    let pattern = json!({
        "source": [SOURCES[i % SOURCES.len()]],
        "detail-type": [TYPES[(i / SOURCES.len()) % TYPES.len()]],
        "detail": detail,
    });
    Pattern::from_value(&pattern).expect("benchmark rules are valid")
}

fn event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Order Placed",
        "source": "com.shop.orders",
        "account": "111122223333",
        "time": "2026-11-27T10:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:shop:eu-west-1:111122223333:order/o-81723"],
        "detail": {
            "order-id": "o-81723",
            "price": 120.5,
            "currency": "EUR",
            "status": "placed",
            "region": "eu-west-1",
            "customer": { "id": "c-3-99812", "tier": "gold", "email": "ana@example.com" },
            "items": [
                { "sku": "SKU-1", "qty": 2, "price": 40.25 },
                { "sku": "SKU-7", "qty": 1, "price": 40.0 }
            ],
            "shipping": { "method": "express", "address": { "country": "PT", "city": "Lisboa" } }
        }
    })
}

fn rule_set(n: usize) -> RuleSet<usize> {
    let mut rules = RuleSet::new();
    for i in 0..n {
        rules.insert(i, rule(i));
    }
    rules
}

#[divan::bench(args = [1, 5, 100, 10_000])]
fn value(bencher: divan::Bencher, n: usize) {
    let rules = rule_set(n);
    let event = event();
    assert!(!rules.matching(&event).is_empty());
    bencher
        .counter(ItemsCount::new(1usize))
        .bench(|| rules.matching(divan::black_box(&event)));
}

#[divan::bench(args = [1, 5, 100, 10_000])]
fn text(bencher: divan::Bencher, n: usize) {
    let rules = rule_set(n);
    let text = event().to_string();
    bencher.counter(ItemsCount::new(1usize)).bench(|| {
        let event: Value = serde_json::from_str(divan::black_box(&text)).expect("valid JSON");
        rules.matching(&event)
    });
}

/// For comparison: checking each of the rules one by one, without the index.
#[divan::bench(args = [100, 10_000])]
fn linear(bencher: divan::Bencher, n: usize) {
    let patterns: Vec<Pattern> = (0..n).map(rule).collect();
    let event = event();
    bencher.counter(ItemsCount::new(1usize)).bench(|| {
        patterns
            .iter()
            .filter(|p| p.matches(divan::black_box(&event)))
            .count()
    });
}

//! The report, apart from the component plumbing so that `cargo test` runs it on the host.
//!
//! [`summarize`] takes `{"day", "currency", "orders": [{"orderId", "sku", "quantity",
//! "amount"}]}` (amounts in minor units) and answers `{"day", "currency", "orders",
//! "units", "revenue", "averageOrder", "top": [{"sku", "units", "revenue"}], "text"}` with
//! the three best-selling products by revenue and a one-paragraph summary.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// At most this many orders in one report.
pub const MAX_ORDERS: usize = 100_000;

/// Sums up a day of sales, or names the first problem in it.
pub fn summarize(sales: &Value) -> Result<Value, String> {
    let day = sales
        .get("day")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .ok_or("day: required, a date")?;
    let currency = sales
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or("EUR");
    let orders = sales
        .get("orders")
        .and_then(Value::as_array)
        .ok_or("orders: required, a list")?;
    if orders.len() > MAX_ORDERS {
        return Err(format!("orders: more than {MAX_ORDERS}"));
    }
    let mut by_sku: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let (mut units, mut revenue) = (0u64, 0u64);
    for (i, order) in orders.iter().enumerate() {
        let sku = order
            .get("sku")
            .and_then(Value::as_str)
            .ok_or(format!("orders[{i}].sku: required"))?;
        let quantity = order
            .get("quantity")
            .and_then(Value::as_u64)
            .ok_or(format!("orders[{i}].quantity: a whole number"))?;
        let amount = order
            .get("amount")
            .and_then(Value::as_u64)
            .ok_or(format!("orders[{i}].amount: a whole number of minor units"))?;
        let entry = by_sku.entry(sku).or_default();
        entry.0 = entry.0.saturating_add(quantity);
        entry.1 = entry.1.saturating_add(amount);
        units = units.saturating_add(quantity);
        revenue = revenue.saturating_add(amount);
    }
    let mut ranked: Vec<(&str, (u64, u64))> = by_sku.into_iter().collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
    let top: Vec<Value> = ranked
        .iter()
        .take(3)
        .map(|(sku, (units, revenue))| json!({ "sku": sku, "units": units, "revenue": revenue }))
        .collect();
    let average = revenue.checked_div(orders.len() as u64).unwrap_or(0);
    let best = match ranked.first() {
        Some((sku, (_, r))) => format!(" Best seller: {sku} ({} {currency}).", money(*r)),
        None => String::new(),
    };
    let text = format!(
        "Sales on {day}: {} order(s), {units} unit(s), {} {currency} (average {} {currency}).{best}",
        orders.len(),
        money(revenue),
        money(average),
    );
    Ok(json!({
        "day": day,
        "currency": currency,
        "orders": orders.len(),
        "units": units,
        "revenue": revenue,
        "averageOrder": average,
        "top": top,
        "text": text,
    }))
}

/// Minor units as `1,234.50`.
fn money(minor: u64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", minor % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_summed_and_ranked() {
        let sales = json!({ "day": "2026-11-26", "currency": "EUR", "orders": [
            { "orderId": "a", "sku": "MUG", "quantity": 2, "amount": 2400 },
            { "orderId": "b", "sku": "TEAPOT", "quantity": 1, "amount": 4900 },
            { "orderId": "c", "sku": "MUG", "quantity": 1, "amount": 1200 },
            { "orderId": "d", "sku": "TEA", "quantity": 3, "amount": 1350 }
        ]});
        let r = summarize(&sales).unwrap();
        assert_eq!(r["orders"], 4);
        assert_eq!(r["units"], 7);
        assert_eq!(r["revenue"], 9850);
        assert_eq!(r["averageOrder"], 2462);
        assert_eq!(r["top"][0]["sku"], "TEAPOT");
        assert_eq!(r["top"][1]["sku"], "MUG");
        assert_eq!(r["top"][1]["units"], 3);
        assert_eq!(
            r["text"],
            "Sales on 2026-11-26: 4 order(s), 7 unit(s), 98.50 EUR (average 24.62 EUR). Best seller: TEAPOT (49.00 EUR)."
        );
    }

    #[test]
    fn an_empty_day_is_a_report_too() {
        let r = summarize(&json!({ "day": "2026-11-26", "orders": [] })).unwrap();
        assert_eq!(r["revenue"], 0);
        assert_eq!(r["top"], json!([]));
    }

    #[test]
    fn problems_name_the_order_and_field() {
        let bad = json!({ "day": "d", "orders": [{ "sku": "A", "quantity": 1, "amount": 1 }, { "sku": "B", "quantity": -1, "amount": 1 }] });
        assert_eq!(
            summarize(&bad).unwrap_err(),
            "orders[1].quantity: a whole number"
        );
        assert_eq!(
            summarize(&json!({ "orders": [] })).unwrap_err(),
            "day: required, a date"
        );
    }

    #[test]
    fn money_is_grouped() {
        assert_eq!(money(123_456_789), "1,234,567.89");
        assert_eq!(money(5), "0.05");
    }
}

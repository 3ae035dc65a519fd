//! The order rules, apart from the component plumbing so that `cargo test` runs them on
//! the host.
//!
//! An order is `{"orderId", "customer": {"name"?, "email"}, "items": [{"sku", "quantity",
//! "price"}], "currency", "card"}`. [`check`] answers the same order, normalized (card
//! digits only, currency upper case), with `total` in minor units (cents) and `itemCount`,
//! or the first problem, naming the field (`items[1].quantity: ...`).

use serde_json::{Map, Value, json};

/// At most this many lines in one order.
pub const MAX_ITEMS: usize = 100;
/// At most this many of one item.
pub const MAX_QUANTITY: u64 = 1000;

/// Checks and prices an order.
pub fn check(order: &Value) -> Result<Value, String> {
    let order = order.as_object().ok_or("the order must be a JSON object")?;
    let id = text(order, "orderId", 64)?;
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "orderId: '{id}' may hold only letters, digits, '-' and '_'"
        ));
    }
    let customer = order
        .get("customer")
        .and_then(Value::as_object)
        .ok_or("customer: required, an object with an email")?;
    let email = text(customer, "email", 254).map_err(|e| format!("customer.{e}"))?;
    match email.split_once('@') {
        Some((user, domain)) if !user.is_empty() && domain.contains('.') => {}
        _ => return Err(format!("customer.email: '{email}' is not an email address")),
    }
    let name = match customer.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= 200 => s.clone(),
        Some(_) => return Err("customer.name: must be text of at most 200 characters".into()),
    };
    let currency = text(order, "currency", 3)?.to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "currency: '{currency}' is not a three-letter code such as EUR"
        ));
    }
    let card: String = text(order, "card", 40)?
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .collect();
    if !(12..=19).contains(&card.len()) || !card.chars().all(|c| c.is_ascii_digit()) {
        return Err("card: must be 12 to 19 digits".into());
    }
    let items = order
        .get("items")
        .and_then(Value::as_array)
        .ok_or("items: required, a list of {sku, quantity, price}")?;
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(format!("items: must hold 1 to {MAX_ITEMS} lines"));
    }
    let mut total: u64 = 0;
    let mut count: u64 = 0;
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (line, cents, quantity) = check_item(item).map_err(|e| format!("items[{i}].{e}"))?;
        total = cents
            .checked_mul(quantity)
            .and_then(|c| total.checked_add(c))
            .ok_or_else(|| format!("items[{i}]: the order's total is too large"))?;
        count += quantity;
        lines.push(line);
    }
    Ok(json!({
        "orderId": id,
        "customer": { "name": name, "email": email },
        "items": lines,
        "currency": currency,
        "card": card,
        "total": total,
        "itemCount": count,
    }))
}

/// One line: the line as kept, its unit price in cents, its quantity.
fn check_item(item: &Value) -> Result<(Value, u64, u64), String> {
    let item = item
        .as_object()
        .ok_or(": must be an object {sku, quantity, price}")?;
    let sku = text(item, "sku", 40)?;
    let quantity = item
        .get("quantity")
        .and_then(Value::as_u64)
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or(format!(
            "quantity: must be a whole number from 1 to {MAX_QUANTITY}"
        ))?;
    let price = item
        .get("price")
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite() && *p >= 0.0 && *p <= 1_000_000.0)
        .ok_or("price: must be a number from 0 to 1000000")?;
    let cents = (price * 100.0).round();
    if (cents - price * 100.0).abs() > 1e-6 {
        return Err(format!("price: {price} has more than two decimals"));
    }
    let cents = cents as u64;
    Ok((
        json!({ "sku": sku, "quantity": quantity, "price": price }),
        cents,
        quantity,
    ))
}

/// A required, non-empty string field of at most `max` characters.
fn text(object: &Map<String, Value>, field: &str, max: usize) -> Result<String, String> {
    match object.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Ok(s.trim().to_owned())
        }
        Some(Value::String(_)) => Err(format!(
            "{field}: must be non-empty text of at most {max} characters"
        )),
        Some(other) => Err(format!("{field}: must be text, not {}", kind(other))),
        None => Err(format!("{field}: required")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Value {
        json!({
            "orderId": "o-1001",
            "customer": { "name": "Ada", "email": "ada@example.com" },
            "items": [
                { "sku": "TEA-GREEN", "quantity": 2, "price": 4.5 },
                { "sku": "MUG", "quantity": 1, "price": 12 }
            ],
            "currency": "eur",
            "card": "4242 4242 4242 4242"
        })
    }

    #[test]
    fn a_good_order_is_priced_in_cents() {
        let checked = check(&order()).unwrap();
        assert_eq!(checked["total"], 2100);
        assert_eq!(checked["itemCount"], 3);
        assert_eq!(checked["currency"], "EUR");
        assert_eq!(checked["card"], "4242424242424242");
    }

    #[test]
    fn problems_name_the_field() {
        let cases = [
            ("/items/1/quantity", json!(0), "items[1].quantity:"),
            ("/items/0/price", json!(1.234), "items[0].price:"),
            ("/items/0/sku", json!(""), "items[0].sku:"),
            ("/customer/email", json!("nobody"), "customer.email:"),
            ("/currency", json!("EURO"), "currency:"),
            ("/card", json!("1234"), "card:"),
            ("/orderId", json!("o 1"), "orderId:"),
            ("/items", json!([]), "items:"),
        ];
        for (pointer, value, expected) in cases {
            let mut o = order();
            *o.pointer_mut(pointer).unwrap() = value;
            let err = check(&o).unwrap_err();
            assert!(err.starts_with(expected), "{pointer}: {err}");
        }
        assert_eq!(
            check(&json!([])).unwrap_err(),
            "the order must be a JSON object"
        );
        let mut o = order();
        o.as_object_mut().unwrap().remove("customer");
        assert!(check(&o).unwrap_err().starts_with("customer:"));
    }

    #[test]
    fn huge_totals_are_refused_not_wrapped() {
        let mut o = order();
        let line = json!({ "sku": "GOLD", "quantity": 1000, "price": 1_000_000 });
        o["items"] = Value::Array(vec![line; 100]);
        // 100 × 1000 × 100,000,000 cents fits in u64; the check is that it is computed.
        assert_eq!(check(&o).unwrap()["total"], 10_000_000_000_000u64);
    }
}

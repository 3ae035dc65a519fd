//! Paths end to end: the cases recorded on AWS, Jayway 2.0's quirks and messages, and
//! hostile input.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::*;

fn store() -> Value {
    json!({
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        },
        "a.b": 1,
        "n": [0, 1, 2, 3, 4, 5]
    })
}

fn eval_on(path: &str, doc: &Value) -> Result<Value, PathError> {
    JsonPath::parse(path)
        .unwrap()
        .eval(doc)
        .map(Cow::into_owned)
}

fn eval(path: &str) -> Value {
    eval_on(path, &store()).unwrap()
}

fn fail(path: &str, doc: Value) -> String {
    eval_on(path, &doc).unwrap_err().to_string()
}

#[test]
fn cases_recorded_on_aws() {
    let users = json!({"users": [{"year": 1997, "status": 0}, {"year": 1998, "status": 1}]});
    assert_eq!(
        eval_on("$.users[?(@.status == 0)]", &users).unwrap(),
        json!([{"year": 1997, "status": 0}])
    );
    let items = json!({"items": (0..11).map(|k| json!({"item_key": k})).collect::<Vec<_>>()});
    assert_eq!(
        eval_on("$.items[10]", &items).unwrap(),
        json!({"item_key": 10})
    );
    for p in [
        "$[*]",
        "$.item.items[*]",
        "$.item.items[1:]",
        "$.item.items[:1]",
        "$.item.items[1:5]",
        "$.items[*].itemValue",
        "$.items[1:].itemValue",
        "$.item.items[1:5].itemValue",
    ] {
        assert_eq!(eval_on(p, &json!({})).unwrap(), json!([]), "{p}");
    }
    let odd = json!({"Test\\\"\"Name\"": "Value\"\\"});
    assert_eq!(
        eval_on(r#"$['Test\""Name"']"#, &odd).unwrap(),
        json!("Value\"\\")
    );
    assert_eq!(
        fail("$.NoSuchInputPath", json!({"int-literal": 0})),
        "No results for path: $['NoSuchInputPath']"
    );
    assert_eq!(
        fail("$.no.such.result.path", json!({"int-literal": 0})),
        "Missing property in path $['no']"
    );
    // Reported on AWS: a negative index fails, `(@.length-1)` works; a union of names as
    // the last segment gives an object, before more segments it fails.
    let arr = json!({"array": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(
        fail("$.array[-1].name", arr.clone()),
        "Index out of bounds when evaluating path $['array'][-1]"
    );
    assert_eq!(
        eval_on("$.array[(@.length-1)]", &arr).unwrap(),
        json!({"name": "b"})
    );
    let abc = json!({"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}});
    assert_eq!(
        eval_on("$['a', 'b']", &abc).unwrap(),
        json!({"a": {"v": 1}, "b": {"v": 2}})
    );
    assert_eq!(
        fail("$['a', 'b'].v", abc),
        "Multi properties can only be used as path leafs: $['a', 'b']"
    );
}

#[test]
fn definite_paths_borrow() {
    let d = store();
    let p = JsonPath::parse("$.store.book[1].title").unwrap();
    assert!(p.is_definite());
    assert!(matches!(p.eval(&d), Ok(Cow::Borrowed(v)) if v == "Sword"));
    assert_eq!(eval("$['store']['bicycle'].color"), json!("red"));
    assert_eq!(eval("$['a.b']"), json!(1));
    assert_eq!(eval("$"), store());
    assert_eq!(eval("$.n[(@.size()-2)]"), json!(4));
    assert!(JsonPath::parse("$['a','b']").unwrap().is_definite());
    assert!(!JsonPath::parse("$.a[*]").unwrap().is_definite());
    assert!(!JsonPath::parse("$.a[0,1]").unwrap().is_definite());
}

#[test]
fn jayway_messages() {
    assert_eq!(
        fail("$.a.b", json!({"a": {}})),
        "No results for path: $['a']['b']"
    );
    assert_eq!(
        fail("$.a.b", json!({"a": "text"})),
        "Property ['b'] not found in path $['a']"
    );
    assert_eq!(
        fail("$.a[0]", json!({"a": {"b": 1}})),
        "Filter: [0] can only be applied to arrays. Current context is: {\"b\":1}"
    );
    assert_eq!(
        fail("$.a[0].x", json!({"a": "s"})),
        "Filter: [0]['x'] can only be applied to arrays. Current context is: s"
    );
    assert_eq!(
        fail("$.a[0]", json!({"a": null})),
        "The path $['a'] is null"
    );
    assert_eq!(
        fail("$.n[6]", store()),
        "Index out of bounds when evaluating path $['n'][6]"
    );
    assert_eq!(
        fail("$.a[?(@.x)]", json!({"a": 5})),
        "Filter: [?] can not be applied to primitives. Current context is: 5"
    );
    assert_eq!(
        fail("$.a[(@.length-1)]", json!({"a": []})),
        "Index out of bounds when evaluating path $['a'][-1]"
    );
}

#[test]
fn indefinite_paths() {
    assert_eq!(
        eval("$.store.book[*].author"),
        json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville"])
    );
    assert_eq!(
        eval("$..author"),
        json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville"])
    );
    assert_eq!(eval("$..isbn"), json!(["0-553"]));
    assert_eq!(eval("$.store..price"), json!([8.95, 12.99, 8.99, 19.95]));
    assert_eq!(eval("$..book[2].title"), json!(["Moby Dick"]));
    assert_eq!(
        eval("$.store.book[?(@.price < 10)].title"),
        json!(["Sayings", "Moby Dick"])
    );
    assert_eq!(eval("$.store.book[?(@.isbn)].title"), json!(["Moby Dick"]));
    assert_eq!(
        eval("$.store.book[?(@.category == 'fiction' && @.price > 10)].title"),
        json!(["Sword"])
    );
    assert_eq!(eval("$..book[?(@.price > 12)].price"), json!([12.99]));
    assert_eq!(eval("$.n[1:3]"), json!([1, 2]));
    assert_eq!(eval("$.n[-2:]"), json!([4, 5]));
    assert_eq!(eval("$.n[:-4]"), json!([0, 1]));
    assert_eq!(eval("$.n[4:99]"), json!([4, 5]));
    assert_eq!(eval("$.n[3:1]"), json!([]));
    assert_eq!(eval("$.n[0,2]"), json!([0, 2]));
    assert_eq!(eval("$.store.bicycle.*"), json!(["red", 19.95]));
    assert_eq!(eval("$.store.bicycle[*]"), json!(["red", 19.95]));
    assert_eq!(eval("$.nothing[*]"), json!([]));
    // A filter on an object tests the object itself.
    assert_eq!(
        eval("$.store.bicycle[?(@.color == 'red')]"),
        json!([{"color": "red", "price": 19.95}])
    );
    assert_eq!(eval("$.store.bicycle[?(@.color == 'blue')]"), json!([]));
    // `@` matches objects only.
    assert_eq!(eval("$.n[?(@ > 2)]"), json!([]));
    // `..*`: the children of each node, then each child's, depth first.
    let d = json!({"a": {"b": 1}, "c": [2, {"d": 3}]});
    assert_eq!(
        eval_on("$..*", &d).unwrap(),
        json!([{"b": 1}, [2, {"d": 3}], 1, 2, {"d": 3}, 3])
    );
}

#[test]
fn failures_inside_indefinite_paths() {
    // A wildcard over an array skips elements that fail; other constructs do not.
    let d = json!({"l": [{"x": 1}, {"y": 2}, 3], "o": {"a": {"x": 1}, "b": {"y": 2}}});
    assert_eq!(eval_on("$.l[*].x", &d).unwrap(), json!([1]));
    assert_eq!(
        eval_on("$.o.*.x", &d).unwrap_err().to_string(),
        "No results for path: $['o']['b']['x']"
    );
    assert_eq!(
        eval_on("$.l[0:2].x", &d).unwrap_err().to_string(),
        "No results for path: $['l'][1]['x']"
    );
    assert_eq!(
        eval_on("$.l[0,7]", &d).unwrap_err().to_string(),
        "Index out of bounds when evaluating path $['l'][7]"
    );
    assert_eq!(
        eval_on("$.l[-1:2]", &d).unwrap_err().to_string(),
        "Index out of bounds when evaluating path $['l'][-1]"
    );
    // A missing member before an indefinite segment selects nothing.
    assert_eq!(eval_on("$.nope.x[*]", &d).unwrap(), json!([]));
}

#[test]
fn normalized_forms() {
    for (text, norm) in [
        ("$", "$"),
        ("$.a.b[0]", "$['a']['b'][0]"),
        ("$['a']..b[*]", "$['a']..['b'][*]"),
        ("$.a[1:]", "$['a'][1:]"),
        ("$.a[:2]", "$['a'][:2]"),
        ("$.a[1:2]", "$['a'][1:2]"),
        ("$.a[0,1]", "$['a'][0,1]"),
        ("$.a[?(@.b == 1)].c", "$['a'][?]['c']"),
        ("$['a','b']", "$['a', 'b']"),
        ("$.a[(@.length-3)]", "$['a'][@.size()-3]"),
    ] {
        assert_eq!(JsonPath::parse(text).unwrap().normalized(), norm, "{text}");
    }
}

#[test]
fn references_read_their_source() {
    let d = store();
    let ctx = json!({"Execution": {"Id": "arn", "Input": {"k": 1}}});
    let vars: Map<String, Value> = Map::from_iter([
        ("myVar".to_string(), json!({"items": [7, 8]})),
        ("_x1".to_string(), json!(3)),
    ]);
    let scope = Scope {
        input: &d,
        context: &ctx,
        variables: &vars,
    };
    let r = |t: &str| {
        Reference::parse(t)
            .unwrap()
            .eval(&scope)
            .map(Cow::into_owned)
    };
    assert_eq!(r("$$.Execution.Id").unwrap(), json!("arn"));
    assert_eq!(r("$$").unwrap(), ctx);
    assert_eq!(r("$$['Execution'].Input.k").unwrap(), json!(1));
    assert_eq!(r("$myVar.items[1]").unwrap(), json!(8));
    assert_eq!(r("$myVar.items[*]").unwrap(), json!([7, 8]));
    assert_eq!(r("$myVar").unwrap(), json!({"items": [7, 8]}));
    assert_eq!(r("$_x1").unwrap(), json!(3));
    assert_eq!(r("$.store.bicycle.color").unwrap(), json!("red"));
    assert_eq!(
        r("$.a.b").unwrap_err(),
        PathError::MissingProperty("$['a']".into())
    );
    assert_eq!(
        r("$nope").unwrap_err().to_string(),
        "The variable 'nope' is not defined"
    );
    assert_eq!(
        r("$myVar.nope").unwrap_err().to_string(),
        "No results for path: $['nope']"
    );
    let reference = Reference::parse("$myVar.x").unwrap();
    assert_eq!(reference.source(), &Source::Variable("myVar".into()));
    assert_eq!(reference.path().text(), "$.x");
    assert_eq!(reference.text(), "$myVar.x");
    assert_eq!(Reference::parse("$$.a").unwrap().source(), &Source::Context);
    assert_eq!(Reference::parse("$[0]").unwrap().source(), &Source::Input);
    for bad in ["$1x", "$my-var", "$$x", "x", "", "$v.", "$v x"] {
        assert!(Reference::parse(bad).is_err(), "{bad}");
    }
    // The variable traits.
    let hm: HashMap<String, Value> = HashMap::from([("v".to_string(), json!(1))]);
    assert_eq!(Variables::get(&hm, "v"), Some(&json!(1)));
    assert_eq!(NoVariables.get("v"), None);
    let mut seen = 0;
    vars.visit(&mut |_, _| seen += 1);
    assert_eq!(seen, 2);
}

#[test]
fn recursive_descent_survives_deep_documents() {
    // Deeper than serde_json parses (128), as values built at run time can be. (Cloning
    // such values recurses in serde_json itself, so the walk is checked without cloning.)
    let mut v = json!(1);
    for _ in 0..1000 {
        v = Value::Object(Map::from_iter([("k".to_string(), Value::Array(vec![v]))]));
    }
    let p = JsonPath::parse("$..k[0]").unwrap();
    let found = eval::run(&p.tokens, p.definite_from, &v, p.text()).unwrap();
    assert_eq!(found.len(), 1000);
    assert_eq!(found.last().map(|v| v.as_ref()), Some(&json!(1)));
}

#[test]
fn explosive_paths_stop() {
    let chain = |depth: usize| {
        let mut v = json!([]);
        for _ in 0..depth {
            v = Value::Array(vec![v, json!(1)]);
        }
        v
    };
    // Too many steps.
    let e = JsonPath::parse("$..*..*..*")
        .unwrap()
        .eval(&chain(300))
        .unwrap_err();
    assert_eq!(e.to_string(), "The path $..*..*..* selects too many values");
    // Few steps, but too much to copy out.
    let e = JsonPath::parse("$..*..*")
        .unwrap()
        .eval(&chain(400))
        .unwrap_err();
    assert_eq!(e.to_string(), "The path $..*..* selects too many values");
    assert!(JsonPath::parse("$..*..*").unwrap().eval(&chain(50)).is_ok());
}

#[test]
fn nasty_texts_never_panic() {
    let doc = json!({"a": {"b": [1, 2, {"c": "x"}], "d": null}, "s": "text", "n": -3.5, "e": {}});
    let pieces = [
        "$",
        "$$",
        ".",
        "..",
        "[",
        "]",
        "'",
        "\"",
        "\\",
        "*",
        "?",
        "(",
        ")",
        "@",
        "!",
        "=",
        "<",
        ">",
        "&&",
        "||",
        ",",
        ":",
        "-",
        "0",
        "1",
        "-1",
        "a",
        "b",
        "c",
        " ",
        "é",
        "\u{0}",
        "[?(",
        ")]",
        "@.length",
        "['",
        "']",
        "[0]",
        "[*]",
        "[:",
        "99999999999",
    ];
    let vars = NoVariables;
    let scope = Scope {
        input: &doc,
        context: &doc,
        variables: &vars,
    };
    let mut seed = 7u64;
    for _ in 0..20_000 {
        let mut text = String::from("$");
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (seed >> 60) as usize;
        for k in 0..len {
            let pick = (seed >> (k * 5 % 55)) as usize % pieces.len();
            text.push_str(pieces[pick]);
        }
        if let Ok(r) = Reference::parse(&text) {
            let _ = r.eval(&scope);
            let _ = r.path().normalized();
        }
        if let Ok(p) = ResultPath::parse(&text) {
            let _ = p.apply(doc.clone(), json!(1));
        }
    }
    for text in [
        "$[?(@.a == '\\')]",
        "$[?(@.a == ')]",
        "$[?(']')]",
        "$[?(@[?(@)])]",
        "$..[?(@)]..[0]",
        "$[(@.length-99999999999)]",
        "$['\u{1F600}']",
        "$[?(@.b[-1] > 0)]",
        "$[?(@ == @)]",
    ] {
        let _ = JsonPath::parse(text).map(|p| p.eval(&doc));
    }
    let deep = format!("$[?({}@.a{})]", "(".repeat(10_000), ")".repeat(10_000));
    let _ = JsonPath::parse(&deep).map(|p| p.eval(&doc));
    let deep = format!("$[?({}@.a)]", "!".repeat(10_000));
    assert!(JsonPath::parse(&deep).is_err());
}

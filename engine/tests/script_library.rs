//! The built-in library: every doc example in Rhai and JavaScript, differential edge cases, and
//! the generated reference page.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use starweave_engine::script::js::{JsPool, JsPoolConfig};
use starweave_engine::script::library::{self, Library, example_clock};
use starweave_engine::script::reference;
use starweave_engine::script::rhai::{RhaiEngine, RhaiLimits};
use starweave_engine::script::{RunControl, ScriptError};

fn engines() -> (RhaiEngine, JsPool) {
    let library = Library::new(Arc::new(example_clock()));
    let rhai = RhaiEngine::new(library.clone(), RhaiLimits::default());
    let js = JsPool::new(JsPoolConfig {
        workers: 1,
        library,
        ..JsPoolConfig::default()
    });
    (rhai, js)
}

fn control() -> RunControl {
    RunControl::with_timeout(Duration::from_secs(20))
}

fn eval_rhai(rhai: &RhaiEngine, expression: &str) -> Result<Value, ScriptError> {
    let ast = rhai.compile_expression(expression)?;
    rhai.eval_expression(&ast, &Map::new(), &control())
}

async fn eval_js(js: &JsPool, expression: &str) -> Result<Value, ScriptError> {
    js.eval_expression(&reference::example_as_js(expression), json!({}), &control())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_gives_its_documented_result_in_rhai_and_javascript() {
    let (rhai, js) = engines();
    let mut failures = Vec::new();
    for builtin in library::builtins() {
        let expected: Value = serde_json::from_str(builtin.example_result)
            .unwrap_or_else(|err| panic!("{}: bad example_result: {err}", builtin.name));
        let expected = library::normalize(expected);
        let from_rhai = eval_rhai(&rhai, builtin.example);
        let from_js = eval_js(&js, builtin.example).await;
        if from_rhai.as_ref() != Ok(&expected) {
            failures.push(format!(
                "{} in Rhai: {from_rhai:?}, expected {expected}",
                builtin.name
            ));
        }
        if from_js.as_ref() != Ok(&expected) {
            failures.push(format!(
                "{} in JavaScript ({}): {from_js:?}, expected {expected}",
                builtin.name,
                reference::example_as_js(builtin.example)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_builtin_has_a_doc_entry_whose_example_uses_it() {
    let mut names = std::collections::BTreeSet::new();
    for builtin in library::builtins() {
        assert!(
            names.insert(builtin.name),
            "{} is defined twice",
            builtin.name
        );
        assert!(
            builtin.example.contains(builtin.name),
            "{}'s example does not call it",
            builtin.name
        );
        assert!(
            builtin.description.ends_with('.'),
            "{}: description is a sentence",
            builtin.name
        );
        assert!(
            builtin.signature.starts_with(builtin.name),
            "{}: signature",
            builtin.name
        );
    }
    assert!(names.len() >= 60, "only {} built-ins", names.len());
}

/// Edge inputs: both languages must agree, on the value or on failing.
const DIFFERENTIAL_CASES: &[&str] = &[
    // Unicode and empty text.
    r#"upper("ǆemal ß ﬁ")"#,
    r#"lower("ΣΑΣ")"#,
    r#"len("👩‍👩‍👧")"#,
    r#"substring("日本語テキスト", -3)"#,
    r#"substring("", 0, 5)"#,
    r#"substring("abc", 5)"#,
    r#"split("", ",")"#,
    r#"split("añb", "")"#,
    r#"pad_start("é", 3, "ab")"#,
    r#"pad_end("x", -1)"#,
    r#"trim("\u00a0 x \t")"#,
    r#"join([], ",")"#,
    r#"replace("", "a", "b")"#,
    r#"replace("aaa", "", "b")"#,
    r#"format("{0}{1}", ["a"])"#,
    r#"format("{{}} {a.b}", #{a: #{b: [1, 2]}})"#,
    r#"base64_encode("")"#,
    r#"base64_decode("not base64!")"#,
    r#"sha256("日本")"#,
    r#"hex_decode("ff")"#,
    r#"find_all("", "a*")"#,
    r#"matches("x", "(")"#,
    r#"replace_regex("ÄÖÜ", "\\p{Lu}", "_")"#,
    // Negative numbers and decimals.
    "round(-0.5)",
    "round(-1.005, 2)",
    "round(1e20, 2)",
    "floor(-0.0)",
    "abs(-9007199254740991)",
    "min([])",
    "max(-1, -2)",
    r#"parse_int("-0")"#,
    r#"parse_float("-.5")"#,
    r#"parse_float("")"#,
    r#"decimal_add("-0.1", "0.1")"#,
    r#"decimal_mul("-1.5", "-1.5")"#,
    r#"decimal_div("1", "0")"#,
    r#"decimal_div("-7", "2")"#,
    r#"decimal_round("-0.005", 2)"#,
    r#"decimal_add("x", "1")"#,
    "format_number(-0.004, 2)",
    "format_number(999.999, 2)",
    "sum([])",
    "avg([-1, 1])",
    "sum([0.1, 0.2])",
    // Time zones and DST.
    r#"date_add("2024-03-10T01:30:00-05:00", 1, "hours", "America/New_York")"#,
    r#"date_add("2024-03-09T02:30:00-05:00", 1, "days", "America/New_York")"#,
    r#"date_add("2024-11-02T01:30:00-04:00", 1, "days", "America/New_York")"#,
    r#"date_add("2024-10-26T12:00:00+02:00", 1, "days", "Europe/Berlin")"#,
    r#"date_add("2024-01-31T00:00:00Z", 1, "months")"#,
    r#"date_add("2024-02-29T00:00:00Z", 1, "years")"#,
    r#"date_sub("2024-03-31T00:00:00Z", -2, "weeks")"#,
    r#"date_add("2024-01-01T00:00:00Z", 1, "fortnights")"#,
    r#"date_diff("2024-03-10T12:00:00Z", "2024-03-01T00:00:00Z", "days")"#,
    r#"date_diff("2024-03-09T12:00:00-05:00", "2024-03-10T12:00:00-04:00", "hours")"#,
    r#"start_of_day("2024-03-10T12:00:00-04:00", "America/New_York")"#,
    r#"start_of_day("2024-11-03T23:00:00-05:00", "America/New_York")"#,
    r#"start_of_day("2024-03-10T12:00:00+14:00")"#,
    r#"to_timezone("2024-03-31T00:59:59Z", "Europe/London")"#,
    r#"to_timezone("2024-03-31T01:00:00Z", "Europe/London")"#,
    r#"to_timezone("2024-03-31T01:00:00Z", "Mars/Olympus")"#,
    r#"format_date("2024-03-31T01:00:00Z", "%Y-%m-%d %H:%M %z", "Australia/Lord_Howe")"#,
    r#"format_date("2024-03-31T01:00:00Z", "%Q")"#,
    r#"parse_date("2024-03-10 02:30", "%Y-%m-%d %H:%M", "America/New_York")"#,
    r#"parse_date("2024-11-03 01:30", "%Y-%m-%d %H:%M", "America/New_York")"#,
    r#"parse_date("31/12/1999", "%d/%m/%Y")"#,
    r#"parse_date("yesterday")"#,
    r#"weekday("2024-12-31T23:30:00-01:00")"#,
    r#"unix_seconds("1969-12-31T23:59:59Z")"#,
    "from_unix_seconds(-1)",
    // Collections.
    "sort([])",
    r#"sort([true, false, 2, -1, [1], #{}, "", ()])"#,
    r#"sort_by([#{a: 2}, #{}, #{a: -1}], "a")"#,
    r#"unique([[1], [1], #{a: 1}, #{a: 1}])"#,
    r#"group_by([#{k: 1}, #{k: "1"}, #{}], "k")"#,
    r#"pluck([], "a")"#,
    "flatten([[], [[]]])",
    "chunk([], 3)",
    "chunk([1], 0)",
    "zip([], [1])",
    "merge(#{}, #{})",
    r#"merge(#{a: #{b: 1}}, #{a: 2})"#,
    r#"get([10, [20, 30]], "[1][0]")"#,
    r#"get(#{a: 1}, "a.b.c")"#,
    r#"get(#{a: 1}, "a[")"#,
    r#"keys(#{})"#,
    r#"contains([1, "1"], "1")"#,
    r#"contains("ab", 1)"#,
    r#"len(5)"#,
    r#"parse_json("[1, 2.0, -0, 1e400]")"#,
    r#"parse_json("")"#,
    r#"to_json(#{s: "é\n", n: (), f: 1.5}, true)"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_and_javascript_agree_on_edge_inputs() {
    let (rhai, js) = engines();
    let mut disagreements = Vec::new();
    for case in DIFFERENTIAL_CASES {
        let from_rhai = eval_rhai(&rhai, case);
        let from_js = eval_js(&js, case).await;
        let agree = match (&from_rhai, &from_js) {
            (Ok(a), Ok(b)) => a == b,
            // Both fail; the messages come from the same Rust function.
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!(
                "{case}\n  Rhai: {from_rhai:?}\n  JS:   {from_js:?}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Text built from request data is bounded before it is built: a replacement, a join, a
/// regex replacement or a template past 16 MiB is an error, not an allocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_past_the_limit_are_refused_before_they_are_built() {
    let (rhai, js) = engines();
    let big = r#"pad_start("", 1000000, "{x}")"#;
    let wide = r#"pad_start("", 1000, "y")"#;
    for expression in [
        format!(r#"replace({big}, "{{x}}", {wide})"#),
        format!(r#"replace_regex({big}, "x", {wide})"#),
        // Twenty items, joined by a megabyte each.
        r#"join(split(pad_start("", 40, "a,"), ","), pad_start("", 1000000, "y"))"#.to_owned(),
    ] {
        let from_rhai = eval_rhai(&rhai, &expression).unwrap_err();
        let from_js = eval_js(&js, &expression).await.unwrap_err();
        for err in [from_rhai, from_js] {
            assert!(
                err.to_string().contains("texts are limited to 16777216"),
                "{expression}: {err}"
            );
        }
    }
    // Under the limit, the same calls answer.
    assert_eq!(
        eval_rhai(&rhai, r#"replace("a{x}b", "{x}", "yy")"#).unwrap(),
        json!("ayyb")
    );
}

/// Dates at the edges of the calendar are errors, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_past_the_calendar_are_errors() {
    let (rhai, js) = engines();
    for expression in [
        r#"date_add(now(), 200000000000, "days")"#,
        r#"date_add(now(), 20000000000, "weeks")"#,
        r#"parse_date("+262142-12-31 23:50", "%Y-%m-%d %H:%M", "America/New_York")"#,
    ] {
        // (A panic in a built-in would fail this test before any answer.)
        let from_rhai = eval_rhai(&rhai, expression);
        let from_js = eval_js(&js, expression).await;
        assert!(from_rhai.is_err(), "{expression}: {from_rhai:?}");
        assert!(from_js.is_err(), "{expression}: {from_js:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_compares_objects_whatever_their_key_order() {
    let (rhai, js) = engines();
    let expression = r#"unique([#{a: 1, b: [2, 3]}, #{b: [2, 3], a: 1}, "x", "x", #{a: 2}])"#;
    let expected = json!([{"a": 1, "b": [2, 3]}, "x", {"a": 2}]);
    assert_eq!(eval_rhai(&rhai, expression).unwrap(), expected);
    assert_eq!(eval_js(&js, expression).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_errors_name_the_builtin_in_both_languages() {
    let (rhai, js) = engines();
    let from_rhai = eval_rhai(&rhai, r#"decimal_div("1", "0")"#).unwrap_err();
    let from_js = eval_js(&js, r#"decimal_div("1", "0")"#).await.unwrap_err();
    for err in [from_rhai, from_js] {
        assert!(
            err.to_string().contains("decimal_div: division by zero"),
            "{err}"
        );
    }
}

#[test]
fn committed_reference_page_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/expressions.md");
    let generated = reference::markdown();
    if std::env::var_os("STARWEAVE_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write docs/expressions.md");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/expressions.md is stale: regenerate it with `STARWEAVE_BLESS=1 cargo test -p \
         starweave-engine --test script_library` (or `script::reference::markdown()` from xtask)"
    );
}

#[test]
fn reference_json_lists_every_builtin() {
    let json = reference::json();
    let entries = json.as_array().expect("an array");
    assert_eq!(entries.len(), library::builtins().count());
    let sha = entries
        .iter()
        .find(|e| e["name"] == "sha256")
        .expect("sha256");
    assert_eq!(sha["category"], "hashes");
    assert_eq!(sha["signature"], "sha256(text) -> string");
}

#[test]
fn examples_translate_to_javascript() {
    assert_eq!(
        reference::example_as_js(r#"[len("upper("), #{a: upper("x")}.a, "x".upper(), ()]"#),
        r#"[sw.len("upper("), {a: sw.upper("x")}.a, "x".upper(), null]"#
    );
}

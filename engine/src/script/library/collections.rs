//! Arrays and objects.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::text::display;
use super::{Builtin, Category, array_arg, int_arg, number, object_arg, str_arg, type_name};

pub(super) static COLLECTIONS: &[Builtin] = &[
    Builtin {
        name: "len",
        category: Category::Collections,
        signature: "len(text | array | object) -> number",
        description: "Characters in text, items in an array, or keys in an object.",
        example: r#"[len("héllo"), len([1, 2, 3]), len(#{a: 1})]"#,
        example_result: "[5, 3, 1]",
        min_args: 1,
        max_args: 1,
        func: |_, args| match &args[0] {
            Value::String(text) => Ok(text.chars().count().into()),
            Value::Array(items) => Ok(items.len().into()),
            Value::Object(map) => Ok(map.len().into()),
            other => Err(format!(
                "expected text, an array or an object, got {}",
                type_name(other)
            )),
        },
    },
    Builtin {
        name: "keys",
        category: Category::Collections,
        signature: "keys(object) -> array",
        description: "The keys of an object, sorted.",
        example: "keys(#{b: 1, a: 2})",
        example_result: r#"["a", "b"]"#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let mut keys: Vec<&String> = object_arg(args, 0)?.keys().collect();
            keys.sort();
            Ok(Value::Array(
                keys.into_iter().map(|k| Value::from(k.as_str())).collect(),
            ))
        },
    },
    Builtin {
        name: "values",
        category: Category::Collections,
        signature: "values(object) -> array",
        description: "The values of an object, in the order of its sorted keys.",
        example: "values(#{b: 1, a: 2})",
        example_result: "[2, 1]",
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let mut entries: Vec<(&String, &Value)> = object_arg(args, 0)?.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Ok(Value::Array(
                entries.into_iter().map(|(_, v)| v.clone()).collect(),
            ))
        },
    },
    Builtin {
        name: "sort",
        category: Category::Collections,
        signature: "sort(array) -> array",
        description: "A sorted copy: null < booleans < numbers < strings < arrays < objects.",
        example: r#"sort([3, "b", 1, "a", ()])"#,
        example_result: r#"[null, 1, 3, "a", "b"]"#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let mut items = array_arg(args, 0)?.clone();
            items.sort_by(compare);
            Ok(Value::Array(items))
        },
    },
    Builtin {
        name: "sort_by",
        category: Category::Collections,
        signature: "sort_by(array, path) -> array",
        description: "A copy sorted (stably) by the value at `path` in each item.",
        example: r#"sort_by([#{n: "b", age: 30}, #{n: "a", age: 20}], "age")"#,
        example_result: r#"[{"n": "a", "age": 20}, {"n": "b", "age": 30}]"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let path = str_arg(args, 1)?;
            let mut keyed = array_arg(args, 0)?
                .iter()
                .map(|item| Ok((get_path(item, path)?.unwrap_or(Value::Null), item.clone())))
                .collect::<Result<Vec<_>, String>>()?;
            keyed.sort_by(|a, b| compare(&a.0, &b.0));
            Ok(Value::Array(
                keyed.into_iter().map(|(_, item)| item).collect(),
            ))
        },
    },
    Builtin {
        name: "unique",
        category: Category::Collections,
        signature: "unique(array) -> array",
        description: "The array without repeated items, first occurrences kept in order.",
        example: r#"unique([1, 2, 1, "1", 2])"#,
        example_result: r#"[1, 2, "1"]"#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            // By a canonical text of each item (object keys sorted), so a long array is one
            // pass, not a comparison of every pair.
            let mut seen = std::collections::HashSet::new();
            let mut kept = Vec::new();
            for item in array_arg(args, 0)? {
                let mut key = String::new();
                canonical_text(item, &mut key);
                if seen.insert(key) {
                    kept.push(item.clone());
                }
            }
            Ok(Value::Array(kept))
        },
    },
    Builtin {
        name: "group_by",
        category: Category::Collections,
        signature: "group_by(array, path) -> object",
        description: "An object from each distinct value at `path` (as text) to the items having it.",
        example: r#"group_by([#{t: "a", v: 1}, #{t: "b", v: 2}, #{t: "a", v: 3}], "t")"#,
        example_result: r#"{"a": [{"t": "a", "v": 1}, {"t": "a", "v": 3}], "b": [{"t": "b", "v": 2}]}"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let path = str_arg(args, 1)?;
            let mut groups = Map::new();
            for item in array_arg(args, 0)? {
                let key = display(&get_path(item, path)?.unwrap_or(Value::Null));
                if let Value::Array(group) = groups
                    .entry(key)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    group.push(item.clone());
                }
            }
            Ok(Value::Object(groups))
        },
    },
    Builtin {
        name: "sum",
        category: Category::Collections,
        signature: "sum(array) -> number",
        description: "The sum of an array of numbers (0 if empty).",
        example: "sum([1, 2.5, -0.5])",
        example_result: "3",
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(number(numbers(array_arg(args, 0)?)?.iter().sum())),
    },
    Builtin {
        name: "avg",
        category: Category::Collections,
        signature: "avg(array) -> number | null",
        description: "The mean of an array of numbers (null if empty).",
        example: "[avg([1, 2, 4]), avg([])]",
        example_result: "[2.3333333333333335, null]",
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let values = numbers(array_arg(args, 0)?)?;
            if values.is_empty() {
                return Ok(Value::Null);
            }
            Ok(number(values.iter().sum::<f64>() / values.len() as f64))
        },
    },
    Builtin {
        name: "pluck",
        category: Category::Collections,
        signature: "pluck(array, path) -> array",
        description: "The value at `path` of each item (null where missing).",
        example: r#"pluck([#{a: #{b: 1}}, #{a: #{b: 2}}, #{}], "a.b")"#,
        example_result: "[1, 2, null]",
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let path = str_arg(args, 1)?;
            array_arg(args, 0)?
                .iter()
                .map(|item| Ok(get_path(item, path)?.unwrap_or(Value::Null)))
                .collect::<Result<Vec<_>, String>>()
                .map(Value::Array)
        },
    },
    Builtin {
        name: "flatten",
        category: Category::Collections,
        signature: "flatten(array) -> array",
        description: "Flattens one level of nested arrays.",
        example: "flatten([1, [2, [3]], []])",
        example_result: "[1, 2, [3]]",
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let mut out = Vec::new();
            for item in array_arg(args, 0)? {
                match item {
                    Value::Array(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Ok(Value::Array(out))
        },
    },
    Builtin {
        name: "chunk",
        category: Category::Collections,
        signature: "chunk(array, size) -> array",
        description: "Splits an array into arrays of `size` items (the last may be shorter).",
        example: "chunk([1, 2, 3, 4, 5], 2)",
        example_result: "[[1, 2], [3, 4], [5]]",
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let size = int_arg(args, 1)?;
            if size < 1 {
                return Err("size must be at least 1".into());
            }
            Ok(Value::Array(
                array_arg(args, 0)?
                    .chunks(size as usize)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        },
    },
    Builtin {
        name: "zip",
        category: Category::Collections,
        signature: "zip(a, b) -> array",
        description: "Pairs items of two arrays by index, as long as the shorter one.",
        example: r#"zip([1, 2, 3], ["a", "b"])"#,
        example_result: r#"[[1, "a"], [2, "b"]]"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let a = array_arg(args, 0)?;
            let b = array_arg(args, 1)?;
            Ok(Value::Array(
                a.iter()
                    .zip(b)
                    .map(|(x, y)| Value::Array(vec![x.clone(), y.clone()]))
                    .collect(),
            ))
        },
    },
    Builtin {
        name: "merge",
        category: Category::Collections,
        signature: "merge(a, b) -> object",
        description: "A deep merge of two objects: keys of `b` win, nested objects merge.",
        example: r#"merge(#{a: 1, n: #{x: 1, y: 2}}, #{b: 2, n: #{y: 3}})"#,
        example_result: r#"{"a": 1, "n": {"x": 1, "y": 3}, "b": 2}"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let mut merged = Value::Object(object_arg(args, 0)?.clone());
            deep_merge(&mut merged, Value::Object(object_arg(args, 1)?.clone()));
            Ok(merged)
        },
    },
    Builtin {
        name: "get",
        category: Category::Collections,
        signature: "get(value, path, default?) -> value",
        description: "The value at a path such as `a.b[0].c` (default, or null, where missing).",
        example: r#"[get(#{a: #{b: [#{c: 7}]}}, "a.b[0].c"), get(#{}, "x.y", "none")]"#,
        example_result: r#"[7, "none"]"#,
        min_args: 2,
        max_args: 3,
        func: |_, args| {
            let found = get_path(&args[0], str_arg(args, 1)?)?;
            Ok(found.unwrap_or_else(|| args.get(2).cloned().unwrap_or(Value::Null)))
        },
    },
];

fn numbers(items: &[Value]) -> Result<Vec<f64>, String> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_f64()
                .ok_or_else(|| format!("item {index} is {}, not a number", type_name(item)))
        })
        .collect()
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order over JSON values: by type rank, then by value.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| compare(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(x.len().cmp(&y.len())),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn deep_merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(&key) {
                    Some(existing @ Value::Object(_)) if value.is_object() => {
                        deep_merge(existing, value)
                    }
                    _ => {
                        target.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// Whether text contains a substring, an array an equal item, or an object a key.
pub(super) fn contains_value(haystack: &Value, needle: &Value) -> Result<bool, String> {
    match (haystack, needle) {
        (Value::String(text), Value::String(part)) => Ok(text.contains(part.as_str())),
        (Value::String(_), other) => Err(format!(
            "can only look for text in text, got {}",
            type_name(other)
        )),
        (Value::Array(items), needle) => Ok(items.contains(needle)),
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        (Value::Object(_), other) => Err(format!("object keys are text, got {}", type_name(other))),
        (other, _) => Err(format!(
            "expected text, an array or an object, got {}",
            type_name(other)
        )),
    }
}

/// The value at a path such as `a.b[0].c` or `items[2]`; `None` where something is missing.
pub(super) fn get_path(root: &Value, path: &str) -> Result<Option<Value>, String> {
    let mut current = root;
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after
                .split_once(']')
                .ok_or_else(|| format!("unclosed `[` in path {path:?}"))?;
            let index: usize = index
                .trim()
                .parse()
                .map_err(|_| format!("bad index {index:?} in path {path:?}"))?;
            match current.get(index) {
                Some(next) => current = next,
                None => return Ok(None),
            }
            rest = tail.strip_prefix('.').unwrap_or(tail);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let (key, tail) = rest.split_at(end);
            match current.get(key) {
                Some(next) => current = next,
                None => return Ok(None),
            }
            rest = tail.strip_prefix('.').unwrap_or(tail);
        }
    }
    Ok(Some(current.clone()))
}

/// `value` as JSON text with object keys sorted: equal for values that are equal as JSON
/// (`serde_json`'s equality: objects whatever their key order, numbers as written).
fn canonical_text(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_text(&map[key], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

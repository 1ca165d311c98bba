//! Strings, JSON, regular expressions, hashes and encodings, identifiers.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Digest;

use super::collections::{contains_value, get_path};
use super::{Builtin, Category, Library, arg, array_arg, int_arg, opt_str_arg, str_arg, type_name};

pub(super) static STRINGS: &[Builtin] = &[
    Builtin {
        name: "upper",
        category: Category::Strings,
        signature: "upper(text) -> string",
        description: "Converts text to upper case (Unicode-aware).",
        example: r#"upper("straße")"#,
        example_result: r#""STRASSE""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(str_arg(args, 0)?.to_uppercase().into()),
    },
    Builtin {
        name: "lower",
        category: Category::Strings,
        signature: "lower(text) -> string",
        description: "Converts text to lower case (Unicode-aware).",
        example: r#"lower("ÀB c")"#,
        example_result: r#""àb c""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(str_arg(args, 0)?.to_lowercase().into()),
    },
    Builtin {
        name: "trim",
        category: Category::Strings,
        signature: "trim(text) -> string",
        description: "Removes white space from both ends of text.",
        example: r#"trim("  hello \n")"#,
        example_result: r#""hello""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(str_arg(args, 0)?.trim().into()),
    },
    Builtin {
        name: "pad_start",
        category: Category::Strings,
        signature: "pad_start(text, width, fill?) -> string",
        description: "Pads text on the left with `fill` (default a space) to `width` characters.",
        example: r#"pad_start("42", 5, "0")"#,
        example_result: r#""00042""#,
        min_args: 2,
        max_args: 3,
        func: |_, args| pad(args, true),
    },
    Builtin {
        name: "pad_end",
        category: Category::Strings,
        signature: "pad_end(text, width, fill?) -> string",
        description: "Pads text on the right with `fill` (default a space) to `width` characters.",
        example: r#"pad_end("ab", 4, ".")"#,
        example_result: r#""ab..""#,
        min_args: 2,
        max_args: 3,
        func: |_, args| pad(args, false),
    },
    Builtin {
        name: "split",
        category: Category::Strings,
        signature: "split(text, separator) -> array",
        description: "Splits text at every occurrence of `separator`; an empty separator splits into characters.",
        example: r#"split("a,b,,c", ",")"#,
        example_result: r#"["a", "b", "", "c"]"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let text = str_arg(args, 0)?;
            let separator = str_arg(args, 1)?;
            let parts: Vec<Value> = if separator.is_empty() {
                text.chars().map(|c| Value::from(c.to_string())).collect()
            } else {
                text.split(separator).map(Value::from).collect()
            };
            Ok(Value::Array(parts))
        },
    },
    Builtin {
        name: "join",
        category: Category::Strings,
        signature: "join(array, separator) -> string",
        description: "Joins the items of an array with `separator`; non-string items are written as JSON.",
        example: r#"join(["a", 1, true], "-")"#,
        example_result: r#""a-1-true""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let items = array_arg(args, 0)?;
            let separator = str_arg(args, 1)?;
            let parts: Vec<String> = items.iter().map(display).collect();
            let size = parts
                .iter()
                .map(String::len)
                .fold(0usize, usize::saturating_add)
                .saturating_add(
                    separator
                        .len()
                        .saturating_mul(parts.len().saturating_sub(1)),
                );
            check_text_size(size)?;
            Ok(parts.join(separator).into())
        },
    },
    Builtin {
        name: "replace",
        category: Category::Strings,
        signature: "replace(text, from, to) -> string",
        description: "Replaces every occurrence of `from` in text by `to`.",
        example: r#"replace("a-b-c", "-", "+")"#,
        example_result: r#""a+b+c""#,
        min_args: 3,
        max_args: 3,
        func: |_, args| {
            let from = str_arg(args, 1)?;
            if from.is_empty() {
                return Err("the text to replace must not be empty".into());
            }
            let (text, to) = (str_arg(args, 0)?, str_arg(args, 2)?);
            if to.len() > from.len() {
                let growth = text
                    .matches(from)
                    .count()
                    .saturating_mul(to.len() - from.len());
                check_text_size(text.len().saturating_add(growth))?;
            }
            Ok(text.replace(from, to).into())
        },
    },
    Builtin {
        name: "starts_with",
        category: Category::Strings,
        signature: "starts_with(text, prefix) -> bool",
        description: "Whether text begins with `prefix`.",
        example: r#"starts_with("invoice-17", "invoice")"#,
        example_result: "true",
        min_args: 2,
        max_args: 2,
        func: |_, args| Ok(str_arg(args, 0)?.starts_with(str_arg(args, 1)?).into()),
    },
    Builtin {
        name: "ends_with",
        category: Category::Strings,
        signature: "ends_with(text, suffix) -> bool",
        description: "Whether text ends with `suffix`.",
        example: r#"ends_with("report.pdf", ".pdf")"#,
        example_result: "true",
        min_args: 2,
        max_args: 2,
        func: |_, args| Ok(str_arg(args, 0)?.ends_with(str_arg(args, 1)?).into()),
    },
    Builtin {
        name: "substring",
        category: Category::Strings,
        signature: "substring(text, start, length?) -> string",
        description: "Takes `length` characters (default: the rest) from character index `start`; a negative start counts from the end.",
        example: r#"substring("héllo wörld", 6, 3)"#,
        example_result: r#""wör""#,
        min_args: 2,
        max_args: 3,
        func: |_, args| {
            let chars: Vec<char> = str_arg(args, 0)?.chars().collect();
            let count = chars.len() as i64;
            let start = int_arg(args, 1)?;
            let start = if start < 0 {
                (count + start).max(0)
            } else {
                start.min(count)
            };
            let length = match arg(args, 2) {
                Some(_) => int_arg(args, 2)?.max(0),
                None => count,
            };
            let end = start.saturating_add(length).min(count);
            Ok(chars[start as usize..end as usize]
                .iter()
                .collect::<String>()
                .into())
        },
    },
    Builtin {
        name: "contains",
        category: Category::Strings,
        signature: "contains(text | array | object, needle) -> bool",
        description: "Whether text contains a substring, an array contains an equal item, or an object has a key; Rhai's `x in y` calls it too.",
        example: r#"[contains("hello", "ell"), contains([1, 2], 2), contains(#{a: 1}, "b")]"#,
        example_result: "[true, true, false]",
        min_args: 2,
        max_args: 2,
        func: |_, args| contains_value(&args[0], &args[1]).map(Value::from),
    },
    Builtin {
        name: "format",
        category: Category::Strings,
        signature: "format(template, values) -> string",
        description: "Fills `{0}`, `{1}`… from an array or `{name}`/`{a.b}` from an object; `{{` and `}}` are literal braces.",
        example: r#"format("{name} owes {amount} EUR", #{name: "Ada", amount: 12.5})"#,
        example_result: r#""Ada owes 12.5 EUR""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| format_template(str_arg(args, 0)?, &args[1]),
    },
];

fn pad(args: &[Value], at_start: bool) -> Result<Value, String> {
    let text = str_arg(args, 0)?;
    let width = int_arg(args, 1)?;
    if width > 1 << 20 {
        return Err("width must be at most 1048576".into());
    }
    let fill = opt_str_arg(args, 2)?.unwrap_or(" ");
    if fill.is_empty() {
        return Err("fill must not be empty".into());
    }
    let missing = (width.max(0) as usize).saturating_sub(text.chars().count());
    let padding: String = fill.chars().cycle().take(missing).collect();
    Ok(if at_start {
        format!("{padding}{text}")
    } else {
        format!("{text}{padding}")
    }
    .into())
}

/// Text of a value as `join`, `format` and logs write it: strings bare, others as JSON.
pub(super) fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The largest text a built-in makes, in bytes: the scripts' own string limit. A result past
/// it is refused before it is built (or as it grows), so request data cannot make one
/// call ask for more memory than the engine has.
pub const MAX_TEXT_BYTES: usize = 16 << 20;

fn check_text_size(size: usize) -> Result<(), String> {
    if size > MAX_TEXT_BYTES {
        return Err(format!(
            "the result would be {size} bytes; texts are limited to {MAX_TEXT_BYTES}"
        ));
    }
    Ok(())
}

fn format_template(template: &str, values: &Value) -> Result<Value, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut key = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => key.push(c),
                        None => return Err("unclosed `{` in template".into()),
                    }
                }
                let found = match values {
                    Value::Array(items) => key
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|index| items.get(index))
                        .cloned(),
                    Value::Object(_) => get_path(values, key.trim())?,
                    other => {
                        return Err(format!(
                            "values must be an array or an object, got {}",
                            type_name(other)
                        ));
                    }
                };
                let found = found.ok_or_else(|| format!("no value for `{{{key}}}`"))?;
                out.push_str(&display(&found));
                check_text_size(out.len())?;
            }
            '}' => return Err("unmatched `}` in template".into()),
            c => out.push(c),
        }
    }
    Ok(out.into())
}

pub(super) static JSON: &[Builtin] = &[
    Builtin {
        name: "to_json",
        category: Category::Json,
        signature: "to_json(value, pretty?) -> string",
        description: "Serialises a value as JSON text with object keys sorted, indented when `pretty` is true.",
        example: r#"to_json(#{a: [1, "x"]})"#,
        example_result: r#""{\"a\":[1,\"x\"]}""#,
        min_args: 1,
        max_args: 2,
        func: |_, args| {
            let pretty = matches!(args.get(1), Some(Value::Bool(true)));
            let sorted = sorted_keys(&args[0]);
            let text = if pretty {
                serde_json::to_string_pretty(&sorted)
            } else {
                serde_json::to_string(&sorted)
            };
            text.map(Value::from).map_err(|err| err.to_string())
        },
    },
    Builtin {
        name: "parse_json",
        category: Category::Json,
        signature: "parse_json(text) -> value",
        description: "Parses JSON text into a value.",
        example: r#"parse_json("{\"ok\": true, \"n\": [1, 2.5]}")"#,
        example_result: r#"{"ok": true, "n": [1, 2.5]}"#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            serde_json::from_str::<Value>(str_arg(args, 0)?)
                .map(super::normalize)
                .map_err(|err| format!("invalid JSON: {err}"))
        },
    },
];

/// A copy with every object's keys in sorted order, so JSON text is the same from Rhai (whose
/// maps are sorted) and JavaScript (whose objects keep insertion order).
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

pub(super) static REGEX: &[Builtin] = &[
    Builtin {
        name: "matches",
        category: Category::Regex,
        signature: "matches(text, pattern) -> bool",
        description: "Whether the regular expression `pattern` matches anywhere in text (use `^…$` to match all of it).",
        example: r#"matches("order-2024-17", "^order-\\d{4}-\\d+$")"#,
        example_result: "true",
        min_args: 2,
        max_args: 2,
        func: |library, args| {
            Ok(library
                .regex(str_arg(args, 1)?)?
                .is_match(str_arg(args, 0)?)
                .into())
        },
    },
    Builtin {
        name: "find_all",
        category: Category::Regex,
        signature: "find_all(text, pattern) -> array",
        description: "Every non-overlapping match of `pattern` in text, in order.",
        example: r#"find_all("a1 b22 c333", "\\d+")"#,
        example_result: r#"["1", "22", "333"]"#,
        min_args: 2,
        max_args: 2,
        func: |library, args| {
            let regex = library.regex(str_arg(args, 1)?)?;
            let text = str_arg(args, 0)?;
            Ok(Value::Array(
                regex.find_iter(text).map(|m| m.as_str().into()).collect(),
            ))
        },
    },
    Builtin {
        name: "replace_regex",
        category: Category::Regex,
        signature: "replace_regex(text, pattern, replacement) -> string",
        description: "Replaces every match of `pattern`; `$1` or `${name}` in the replacement insert groups.",
        example: r#"replace_regex("2024-03-10", "(\\d+)-(\\d+)-(\\d+)", "$3.$2.$1")"#,
        example_result: r#""10.03.2024""#,
        min_args: 3,
        max_args: 3,
        func: |library, args| {
            let regex = library.regex(str_arg(args, 1)?)?;
            let (text, replacement) = (str_arg(args, 0)?, str_arg(args, 2)?);
            // Built match by match, so a replacement that repeats groups stops at the limit
            // instead of after it.
            let mut out = String::new();
            let mut last = 0;
            for captures in regex.captures_iter(text) {
                let whole = captures.get(0).expect("group 0 is the match");
                out.push_str(&text[last..whole.start()]);
                captures.expand(replacement, &mut out);
                last = whole.end();
                check_text_size(out.len())?;
            }
            out.push_str(&text[last..]);
            check_text_size(out.len())?;
            Ok(out.into())
        },
    },
];

fn bytes_hex<D: Digest>(args: &[Value]) -> Result<Value, String> {
    Ok(hex::encode(D::digest(str_arg(args, 0)?.as_bytes())).into())
}

pub(super) static HASHES: &[Builtin] = &[
    Builtin {
        name: "md5",
        category: Category::Hashes,
        signature: "md5(text) -> string",
        description: "MD5 of the UTF-8 text as lower-case hex (for checksums only, not security).",
        example: r#"md5("abc")"#,
        example_result: r#""900150983cd24fb0d6963f7d28e17f72""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| bytes_hex::<md5::Md5>(args),
    },
    Builtin {
        name: "sha1",
        category: Category::Hashes,
        signature: "sha1(text) -> string",
        description: "SHA-1 of the UTF-8 text as lower-case hex.",
        example: r#"sha1("abc")"#,
        example_result: r#""a9993e364706816aba3e25717850c26c9cd0d89d""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| bytes_hex::<sha1::Sha1>(args),
    },
    Builtin {
        name: "sha256",
        category: Category::Hashes,
        signature: "sha256(text) -> string",
        description: "SHA-256 of the UTF-8 text as lower-case hex.",
        example: r#"sha256("abc")"#,
        example_result: r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| bytes_hex::<sha2::Sha256>(args),
    },
    Builtin {
        name: "sha512",
        category: Category::Hashes,
        signature: "sha512(text) -> string",
        description: "SHA-512 of the UTF-8 text as lower-case hex.",
        example: r#"substring(sha512("abc"), 0, 16)"#,
        example_result: r#""ddaf35a193617aba""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| bytes_hex::<sha2::Sha512>(args),
    },
    Builtin {
        name: "hmac_sha256",
        category: Category::Hashes,
        signature: "hmac_sha256(key, message) -> string",
        description: "HMAC-SHA-256 of the message under the key (both UTF-8) as lower-case hex.",
        example: r#"hmac_sha256("key", "The quick brown fox jumps over the lazy dog")"#,
        example_result: r#""f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(str_arg(args, 0)?.as_bytes())
                .map_err(|err| err.to_string())?;
            mac.update(str_arg(args, 1)?.as_bytes());
            Ok(hex::encode(mac.finalize().into_bytes()).into())
        },
    },
    Builtin {
        name: "base64_encode",
        category: Category::Hashes,
        signature: "base64_encode(text) -> string",
        description: "Standard Base64 (with padding) of the UTF-8 text.",
        example: r#"base64_encode("héllo")"#,
        example_result: r#""aMOpbGxv""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            Ok(base64::engine::general_purpose::STANDARD
                .encode(str_arg(args, 0)?)
                .into())
        },
    },
    Builtin {
        name: "base64_decode",
        category: Category::Hashes,
        signature: "base64_decode(text) -> string",
        description: "Decodes standard Base64 into UTF-8 text; fails if the bytes are not UTF-8.",
        example: r#"base64_decode("aMOpbGxv")"#,
        example_result: r#""héllo""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(str_arg(args, 0)?.trim())
                .map_err(|err| format!("invalid Base64: {err}"))?;
            String::from_utf8(bytes)
                .map(Value::from)
                .map_err(|_| "decoded bytes are not UTF-8".into())
        },
    },
    Builtin {
        name: "hex_encode",
        category: Category::Hashes,
        signature: "hex_encode(text) -> string",
        description: "Lower-case hex of the UTF-8 text.",
        example: r#"hex_encode("Hi!")"#,
        example_result: r#""486921""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(hex::encode(str_arg(args, 0)?).into()),
    },
    Builtin {
        name: "hex_decode",
        category: Category::Hashes,
        signature: "hex_decode(text) -> string",
        description: "Decodes hex into UTF-8 text; fails if the bytes are not UTF-8.",
        example: r#"hex_decode("486921")"#,
        example_result: r#""Hi!""#,
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            let bytes =
                hex::decode(str_arg(args, 0)?).map_err(|err| format!("invalid hex: {err}"))?;
            String::from_utf8(bytes)
                .map(Value::from)
                .map_err(|_| "decoded bytes are not UTF-8".into())
        },
    },
];

pub(super) static IDS: &[Builtin] = &[
    Builtin {
        name: "uuid_v4",
        category: Category::Ids,
        signature: "uuid_v4() -> string",
        description: "A random UUID (version 4), hyphenated lower-case.",
        example: r#"len(uuid_v4())"#,
        example_result: "36",
        min_args: 0,
        max_args: 0,
        func: |_, _| Ok(uuid::Uuid::new_v4().hyphenated().to_string().into()),
    },
    Builtin {
        name: "uuid_v7",
        category: Category::Ids,
        signature: "uuid_v7() -> string",
        description: "A time-ordered UUID (version 7) from the run's clock, hyphenated lower-case.",
        example: r#"substring(uuid_v7(), 0, 13)"#,
        example_result: r#""018e283b-ee00""#,
        min_args: 0,
        max_args: 0,
        func: |library: &Library, _| {
            let now = library.now();
            let timestamp = uuid::Timestamp::from_unix(
                uuid::NoContext,
                now.timestamp().max(0) as u64,
                now.timestamp_subsec_nanos(),
            );
            Ok(uuid::Uuid::new_v7(timestamp)
                .hyphenated()
                .to_string()
                .into())
        },
    },
];

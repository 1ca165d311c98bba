//! Numbers and exact decimals.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::{Builtin, Category, arg, f64_arg, int_arg, number, opt_str_arg, str_arg, type_name};

pub(super) static NUMBERS: &[Builtin] = &[
    Builtin {
        name: "round",
        category: Category::Numbers,
        signature: "round(number, places?) -> number",
        description: "Rounds to `places` decimal places (default 0), halves away from zero, computed on the decimal digits.",
        example: "[round(2.675, 2), round(-2.5), round(1234.5678, -2)]",
        example_result: "[2.68, -3, 1200]",
        min_args: 1,
        max_args: 2,
        func: |_, args| {
            let value = f64_arg(args, 0)?;
            let places = match arg(args, 1) {
                Some(_) => int_arg(args, 1)?,
                None => 0,
            };
            round_number(value, places).map(number)
        },
    },
    Builtin {
        name: "floor",
        category: Category::Numbers,
        signature: "floor(number) -> number",
        description: "The largest whole number not greater than the number.",
        example: "[floor(2.7), floor(-2.1)]",
        example_result: "[2, -3]",
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(number(f64_arg(args, 0)?.floor())),
    },
    Builtin {
        name: "ceil",
        category: Category::Numbers,
        signature: "ceil(number) -> number",
        description: "The smallest whole number not less than the number.",
        example: "[ceil(2.1), ceil(-2.7)]",
        example_result: "[3, -2]",
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(number(f64_arg(args, 0)?.ceil())),
    },
    Builtin {
        name: "abs",
        category: Category::Numbers,
        signature: "abs(number) -> number",
        description: "The absolute value.",
        example: "abs(-4.5)",
        example_result: "4.5",
        min_args: 1,
        max_args: 1,
        func: |_, args| Ok(number(f64_arg(args, 0)?.abs())),
    },
    Builtin {
        name: "min",
        category: Category::Numbers,
        signature: "min(a, b) | min(array) -> number",
        description: "The smaller of two numbers, or the smallest number of an array (null if empty).",
        example: "[min(3, -1.5), min([4, 2, 8])]",
        example_result: "[-1.5, 2]",
        min_args: 1,
        max_args: 2,
        func: |_, args| extreme(args, f64::min),
    },
    Builtin {
        name: "max",
        category: Category::Numbers,
        signature: "max(a, b) | max(array) -> number",
        description: "The larger of two numbers, or the largest number of an array (null if empty).",
        example: "[max(3, -1.5), max([4, 2, 8])]",
        example_result: "[3, 8]",
        min_args: 1,
        max_args: 2,
        func: |_, args| extreme(args, f64::max),
    },
    Builtin {
        name: "parse_int",
        category: Category::Numbers,
        signature: "parse_int(text) -> number | null",
        description: "Parses a whole number (surrounding white space allowed); null if the text is not one.",
        example: r#"[parse_int(" 42 "), parse_int("-7"), parse_int("4.2")]"#,
        example_result: "[42, -7, null]",
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            Ok(str_arg(args, 0)?
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (*n as f64).abs() <= super::MAX_SAFE_INTEGER)
                .map_or(Value::Null, Value::from))
        },
    },
    Builtin {
        name: "parse_float",
        category: Category::Numbers,
        signature: "parse_float(text) -> number | null",
        description: "Parses a decimal number such as `-1.5e3`; null if the text is not one.",
        example: r#"[parse_float("3.25"), parse_float("1e3"), parse_float("abc")]"#,
        example_result: "[3.25, 1000, null]",
        min_args: 1,
        max_args: 1,
        func: |_, args| {
            Ok(str_arg(args, 0)?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map_or(Value::Null, number))
        },
    },
    Builtin {
        name: "decimal_add",
        category: Category::Numbers,
        signature: "decimal_add(a, b) -> string",
        description: "Exact decimal sum of two decimal strings (or numbers), as a string.",
        example: r#"decimal_add("0.1", "0.2")"#,
        example_result: r#""0.3""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| decimal_op(args, Decimal::checked_add),
    },
    Builtin {
        name: "decimal_sub",
        category: Category::Numbers,
        signature: "decimal_sub(a, b) -> string",
        description: "Exact decimal difference `a - b`, as a string.",
        example: r#"decimal_sub("10.00", "0.01")"#,
        example_result: r#""9.99""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| decimal_op(args, Decimal::checked_sub),
    },
    Builtin {
        name: "decimal_mul",
        category: Category::Numbers,
        signature: "decimal_mul(a, b) -> string",
        description: "Exact decimal product, as a string (the scale is the sum of the scales).",
        example: r#"decimal_mul("19.99", "3")"#,
        example_result: r#""59.97""#,
        min_args: 2,
        max_args: 2,
        func: |_, args| decimal_op(args, Decimal::checked_mul),
    },
    Builtin {
        name: "decimal_div",
        category: Category::Numbers,
        signature: "decimal_div(a, b) -> string",
        description: "Decimal quotient `a / b` to 28 significant digits without trailing zeros; fails on division by zero.",
        example: r#"[decimal_div("10", "4"), decimal_div("1", "3")]"#,
        example_result: r#"["2.5", "0.3333333333333333333333333333"]"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let a = decimal_arg(args, 0)?;
            let b = decimal_arg(args, 1)?;
            if b.is_zero() {
                return Err("division by zero".into());
            }
            a.checked_div(b)
                .map(|q| q.normalize().to_string().into())
                .ok_or_else(|| "result out of range".into())
        },
    },
    Builtin {
        name: "decimal_round",
        category: Category::Numbers,
        signature: "decimal_round(a, places) -> string",
        description: "Rounds a decimal to `places` places, halves away from zero, keeping trailing zeros.",
        example: r#"[decimal_round("2.345", 2), decimal_round("-2.5", 0), decimal_round("1.2", 3)]"#,
        example_result: r#"["2.35", "-3", "1.200"]"#,
        min_args: 2,
        max_args: 2,
        func: |_, args| {
            let value = decimal_arg(args, 0)?;
            let places = int_arg(args, 1)?;
            if !(0..=28).contains(&places) {
                return Err("places must be between 0 and 28".into());
            }
            let mut rounded =
                value.round_dp_with_strategy(places as u32, RoundingStrategy::MidpointAwayFromZero);
            rounded.rescale(places as u32);
            Ok(rounded.to_string().into())
        },
    },
    Builtin {
        name: "format_number",
        category: Category::Numbers,
        signature: "format_number(number, places, thousands?, point?) -> string",
        description: "Formats a number (or decimal string) with `places` decimals, a thousands separator (default `,`) and a decimal point (default `.`).",
        example: r#"[format_number(1234567.891, 2), format_number("-1234.5", 0, ".", ",")]"#,
        example_result: r#"["1,234,567.89", "-1.235"]"#,
        min_args: 2,
        max_args: 4,
        func: |_, args| {
            let value = decimal_arg(args, 0)?;
            let places = int_arg(args, 1)?;
            if !(0..=28).contains(&places) {
                return Err("places must be between 0 and 28".into());
            }
            let thousands = opt_str_arg(args, 2)?.unwrap_or(",");
            let point = opt_str_arg(args, 3)?.unwrap_or(".");
            let mut rounded =
                value.round_dp_with_strategy(places as u32, RoundingStrategy::MidpointAwayFromZero);
            rounded.rescale(places as u32);
            let text = rounded.abs().to_string();
            let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
            let mut grouped = String::new();
            for (index, digit) in whole.chars().enumerate() {
                if index > 0 && (whole.len() - index) % 3 == 0 {
                    grouped.push_str(thousands);
                }
                grouped.push(digit);
            }
            let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
                "-"
            } else {
                ""
            };
            let fraction = if fraction.is_empty() {
                String::new()
            } else {
                format!("{point}{fraction}")
            };
            Ok(format!("{sign}{grouped}{fraction}").into())
        },
    },
];

fn round_number(value: f64, places: i64) -> Result<f64, String> {
    if !(-15..=15).contains(&places) {
        return Err("places must be between -15 and 15".into());
    }
    // Round on the shortest decimal text of the double, so 2.675 rounds to 2.68 as written.
    let Ok(decimal) = Decimal::from_str(&value.to_string()) else {
        return Ok(value);
    };
    let scale = Decimal::from(10_i64.pow(places.unsigned_abs() as u32));
    let rounded = if places >= 0 {
        decimal.round_dp_with_strategy(places as u32, RoundingStrategy::MidpointAwayFromZero)
    } else {
        (decimal / scale).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero) * scale
    };
    f64::from_str(&rounded.to_string()).map_err(|err| err.to_string())
}

fn extreme(args: &[Value], pick: fn(f64, f64) -> f64) -> Result<Value, String> {
    if args.len() == 2 {
        return Ok(number(pick(f64_arg(args, 0)?, f64_arg(args, 1)?)));
    }
    let items = match &args[0] {
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "expected two numbers or an array, got {}",
                type_name(other)
            ));
        }
    };
    let mut best: Option<f64> = None;
    for (index, item) in items.iter().enumerate() {
        let value = item
            .as_f64()
            .ok_or_else(|| format!("item {index} is {}, not a number", type_name(item)))?;
        best = Some(best.map_or(value, |b| pick(b, value)));
    }
    Ok(best.map_or(Value::Null, number))
}

fn decimal_arg(args: &[Value], index: usize) -> Result<Decimal, String> {
    let text = match args.get(index) {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "argument {} must be a decimal string or a number, got {}",
                index + 1,
                type_name(other)
            ));
        }
        None => return Err(format!("argument {} is missing", index + 1)),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("argument {} is not a decimal: {text:?}", index + 1))
}

fn decimal_op(
    args: &[Value],
    op: fn(Decimal, Decimal) -> Option<Decimal>,
) -> Result<Value, String> {
    op(decimal_arg(args, 0)?, decimal_arg(args, 1)?)
        .map(|d| d.to_string().into())
        .ok_or_else(|| "result out of range".into())
}

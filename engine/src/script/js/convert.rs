//! JSON ⇄ JavaScript values.

use rquickjs::{Array, Ctx, Function, Object, Type, Value as JsValue};
use serde_json::{Map, Value};

use crate::script::library;

/// Deepest nesting converted out of JavaScript; deeper (or cyclic) values are an error.
const MAX_DEPTH: usize = 256;

/// Why a JavaScript value did not become JSON.
#[derive(Debug)]
pub(super) enum ConvertError {
    /// The JSON would be larger than the output budget.
    TooLarge,
    /// Deeper than [`MAX_DEPTH`], most likely a cycle.
    TooDeep,
    /// QuickJS failed (an exception, usually out of memory).
    Js(rquickjs::Error),
}

impl From<rquickjs::Error> for ConvertError {
    fn from(err: rquickjs::Error) -> Self {
        Self::Js(err)
    }
}

/// Builds the JavaScript value for a JSON value.
///
/// Arrays and objects go through their JSON text and QuickJS' own parser: one pass in C
/// instead of an atom lookup and a property definition from Rust per member. It is also
/// `JSON.parse`'s meaning exactly (a `"__proto__"` key is an own property, not the prototype).
pub(super) fn json_to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    match value {
        Value::Array(_) | Value::Object(_) => {
            // Serialising a `Value` cannot fail: its keys are strings.
            let text = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
            ctx.json_parse(text)
        }
        _ => json_to_js_member(ctx, value),
    }
}

/// [`json_to_js`] member by member.
fn json_to_js_member<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    Ok(match value {
        Value::Null => JsValue::new_null(ctx.clone()),
        Value::Bool(b) => JsValue::new_bool(ctx.clone(), *b),
        Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => JsValue::new_int(ctx.clone(), i),
            None => JsValue::new_float(ctx.clone(), n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        Value::Array(items) => {
            let array = Array::new(ctx.clone())?;
            for (index, item) in items.iter().enumerate() {
                array.set(index, json_to_js_member(ctx, item)?)?;
            }
            array.into_value()
        }
        Value::Object(map) => {
            let object = Object::new(ctx.clone())?;
            for (key, item) in map {
                object.set(key.as_str(), json_to_js_member(ctx, item)?)?;
            }
            object.into_value()
        }
    })
}

/// Converts a JavaScript value to JSON as `JSON.stringify` would (functions, symbols and
/// `undefined` are dropped from objects and become `null` elsewhere; `toJSON` is honoured),
/// spending at most `budget` bytes of serialised JSON.
pub(super) fn js_to_json<'js>(
    value: &JsValue<'js>,
    budget: &mut usize,
) -> Result<Value, ConvertError> {
    if matches!(value.type_of(), Type::Array | Type::Object)
        && let Some(json) = through_json_text(value, budget)?
    {
        return Ok(json);
    }
    convert(value, budget, 0)
}

/// The fast way for arrays and objects: QuickJS' `JSON.stringify` (in C, with the same
/// rules) and serde's parser. `None` leaves the value to the member-by-member converter,
/// which reports what the text cannot carry: a cycle, a `BigInt`, nesting deeper than the
/// parser's limit, a lone surrogate, an output over the budget that the runtime's memory
/// cannot even hold as text.
fn through_json_text<'js>(
    value: &JsValue<'js>,
    budget: &mut usize,
) -> Result<Option<Value>, ConvertError> {
    let ctx = value.ctx();
    let text = match ctx.json_stringify(value.clone()) {
        Ok(Some(text)) => text.to_string()?,
        Ok(None) => return Ok(None),
        Err(rquickjs::Error::Exception) => {
            // A cycle, a `BigInt`, a `toJSON` that throws, or a text too large for the
            // runtime's memory: the member-by-member converter meets the same value with its
            // budget and reports what is wrong (a `toJSON` runs again there).
            let _ = ctx.catch();
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    if text.len() > *budget {
        return Err(ConvertError::TooLarge);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(json) => {
            *budget -= text.len();
            Ok(Some(json))
        }
        Err(_) => Ok(None),
    }
}

fn spend(budget: &mut usize, bytes: usize) -> Result<(), ConvertError> {
    *budget = budget.checked_sub(bytes).ok_or(ConvertError::TooLarge)?;
    Ok(())
}

fn is_skipped(value: &JsValue<'_>) -> bool {
    matches!(
        value.type_of(),
        Type::Undefined | Type::Uninitialized | Type::Function | Type::Constructor | Type::Symbol
    )
}

fn convert<'js>(
    value: &JsValue<'js>,
    budget: &mut usize,
    depth: usize,
) -> Result<Value, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    match value.type_of() {
        Type::Bool => {
            spend(budget, 5)?;
            Ok(Value::Bool(value.as_bool().unwrap_or_default()))
        }
        Type::Int => {
            spend(budget, 11)?;
            Ok(Value::from(value.as_int().unwrap_or_default()))
        }
        Type::Float => {
            spend(budget, 24)?;
            Ok(library::number(value.as_float().unwrap_or(f64::NAN)))
        }
        Type::String => {
            let Some(text) = value.as_string() else {
                return Ok(Value::Null);
            };
            let text = text.to_string()?;
            spend(budget, text.len() + 2)?;
            Ok(Value::String(text))
        }
        Type::BigInt => {
            let text: String = value.get::<rquickjs::Coerced<String>>()?.0;
            spend(budget, text.len() + 2)?;
            Ok(Value::String(text))
        }
        Type::Array => {
            let Some(array) = value.as_array() else {
                return Ok(Value::Null);
            };
            spend(budget, 2)?;
            let mut items = Vec::with_capacity(array.len().min(1 << 16));
            for index in 0..array.len() {
                let item: JsValue<'js> = array.get(index)?;
                spend(budget, 1)?;
                items.push(if is_skipped(&item) {
                    Value::Null
                } else {
                    convert(&item, budget, depth + 1)?
                });
            }
            Ok(Value::Array(items))
        }
        Type::Object | Type::Exception | Type::Proxy => {
            let Some(object) = value.as_object() else {
                return Ok(Value::Null);
            };
            if let Ok(to_json) = object.get::<_, Function<'js>>("toJSON") {
                let replaced: JsValue<'js> =
                    to_json.call((rquickjs::function::This(object.clone()),))?;
                return convert(&replaced, budget, depth + 1);
            }
            spend(budget, 2)?;
            let mut map = Map::new();
            for entry in object.props::<String, JsValue<'js>>() {
                let (key, item) = entry?;
                if is_skipped(&item) {
                    continue;
                }
                spend(budget, key.len() + 4)?;
                let converted = convert(&item, budget, depth + 1)?;
                map.insert(key, converted);
            }
            Ok(Value::Object(map))
        }
        _ => {
            spend(budget, 4)?;
            Ok(Value::Null)
        }
    }
}

//! JSON ⇄ JavaScript values.

use rquickjs::object::Property;
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

/// Builds the JavaScript value for a JSON value, member by member.
///
/// Members are *defined* (as `JSON.parse` does), not assigned: a `"__proto__"` key is an own
/// property, not the prototype, and setters a module may have put on `Object.prototype` or
/// `Array.prototype` never run. Building the values directly costs about half of what the
/// JSON text round trip (`serde_json` writing it, QuickJS' `JSON.parse` reading it) did:
/// measured under callgrind on the BFF example, 50 k fewer instructions per request for an
/// input of a profile and three orders (ARCHITECTURE.md, `script/`).
pub(super) fn json_to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
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
                let index = u32::try_from(index).map_err(|_| {
                    rquickjs::Error::new_from_js_message("array", "Array", "too many items")
                })?;
                array
                    .as_object()
                    .prop(index, data_property(json_to_js(ctx, item)?))?;
            }
            array.into_value()
        }
        Value::Object(map) => {
            let object = Object::new(ctx.clone())?;
            for (key, item) in map {
                object.prop(key.as_str(), data_property(json_to_js(ctx, item)?))?;
            }
            object.into_value()
        }
    })
}

/// A writable, enumerable, configurable data property: what `JSON.parse` creates.
fn data_property(value: JsValue<'_>) -> Property<JsValue<'_>> {
    Property::from(value).writable().enumerable().configurable()
}

/// Converts a JavaScript value to JSON as `JSON.stringify` would (functions, symbols and
/// `undefined` are dropped from objects and become `null` elsewhere; `toJSON` is honoured),
/// spending at most `budget` bytes of serialised JSON (counted as the text would be written,
/// numbers at their widest).
///
/// Member by member: reading the properties from Rust costs less than half of what
/// QuickJS' `JSON.stringify` and `serde_json` reading its text back did (100 k instructions
/// per request fewer on the BFF example's result, callgrind), and it reports what JSON
/// cannot carry — a cycle, nesting deeper than [`MAX_DEPTH`] — without a second pass.
pub(super) fn js_to_json<'js>(
    value: &JsValue<'js>,
    budget: &mut usize,
) -> Result<Value, ConvertError> {
    convert(value, budget, 0)
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

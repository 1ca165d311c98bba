//! JSON ⇄ JavaScript values.

use rquickjs::object::Property;
use rquickjs::{Array, Atom, Ctx, Function, Object, Type, Value as JsValue};
use serde_json::{Map, Value};

use crate::script::library;

/// Deepest nesting converted out of JavaScript; deeper (or cyclic) values are an error.
const MAX_DEPTH: usize = 256;

/// Values converted between two calls of the stop check: reading the clock that seldom costs
/// nothing measurable, and even at a slow few million values a second the check comes
/// within a millisecond or two.
const CHECK_EVERY: u32 = 4096;

/// Why a JavaScript value did not become JSON.
#[derive(Debug)]
pub(super) enum ConvertError {
    /// The JSON would be larger than the output budget.
    TooLarge,
    /// Deeper than [`MAX_DEPTH`], most likely a cycle.
    TooDeep,
    /// The stop check answered `true` (the run passed its deadline or was cancelled).
    Stopped,
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
/// `undefined` are dropped from objects and become `null` elsewhere; `toJSON` is honoured;
/// `Number`, `String` and `Boolean` wrapper objects become their primitive),
/// spending at most `budget` bytes of serialised JSON (counted as the text would be written,
/// numbers at their widest), and calling `stop` every [`CHECK_EVERY`] values: when it answers
/// `true` the conversion ends with [`ConvertError::Stopped`].
///
/// The budget and the check are what bound a conversion: a value may share its parts
/// (`v = [v, v]` forty times over is 2⁴⁰ leaves in a few hundred bytes of QuickJS memory), so
/// neither the run's memory limit nor the interrupt handler, which does not run while Rust
/// code does, would stop it.
///
/// Member by member: reading the properties from Rust costs less than half of what
/// QuickJS' `JSON.stringify` and `serde_json` reading its text back did (100 k instructions
/// per request fewer on the BFF example's result, callgrind), and it reports what JSON
/// cannot carry — a cycle, nesting deeper than [`MAX_DEPTH`] — without a second pass.
pub(super) fn js_to_json<'js>(
    value: &JsValue<'js>,
    budget: &mut usize,
    stop: &dyn Fn() -> bool,
) -> Result<Value, ConvertError> {
    let mut walk = Walk {
        budget: *budget,
        countdown: CHECK_EVERY,
        stop,
        intrinsics: Intrinsics::default(),
    };
    let result = convert(value, &mut walk, 0);
    *budget = walk.budget;
    result
}

/// The state of one conversion, passed down the recursion as one reference (a level of
/// nesting then costs little native stack).
struct Walk<'js, 'a> {
    budget: usize,
    /// Values left until the next stop check.
    countdown: u32,
    stop: &'a dyn Fn() -> bool,
    intrinsics: Intrinsics<'js>,
}

impl Walk<'_, '_> {
    fn spend(&mut self, bytes: usize) -> Result<(), ConvertError> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(ConvertError::TooLarge)?;
        Ok(())
    }

    /// Counts a value, calling the stop check when its turn comes.
    fn tick(&mut self) -> Result<(), ConvertError> {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = CHECK_EVERY;
            if (self.stop)() {
                return Err(ConvertError::Stopped);
            }
        }
        Ok(())
    }
}

fn is_skipped(value: &JsValue<'_>) -> bool {
    matches!(
        value.type_of(),
        Type::Undefined | Type::Uninitialized | Type::Function | Type::Constructor | Type::Symbol
    )
}

/// What the converter looks up in the context once per conversion, when it first needs it.
#[derive(Default)]
struct Intrinsics<'js> {
    /// `Object.prototype`: an object with exactly this prototype is a plain object.
    object_prototype: Option<Option<Object<'js>>>,
    /// `valueOf` of `Number.prototype`, `String.prototype` and `Boolean.prototype`.
    unwrappers: Option<Vec<Function<'js>>>,
    /// The atom `toJSON`, looked up on every object.
    to_json: Option<Atom<'js>>,
}

impl<'js> Intrinsics<'js> {
    /// The object's `toJSON` member when it is a function (own or inherited), looked up by
    /// an atom made once per conversion rather than from the text on every object.
    fn find_to_json(&mut self, object: &Object<'js>) -> rquickjs::Result<Option<Function<'js>>> {
        let atom = match &self.to_json {
            Some(atom) => atom.clone(),
            None => {
                let atom = Atom::from_str(object.ctx().clone(), "toJSON")?;
                self.to_json = Some(atom.clone());
                atom
            }
        };
        let member: JsValue<'js> = object.get(atom)?;
        Ok(member.into_function())
    }

    fn is_plain(&mut self, object: &Object<'js>) -> bool {
        let prototype = self.object_prototype.get_or_insert_with(|| {
            Object::new(object.ctx().clone())
                .ok()
                .and_then(|o| o.get_prototype())
        });
        prototype.is_some() && object.get_prototype() == *prototype
    }

    /// The primitive inside a `Number`, `String` or `Boolean` wrapper object
    /// (`new String("x")`, `Object(1)`), as `JSON.stringify` unwraps them; `None` for any
    /// other object. Each prototype's `valueOf` accepts only its own kind of wrapper (it
    /// throws for anything else, whatever its prototype claims), so the test cannot be
    /// fooled by `Object.create(Number.prototype)`.
    fn unwrap(&mut self, object: &Object<'js>) -> Option<JsValue<'js>> {
        let ctx = object.ctx().clone();
        let unwrappers = self.unwrappers.get_or_insert_with(|| {
            let globals = ctx.globals();
            ["Number", "String", "Boolean"]
                .into_iter()
                .filter_map(|name| {
                    globals
                        .get::<_, Object<'js>>(name)
                        .and_then(|c| c.get::<_, Object<'js>>("prototype"))
                        .and_then(|p| p.get::<_, Function<'js>>("valueOf"))
                        .ok()
                })
                .collect()
        });
        unwrappers.iter().find_map(|value_of| {
            match value_of.call::<_, JsValue<'js>>((rquickjs::function::This(object.clone()),)) {
                Ok(primitive) => Some(primitive),
                Err(_) => {
                    // Not this kind of wrapper: drop the exception `valueOf` threw.
                    let _ = ctx.catch();
                    None
                }
            }
        })
    }
}

fn convert<'js>(
    value: &JsValue<'js>,
    walk: &mut Walk<'js, '_>,
    depth: usize,
) -> Result<Value, ConvertError> {
    if depth > MAX_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    walk.tick()?;
    // Only the two recursive cases are handled here; everything else is in functions of
    // its own, so that a level of nesting costs as little native stack as possible.
    match value.type_of() {
        Type::Array => {
            let Some(array) = value.as_array() else {
                return Ok(Value::Null);
            };
            walk.spend(2)?;
            let mut items = Vec::with_capacity(array.len().min(1 << 16));
            for index in 0..array.len() {
                let item: JsValue<'js> = array.get(index)?;
                walk.spend(1)?;
                items.push(if is_skipped(&item) {
                    Value::Null
                } else {
                    convert(&item, walk, depth + 1)?
                });
            }
            Ok(Value::Array(items))
        }
        Type::Object | Type::Exception | Type::Proxy => {
            let Some(object) = value.as_object() else {
                return Ok(Value::Null);
            };
            if let Some(replaced) = replacement(object, &mut walk.intrinsics)? {
                return convert(&replaced, walk, depth + 1);
            }
            walk.spend(2)?;
            let props = object.props::<String, JsValue<'js>>();
            // Sized up front: growing an index map rehashes every key it already holds.
            let mut map = Map::with_capacity(props.size_hint().0.min(1 << 16));
            for entry in props {
                let (key, item) = entry?;
                if is_skipped(&item) {
                    continue;
                }
                walk.spend(key.len() + 4)?;
                let converted = convert(&item, walk, depth + 1)?;
                map.insert(key, converted);
            }
            Ok(Value::Object(map))
        }
        _ => scalar(value, walk),
    }
}

/// What an object stands for in JSON when it is not its own members: what its `toJSON`
/// returns, or the primitive inside a wrapper object.
#[inline(never)]
fn replacement<'js>(
    object: &Object<'js>,
    intrinsics: &mut Intrinsics<'js>,
) -> Result<Option<JsValue<'js>>, ConvertError> {
    if let Some(to_json) = intrinsics.find_to_json(object)? {
        let replaced: JsValue<'js> = to_json.call((rquickjs::function::This(object.clone()),))?;
        return Ok(Some(replaced));
    }
    if intrinsics.is_plain(object) {
        return Ok(None);
    }
    Ok(intrinsics.unwrap(object))
}

/// A value that is neither an array nor an object.
#[inline(never)]
fn scalar(value: &JsValue<'_>, walk: &mut Walk<'_, '_>) -> Result<Value, ConvertError> {
    match value.type_of() {
        Type::Bool => {
            walk.spend(5)?;
            Ok(Value::Bool(value.as_bool().unwrap_or_default()))
        }
        Type::Int => {
            walk.spend(11)?;
            Ok(Value::from(value.as_int().unwrap_or_default()))
        }
        Type::Float => {
            walk.spend(24)?;
            Ok(library::number(value.as_float().unwrap_or(f64::NAN)))
        }
        Type::String => {
            let Some(text) = value.as_string() else {
                return Ok(Value::Null);
            };
            let text = text.to_string()?;
            walk.spend(text.len() + 2)?;
            Ok(Value::String(text))
        }
        Type::BigInt => {
            let text: String = value.get::<rquickjs::Coerced<String>>()?.0;
            walk.spend(text.len() + 2)?;
            Ok(Value::String(text))
        }
        _ => {
            walk.spend(4)?;
            Ok(Value::Null)
        }
    }
}

//! D-Bus values as JSON: what the bus sends (properties, signal arguments) converted to real
//! JSON values, never to their D-Bus text form, so `--json` output has no encoded strings.

use serde_json::{Map, Value};
use zbus::Variant;

/// The JSON for a D-Bus value: numbers and booleans as themselves, strings, object paths and
/// signatures as strings, arrays and structures as arrays, dictionaries as objects (keys in
/// their text form), a variant as its content, a file descriptor as `null`.
pub fn to_json(value: &Variant<'_>) -> Value {
    match value {
        Variant::U8(n) => Value::from(*n),
        Variant::Bool(b) => Value::from(*b),
        Variant::I16(n) => Value::from(*n),
        Variant::U16(n) => Value::from(*n),
        Variant::I32(n) => Value::from(*n),
        Variant::U32(n) => Value::from(*n),
        Variant::I64(n) => Value::from(*n),
        Variant::U64(n) => Value::from(*n),
        Variant::F64(n) => Value::from(*n),
        Variant::Str(s) => Value::from(s.to_string()),
        Variant::Signature(s) => Value::from(s.to_string()),
        Variant::ObjectPath(p) => Value::from(p.as_str()),
        Variant::Variant(inner) => to_json(inner),
        Variant::Array(items) => Value::Array(items.inner().iter().map(to_json).collect()),
        Variant::Dict(dict) => {
            let map: Map<String, Value> = dict
                .iter()
                .map(|(key, value)| (key_text(key), to_json(value)))
                .collect();
            Value::Object(map)
        }
        Variant::Structure(fields) => Value::Array(fields.fields().iter().map(to_json).collect()),
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

/// A dictionary key as an object key: strings as they are, anything else in its JSON text.
fn key_text(key: &Variant<'_>) -> String {
    match to_json(key) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;

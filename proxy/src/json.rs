//! JSON that can mean only one thing. `serde_json` keeps the last of two equal keys, so
//! `{"allowed": false, "allowed": true}` reads as `true` here while another parser in the
//! partner's stack (or a log viewer, or a security reviewer) reads `false`. Where an answer
//! decides something (the authoriser's yes, Mono's events), a duplicate key anywhere in it
//! makes the whole answer unreadable instead.

use std::{cell::Cell, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body is not one JSON value with a single meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStrictJson {
    /// Not JSON at all (or something after it).
    Invalid,
    /// An object gives the same key twice.
    DuplicateKey,
}

impl fmt::Display for NotStrictJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "not JSON",
            Self::DuplicateKey => "JSON that gives a key twice",
        })
    }
}

impl std::error::Error for NotStrictJson {}

/// Parses `body` as JSON, refusing a duplicate key in any object at any depth.
pub fn parse_strict(body: &[u8]) -> Result<Value, NotStrictJson> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = Strict(&duplicate)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if duplicate.get() => Err(NotStrictJson::DuplicateKey),
        Err(_) => Err(NotStrictJson::Invalid),
    }
}

/// A [`Value`] built by a visitor that refuses repeated keys, noting why in the cell.
#[derive(Clone, Copy)]
struct Strict<'a>(&'a Cell<bool>);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.0.set(true);
                return Err(de::Error::custom(format_args!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_meaning_or_none() {
        assert_eq!(
            parse_strict(br#"{"a": [1, {"b": null}], "c": "d"}"#).unwrap(),
            serde_json::json!({"a": [1, {"b": null}], "c": "d"})
        );
        for ambiguous in [
            r#"{"allowed": false, "allowed": true, "principal": "x"}"#,
            r#"{"allowed": true, "principal": "a", "principal": "b"}"#,
            r#"{"data": {"account": {"id": "a", "id": "b"}}}"#,
            r#"[{"x": 1, "x": 1}]"#,
        ] {
            assert_eq!(
                parse_strict(ambiguous.as_bytes()),
                Err(NotStrictJson::DuplicateKey),
                "{ambiguous}"
            );
        }
        assert_eq!(parse_strict(b"{} trailing"), Err(NotStrictJson::Invalid));
        assert_eq!(parse_strict(b""), Err(NotStrictJson::Invalid));
    }
}

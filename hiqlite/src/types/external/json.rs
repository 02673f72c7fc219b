//! JSON documents (feature `json`): `serde_json::Value`, and any serde type inside [`Json`].
//! Bound as TEXT (the JSON text, which SQLite's `json_*` functions and `->>` read); read from
//! TEXT or a BLOB holding JSON text, and for `serde_json::Value` also from INTEGER, REAL and NULL.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::decode::{Decode, DecodeError, ValueRef};
use crate::types::sql_type::{kind, storage, ArgType, ColumnFit};
use crate::types::value::Value;

/// A value stored as its JSON text: `Json(my_struct)` as a parameter, `Json<MyStruct>` as a
/// field or `query!` override (`AS "prefs: Json<Prefs>"`). `T` is serialized with `serde_json`
/// when bound and deserialized when read.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use hiqlite::types::Json;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Prefs { theme: String }
/// let v = hiqlite::Value::from(Json(Prefs { theme: "dark".into() }));
/// assert_eq!(v, hiqlite::Value::Text(r#"{"theme":"dark"}"#.into()));
/// # }
/// ```
///
/// # Panics
/// Binding panics if `T`'s `Serialize` fails, which serde_json does only for a map whose keys
/// are not strings or numbers, or a `Serialize` impl that returns an error: a bug in `T`, the
/// same on every run (as `ToString` panics when a `Display` impl fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

fn to_text<T: Serialize + ?Sized>(value: &T) -> Value {
    match serde_json::to_string(value) {
        Ok(text) => Value::Text(text),
        Err(e) => panic!(
            "hiqlite::types::Json: serializing `{}` failed: {e}",
            std::any::type_name::<T>()
        ),
    }
}

impl<T: Serialize> From<Json<T>> for Value {
    fn from(j: Json<T>) -> Self {
        to_text(&j.0)
    }
}

impl<T: Serialize> From<&Json<T>> for Value {
    fn from(j: &Json<T>) -> Self {
        to_text(&j.0)
    }
}

impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        to_text(&j)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(j: &serde_json::Value) -> Self {
        to_text(j)
    }
}

fn json_text<'v>(value: ValueRef<'v>) -> Result<&'v [u8], DecodeError> {
    match value {
        ValueRef::Text(t) | ValueRef::Blob(t) => Ok(t),
        _ => Err(DecodeError::InvalidType),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        DecodeError::Invalid(format!(
            "not JSON for `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
}

impl<T: DeserializeOwned> Decode for Json<T> {
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        parse(json_text(value)?).map(Json)
    }
}

impl Decode for serde_json::Value {
    /// NULL is JSON `null`; numbers are JSON numbers; text and blobs are parsed.
    fn decode(value: ValueRef<'_>) -> Result<Self, DecodeError> {
        match value {
            ValueRef::Null => Ok(serde_json::Value::Null),
            ValueRef::Integer(i) => Ok(i.into()),
            ValueRef::Real(r) => Ok(serde_json::Number::from_f64(r)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)),
            other => parse(json_text(other)?),
        }
    }
}

impl<T> ColumnFit for Json<T> {
    const ACCEPTS: u32 = kind::TEXT | kind::BLOB | kind::NUMERIC | kind::ANY;
}
impl ColumnFit for serde_json::Value {
    const ACCEPTS: u32 = kind::ALL;
}
impl<T> ArgType for Json<T> {
    type Storage = storage::TEXT;
}
impl ArgType for serde_json::Value {
    type Storage = storage::TEXT;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Prefs {
        theme: String,
        sizes: Vec<u8>,
    }

    #[test]
    fn round_trips_as_text() {
        let p = Prefs {
            theme: "dark".into(),
            sizes: vec![1, 2],
        };
        let v = Value::from(Json(&p));
        assert_eq!(v, Value::Text(r#"{"theme":"dark","sizes":[1,2]}"#.into()));
        let back = Json::<Prefs>::decode(v.as_ref()).unwrap();
        assert_eq!(back.0, p);
        let err = Json::<Prefs>::decode(ValueRef::Text(b"{\"theme\":1}")).unwrap_err();
        assert!(err.to_string().contains("not JSON for"), "{err}");
        assert_eq!(
            serde_json::Value::decode(ValueRef::Integer(3)),
            Ok(serde_json::json!(3))
        );
        assert_eq!(
            serde_json::Value::decode(ValueRef::Text(b"[1,\"a\"]")),
            Ok(serde_json::json!([1, "a"]))
        );
        assert_eq!(
            serde_json::Value::decode(ValueRef::Null),
            Ok(serde_json::Value::Null)
        );
    }
}

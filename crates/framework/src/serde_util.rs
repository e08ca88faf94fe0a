//! Small serde helpers that reproduce pydantic's defaults and null handling.

use serde::{Deserialize, Deserializer};

use crate::JsonMap;

/// Default for `Optional[dict] = Field(default_factory=dict)`: absent means `{}`, `null` stays `None`.
pub(crate) fn some_empty_map() -> Option<JsonMap> {
    Some(JsonMap::new())
}

/// Default for `Optional[str] = ""` (PluginErrorModel.code).
pub(crate) fn some_empty_string() -> Option<String> {
    Some(String::new())
}

/// Accept `null` as the type's default. Used for non-nullable containers (`state`, `metadata`, lists),
/// where being lenient on input costs nothing and a peer sending `null` is not worth a failed call.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list whose "wrong type" error says what the list holds (`expecting`, e.g. "a list of
/// plugin entries"); `null` reads as empty, as [`null_as_default`].
pub(crate) fn list_of<'de, D, T>(d: D, expecting: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_option(ListVisitor(expecting, std::marker::PhantomData))
}

/// Remove the top-level keys whose value is `null`, except `keep`: the Python client's
/// `exclude_none=True` for model fields. Nulls nested in free-form values are untouched.
pub(crate) fn strip_top_level_nulls(value: &mut serde_json::Value, keep: &[&str]) {
    if let serde_json::Value::Object(map) = value {
        map.retain(|k, v| !v.is_null() || keep.contains(&k.as_str()));
    }
}

/// pydantic "lax mode" coercions for config scalars, so a quoted template such as
/// `port: "{{ env.PORT }}"` or `verify: "{{ env.VERIFY }}"` loads as it does in Python.
pub(crate) mod lax {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    fn describe(v: &Value) -> String {
        match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        }
    }

    pub(crate) fn to_i64(v: &Value) -> Result<i64, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| format!("expected an integer, found {n}")),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("expected an integer, found {}", describe(v))),
            Value::Bool(b) => Ok(i64::from(*b)),
            other => Err(format!("expected an integer, found {}", describe(other))),
        }
    }

    pub(crate) fn to_f64(v: &Value) -> Result<f64, String> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| format!("expected a number, found {n}")),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a number, found {}", describe(v))),
            other => Err(format!("expected a number, found {}", describe(other))),
        }
    }

    pub(crate) fn to_bool(v: &Value) -> Result<bool, String> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
                "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
                _ => Err(format!("expected true or false, found {}", describe(v))),
            },
            other => Err(format!("expected true or false, found {}", describe(other))),
        }
    }

    pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        to_i64(&Value::deserialize(d)?).map_err(D::Error::custom)
    }

    pub(crate) fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        to_f64(&Value::deserialize(d)?).map_err(D::Error::custom)
    }

    pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => to_i64(&v).map(Some).map_err(D::Error::custom),
        }
    }

    pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => to_f64(&v).map(Some).map_err(D::Error::custom),
        }
    }

    /// `null` counts as `false` (the default of every bool setting).
    pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(false),
            v => to_bool(&v).map_err(D::Error::custom),
        }
    }

    pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => to_bool(&v).map(Some).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::lax;
    use serde_json::json;

    #[test]
    fn lax_coercions_match_pydantic() {
        assert_eq!(lax::to_i64(&json!(" 42 ")), Ok(42));
        assert_eq!(lax::to_i64(&json!(7.0)), Ok(7));
        assert!(lax::to_i64(&json!(7.5)).is_err());
        assert!(lax::to_i64(&json!("7.5")).is_err());
        assert_eq!(lax::to_f64(&json!("0.25")), Ok(0.25));
        for t in ["true", "True", "YES", "on", "1", "t", "y"] {
            assert_eq!(lax::to_bool(&json!(t)), Ok(true), "{t}");
        }
        for f in ["false", "Off", "no", "0", "f", "n"] {
            assert_eq!(lax::to_bool(&json!(f)), Ok(false), "{f}");
        }
        assert_eq!(lax::to_bool(&json!(1)), Ok(true));
        let e = lax::to_bool(&json!("maybe")).unwrap_err();
        assert!(e.contains("maybe"), "{e}");
        assert!(lax::to_bool(&json!(2)).is_err());
    }
}

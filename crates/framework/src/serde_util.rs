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

/// The keys a derived `Deserialize` struct reads (serde's own list, as handed to
/// `deserialize_struct`), so a check for unknown keys needs no second list to keep in step.
/// Empty for a type that is not deserialized as a struct.
pub(crate) fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{value::Error, Error as _, Visitor};

    struct Fields<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("fields read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // Always an error: the point is the list the struct handed over.
    let _ = T::deserialize(Fields(&mut fields));
    fields
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
            Value::Bool(b) => format!("the boolean {b}"),
            other => other.to_string(),
        }
    }

    /// pydantic's lax integer: an integer, a whole float (`8000.0`) or a string holding an
    /// integer (`"8000"`, from a quoted template). Unlike pydantic, never a boolean: `port: true`
    /// would be port 1 (docs/decisions.md #103).
    pub(crate) fn to_i64(v: &Value) -> Result<i64, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    // Whole and inside i64's range (`as` would saturate 1e30 to i64::MAX).
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| format!("expected an integer, found {n}")),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("expected an integer, found {}", describe(v))),
            Value::Bool(b) => Err(format!(
                "expected an integer, found the boolean {b} (a boolean is not read as 0 or 1)"
            )),
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

    /// Where plugwire is stricter than pydantic (docs/decisions.md #103): a boolean is not an
    /// integer, and a whole float outside i64 is refused rather than saturated.
    #[test]
    fn booleans_are_not_numbers() {
        for b in [true, false] {
            let e = lax::to_i64(&json!(b)).unwrap_err();
            assert!(e.contains(&format!("found the boolean {b}")), "{e}");
            let e = lax::to_f64(&json!(b)).unwrap_err();
            assert!(e.contains(&format!("found the boolean {b}")), "{e}");
        }
        assert!(lax::to_i64(&json!(1e30)).is_err());
        assert_eq!(lax::to_i64(&json!(-8000.0)), Ok(-8000));
    }

    /// The struct's own key list, renamed keys as serde spells them.
    #[test]
    fn struct_fields_lists_a_derived_structs_keys() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            a: i64,
            #[serde(rename = "bee")]
            b: Option<String>,
        }
        assert_eq!(super::struct_fields::<S>(), ["a", "bee"]);
        assert!(super::struct_fields::<Vec<S>>().is_empty());
    }
}

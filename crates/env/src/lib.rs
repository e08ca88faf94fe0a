#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::HashMap;
use std::fmt;

pub mod vars;

/// A source of environment variables. Names are exact (upper case).
///
/// Only [`Env::var`] is implemented by a source; the rules of what a value means
/// ([`Env::get`], [`Env::get_bool`]) are written once, here.
pub trait Env {
    /// The raw value of `name`, or `None` when it is not set. Templating (`{{ env.VAR }}`)
    /// substitutes raw values; settings read through [`Env::get`].
    fn var(&self, name: &str) -> Option<String>;

    /// The value of `name`, trimmed; an empty or all-blank value counts as unset, so
    /// `VAR=` in a compose file or a Kubernetes manifest never overrides the YAML.
    fn get(&self, name: &str) -> Option<String> {
        self.var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The boolean variable `name`: unset/empty gives `None`, a spelling [`parse_bool`] does
    /// not know an error naming the variable.
    fn get_bool(&self, name: &'static str) -> Result<Option<bool>, InvalidBool> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_bool(&v).map(Some).ok_or(InvalidBool {
                var: name,
                value: v,
            }),
        }
    }
}

/// The real process environment. Only the binary's entry point creates one; everything else
/// takes a `&dyn Env`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // A value that is not valid UTF-8 cannot be a path we print nor a number; treat it as
        // lossy text so the error that follows names the variable instead of ignoring it.
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

/// An environment with no variables: for tests, and for embedders that configure through the
/// YAML alone and do not want the process environment to change what a file means.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyEnv;

impl Env for EmptyEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_string())
    }
}

impl<T: Env + ?Sized> Env for &T {
    fn var(&self, name: &str) -> Option<String> {
        (**self).var(name)
    }
}

impl<T: Env + ?Sized> Env for std::sync::Arc<T> {
    fn var(&self, name: &str) -> Option<String> {
        (**self).var(name)
    }
}

/// [`Env::get`] as a free function, for `&dyn Env` call sites.
pub fn get(env: &dyn Env, name: &str) -> Option<String> {
    env.get(name)
}

/// [`Env::get_bool`] as a free function.
pub fn get_bool(env: &dyn Env, name: &'static str) -> Result<Option<bool>, InvalidBool> {
    env.get_bool(name)
}

/// Parses a boolean: `1/0/true/false/yes/no/on/off`, any case, surrounding blanks ignored.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A boolean variable with a spelling we do not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid boolean value {value:?} in environment variable {var}: use 1/0, true/false, yes/no or on/off")]
pub struct InvalidBool {
    /// The variable.
    pub var: &'static str,
    /// What it held.
    pub value: String,
}

/// Where a resolved value came from, so error messages point at the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Built-in default.
    Default,
    /// A YAML key, spelled out in full (e.g. `server_settings.tls.certfile`).
    Yaml(String),
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::Yaml(key) => write!(f, "YAML key `{key}`"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Sourced<T> {
    /// A built-in default.
    pub fn default_value(value: T) -> Self {
        Sourced {
            value,
            origin: Origin::Default,
        }
    }

    /// Maps the value, keeping the origin.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: f(self.value),
            origin: self.origin,
        }
    }
}

/// One setting that can be given in two places: a YAML key (spelled in full) and a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Full YAML key, e.g. `server_settings.tls.certfile`.
    pub yaml: String,
    /// Environment variable.
    pub var: &'static str,
}

impl Key {
    /// `prefix.field` in YAML, `var` in the environment.
    pub fn new(prefix: &str, field: &str, var: &'static str) -> Self {
        Key {
            yaml: format!("{prefix}.{field}"),
            var,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "YAML key `{}` or environment variable {}",
            self.yaml, self.var
        )
    }
}

/// The one layering rule, used by every settings section: a set variable wins over the YAML
/// value, field by field; neither gives `None` (the caller's default).
///
/// `from_env` gets the trimmed, non-empty value; `from_yaml` the YAML value. Each also gets the
/// [`Origin`] it is converting from, so its error can name the variable or the key. The YAML
/// value is not converted (nor checked) when the variable wins.
pub fn layer<Y, T, E>(
    env: &dyn Env,
    key: &Key,
    yaml: Option<Y>,
    from_yaml: impl FnOnce(Y, &Origin) -> Result<T, E>,
    from_env: impl FnOnce(String, &Origin) -> Result<T, E>,
) -> Result<Option<Sourced<T>>, E> {
    if let Some(v) = env.get(key.var) {
        let origin = Origin::Env(key.var);
        let value = from_env(v, &origin)?;
        return Ok(Some(Sourced { value, origin }));
    }
    match yaml {
        Some(y) => {
            let origin = Origin::Yaml(key.yaml.clone());
            let value = from_yaml(y, &origin)?;
            Ok(Some(Sourced { value, origin }))
        }
        None => Ok(None),
    }
}

/// [`layer`] for values that need no conversion (paths, strings): cannot fail.
pub fn layer_plain<T>(
    env: &dyn Env,
    key: &Key,
    yaml: Option<T>,
    from_env: impl FnOnce(String) -> T,
) -> Option<Sourced<T>> {
    let r: Result<_, std::convert::Infallible> =
        layer(env, key, yaml, |y, _| Ok(y), |v, _| Ok(from_env(v)));
    match r {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// [`layer`] for booleans: the variable in any [`parse_bool`] spelling, else the YAML value.
pub fn layer_bool(
    env: &dyn Env,
    key: &Key,
    yaml: Option<bool>,
) -> Result<Option<Sourced<bool>>, InvalidBool> {
    let var = key.var;
    layer(
        env,
        key,
        yaml,
        |y, _| Ok(y),
        |v, _| {
            parse_bool(&v).ok_or(InvalidBool {
                var,
                value: v.clone(),
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bool_spellings() {
        for t in ["1", "true", "TRUE", "Yes", "on", " On "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "False", "NO", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["maybe", "t", "y", "2", ""] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_is_unset_and_values_are_trimmed() {
        let e = env(&[("A", ""), ("B", "  "), ("C", " x \n")]);
        assert_eq!(get(&e, "A"), None);
        assert_eq!(get(&e, "B"), None);
        assert_eq!(get(&e, "C").as_deref(), Some("x"));
        assert_eq!(get(&e, "D"), None);
        // Templating sees the raw value.
        assert_eq!(e.var("C").as_deref(), Some(" x \n"));
    }

    #[test]
    fn bad_bool_names_the_variable() {
        let e = env(&[("X_VERIFY", "maybe")]);
        let err = get_bool(&e, "X_VERIFY").unwrap_err().to_string();
        assert!(err.contains("X_VERIFY") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn layer_precedence_table() {
        let key = Key::new("s", "port", "P");
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<u16>, Option<(u16, Origin)>);
        let cases: &[Case] = &[
            (&[], None, None),
            (&[], Some(1), Some((1, Origin::Yaml("s.port".into())))),
            (&[("P", "2")], Some(1), Some((2, Origin::Env("P")))),
            (&[("P", " 3 ")], None, Some((3, Origin::Env("P")))),
            (
                &[("P", "  ")],
                Some(1),
                Some((1, Origin::Yaml("s.port".into()))),
            ),
        ];
        for (pairs, yaml, want) in cases {
            let got: Option<Sourced<u16>> = layer(
                &env(pairs),
                &key,
                *yaml,
                |y, _| Ok::<_, String>(y),
                |v, _| v.parse().map_err(|_| v),
            )
            .unwrap();
            assert_eq!(
                got.map(|s| (s.value, s.origin)),
                want.clone(),
                "{pairs:?} {yaml:?}"
            );
        }
    }

    #[test]
    fn layer_does_not_check_an_overridden_yaml_value() {
        let key = Key::new("s", "port", "P");
        let got = layer(
            &env(&[("P", "5")]),
            &key,
            Some(-1i64),
            |_, o| Err(format!("bad yaml {o}")),
            |v, _| v.parse::<i64>().map_err(|e| e.to_string()),
        )
        .unwrap();
        assert_eq!(got.map(|s| s.value), Some(5));
        let err = layer(
            &env(&[]),
            &key,
            Some(-1i64),
            |_, o| Err(format!("bad {o}")),
            |v, _| v.parse::<i64>().map_err(|e| e.to_string()),
        )
        .unwrap_err();
        assert_eq!(err, "bad YAML key `s.port`");
    }

    #[test]
    fn layer_bool_names_the_variable() {
        let key = Key::new("mcp.tls", "verify", "V");
        assert_eq!(
            layer_bool(&env(&[("V", "off")]), &key, Some(true))
                .unwrap()
                .map(|s| s.value),
            Some(false)
        );
        let err = layer_bool(&env(&[("V", "sure")]), &key, None).unwrap_err();
        assert_eq!(err.var, "V");
    }
}

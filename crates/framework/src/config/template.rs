//! `{{ env.VAR }}` templating of the plugins YAML, compatible with the Jinja forms users write.
//!
//! Python renders the whole file with Jinja and `env = os.environ`. We render the same forms once for
//! the whole file, without HTML escaping, and an unset variable is an error (decision 5) instead of an
//! empty string. Supported: `{{ env.VAR }}`, `{{env.VAR}}`, `{{ env['VAR'] }}`, `{{ env.get('VAR') }}`,
//! `{{ env.get('VAR', 'x') }}`, `{{ env.VAR | default('x') }}`, `{% raw %}…{% endraw %}` and
//! `{# comments #}`. Expressions that do not read `env` (e.g. a webhook template's `{{event}}`) are
//! left as written; YAML comment lines are not rendered at all.

use super::ConfigError;

/// Render `text`; `file` is only used in error messages.
pub fn render_template(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut line = 1usize;
    let mut at_line_start = true;
    while !rest.is_empty() {
        // YAML comment lines are copied verbatim: a template there is documentation, not config.
        if at_line_start {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed.starts_with('#') {
                let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
                out.push_str(&rest[..end]);
                if rest[..end].ends_with('\n') {
                    line += 1;
                }
                rest = &rest[end..];
                continue;
            }
        }
        let next = rest.find(['{', '\n']);
        let Some(i) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('\n') {
            out.push('\n');
            line += 1;
            at_line_start = true;
            rest = &rest[1..];
            continue;
        }
        at_line_start = false;
        if let Some(body) = rest.strip_prefix("{{") {
            let Some(end) = body.find("}}") else {
                return Err(ConfigError::Template {
                    file: file.to_owned(),
                    line,
                    message: "template expression `{{` is not closed by `}}`".to_owned(),
                });
            };
            let expr = &body[..end];
            let whole = &rest[..end + 4];
            match render_expr(expr, env) {
                Rendered::Value(v) => out.push_str(&v),
                Rendered::NotEnv => {
                    tracing::warn!(
                        file,
                        line,
                        expression = whole,
                        "template expression does not read `env`; left as written"
                    );
                    out.push_str(whole);
                }
                Rendered::Unset(variable) => {
                    return Err(ConfigError::UnsetVariable {
                        file: file.to_owned(),
                        line,
                        variable,
                    })
                }
                Rendered::Bad(message) => {
                    return Err(ConfigError::Template {
                        file: file.to_owned(),
                        line,
                        message: format!("cannot render `{whole}`: {message}"),
                    })
                }
            }
            line += whole.matches('\n').count();
            rest = &rest[whole.len()..];
        } else if let Some(body) = rest.strip_prefix("{#") {
            let Some(end) = body.find("#}") else {
                return Err(ConfigError::Template {
                    file: file.to_owned(),
                    line,
                    message: "template comment `{#` is not closed by `#}`".to_owned(),
                });
            };
            line += body[..end].matches('\n').count();
            rest = &body[end + 2..];
        } else if let Some(body) = rest.strip_prefix("{%") {
            let Some(end) = body.find("%}") else {
                return Err(ConfigError::Template {
                    file: file.to_owned(),
                    line,
                    message: "template statement `{%` is not closed by `%}`".to_owned(),
                });
            };
            let stmt = body[..end].trim().trim_matches('-').trim();
            if stmt != "raw" {
                return Err(ConfigError::Template {
                    file: file.to_owned(),
                    line,
                    message: format!(
                        "unsupported template statement `{{% {stmt} %}}`; plugwire supports `{{{{ env.VAR }}}}` expressions and `{{% raw %}}` blocks only"
                    ),
                });
            }
            let after = &body[end + 2..];
            let Some((raw, tail)) = split_endraw(after) else {
                return Err(ConfigError::Template {
                    file: file.to_owned(),
                    line,
                    message: "`{% raw %}` without `{% endraw %}`".to_owned(),
                });
            };
            out.push_str(raw);
            line += body[..end].matches('\n').count() + raw.matches('\n').count();
            rest = tail;
        } else {
            out.push('{');
            rest = &rest[1..];
        }
    }
    Ok(out)
}

/// Find `{% endraw %}` (any inner spacing, optional `-`); return (raw text, text after the tag).
fn split_endraw(s: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("{%") {
        let start = from + i;
        let body = &s[start + 2..];
        let end = body.find("%}")?;
        if body[..end].trim().trim_matches('-').trim() == "endraw" {
            return Some((&s[..start], &body[end + 2..]));
        }
        from = start + 2;
    }
    None
}

enum Rendered {
    Value(String),
    NotEnv,
    Unset(String),
    Bad(String),
}

fn render_expr(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Rendered {
    let parts = split_filters(expr);
    let base = parts[0].trim();
    if !(base == "env" || base.starts_with("env.") || base.starts_with("env[")) {
        return Rendered::NotEnv;
    }
    let (name, mut default) = match parse_env_ref(base) {
        Ok(x) => x,
        Err(m) => return Rendered::Bad(m),
    };
    for filter in &parts[1..] {
        let f = filter.trim();
        let args = f.strip_prefix("default").or_else(|| {
            f.strip_prefix('d')
                .filter(|r| r.trim_start().starts_with('('))
        });
        let Some(args) = args else {
            return Rendered::Bad(format!(
                "unsupported filter `{f}`; only `default('value')` is supported"
            ));
        };
        let inner = args.trim();
        let Some(inner) = inner.strip_prefix('(').and_then(|x| x.strip_suffix(')')) else {
            return Rendered::Bad(format!("malformed filter `{f}`"));
        };
        let first = inner.split(',').next().unwrap_or("").trim();
        match parse_literal(first) {
            Some(v) => default = Some(v),
            None => {
                return Rendered::Bad(format!(
                    "the default in `{f}` must be a quoted string or a number"
                ))
            }
        }
    }
    match env(&name) {
        Some(v) => Rendered::Value(v),
        None => match default {
            Some(d) => Rendered::Value(d),
            None => Rendered::Unset(name),
        },
    }
}

/// Split on top-level `|` (outside quotes).
fn split_filters(expr: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '|') => {
                parts.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&expr[start..]);
    parts
}

/// `env.NAME`, `env['NAME']`, `env.get('NAME')`, `env.get('NAME', 'default')`.
fn parse_env_ref(base: &str) -> Result<(String, Option<String>), String> {
    if let Some(args) = base.strip_prefix("env.get") {
        let inner = args
            .trim()
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or("malformed `env.get(...)`")?;
        let mut it = split_args(inner).into_iter();
        let name = it
            .next()
            .and_then(|a| parse_literal(a.trim()))
            .ok_or("`env.get` needs a quoted variable name")?;
        let default = match it.next() {
            Some(a) => Some(
                parse_literal(a.trim())
                    .ok_or("the default of `env.get` must be a quoted string or a number")?,
            ),
            None => None,
        };
        return Ok((name, default));
    }
    if let Some(name) = base.strip_prefix("env.") {
        let name = name.trim();
        if is_ident(name) {
            return Ok((name.to_owned(), None));
        }
        return Err(format!("`{name}` is not a valid variable name"));
    }
    if let Some(idx) = base.strip_prefix("env[").and_then(|x| x.strip_suffix(']')) {
        let name = parse_literal(idx.trim()).ok_or("`env[...]` needs a quoted variable name")?;
        return Ok((name, None));
    }
    Err("write `env.VAR`, `env['VAR']` or `env.get('VAR', 'default')`".to_owned())
}

fn split_args(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A quoted string (single or double) or a bare number.
fn parse_literal(s: &str) -> Option<String> {
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            if s.len() >= 2 {
                return Some(inner.to_owned());
            }
        }
    }
    if !s.is_empty() && s.parse::<f64>().is_ok() {
        return Some(s.to_owned());
    }
    None
}

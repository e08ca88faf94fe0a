//! `{{ env.VAR }}` templating of the plugins YAML, compatible with the Jinja forms users write.
//!
//! Python renders the whole file with Jinja and `env = os.environ`. We render the same forms once for
//! the whole file, without HTML escaping, and an unset variable is an error instead of an
//! empty string (docs/decisions.md #5). Supported: `{{ env.VAR }}`, `{{env.VAR}}`,
//! `{{ env['VAR'] }}`, `{{ env.get('VAR') }}`,
//! `{{ env.get('VAR', 'x') }}`, `{{ env.VAR | default('x') }}` (defaults may nest:
//! `default(env.B | default("x"))`), `{% raw %}…{% endraw %}` and
//! `{# comments #}`. Expressions that do not read `env` (e.g. a webhook template's `{{event}}`) are
//! left as written; YAML comment lines are not rendered at all.

use plugwire_env::Env;

use super::ConfigError;

/// Render `text`; `file` is only used in error messages. Values are substituted raw
/// ([`Env::var`], untrimmed, an empty value stays empty), as Jinja over `os.environ` does.
pub fn render_template(text: &str, file: &str, env: &dyn Env) -> Result<String, ConfigError> {
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

/// The expression language: `env` references, quoted literals and the `default` filter, which may
/// nest (`env.A | default(env.B | default("x"))`, as upstream's config uses).
enum Expr {
    /// `env.NAME` / `env['NAME']`, or `env.get('NAME', fallback)`.
    Env(String, Option<Box<Expr>>),
    Lit(String),
    Default(Box<Expr>, Box<Expr>),
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.ws();
        let r = self.rest();
        let n = r
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
            })
            .map_or(r.len(), |(i, _)| i);
        (n > 0).then(|| {
            self.pos += n;
            &r[..n]
        })
    }

    /// A quoted string or a number.
    fn literal(&mut self) -> Option<String> {
        self.ws();
        let r = self.rest();
        let q = r.chars().next()?;
        if q == '\'' || q == '"' {
            let end = r[1..].find(q)?;
            self.pos += end + 2;
            return Some(r[1..end + 1].to_owned());
        }
        let n = r
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(r.len());
        let num = &r[..n];
        if n > 0 && num.parse::<f64>().is_ok() {
            self.pos += n;
            return Some(num.to_owned());
        }
        None
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        while self.eat("|") {
            let f = self.ident().ok_or("expected a filter name after `|`")?;
            if f != "default" && f != "d" {
                return Err(format!(
                    "unsupported filter `{f}`; only `default(...)` is supported"
                ));
            }
            if !self.eat("(") {
                return Err(format!("`{f}` needs an argument, e.g. default('value')"));
            }
            let arg = self.expr()?;
            if self.eat(",") {
                // default(value, boolean): the flag (also apply to empty values) is accepted and ignored.
                self.ident()
                    .ok_or("expected true or false as the second argument of `default`")?;
            }
            if !self.eat(")") {
                return Err("missing `)`".to_owned());
            }
            e = Expr::Default(Box::new(e), Box::new(arg));
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        if let Some(l) = self.literal() {
            return Ok(Expr::Lit(l));
        }
        let start = self.pos;
        match self.ident() {
            Some("env") => {}
            Some(_) | None => {
                self.pos = start;
                return Err(NOT_ENV.to_owned());
            }
        }
        if self.eat("[") {
            let name = self
                .literal()
                .ok_or("`env[...]` needs a quoted variable name")?;
            if !self.eat("]") {
                return Err("missing `]`".to_owned());
            }
            return Ok(Expr::Env(name, None));
        }
        if !self.eat(".") {
            return Err("write `env.VAR`, `env['VAR']` or `env.get('VAR', 'default')`".to_owned());
        }
        let name = self
            .ident()
            .ok_or("expected a variable name after `env.`")?;
        if name == "get" && self.eat("(") {
            let var = self
                .literal()
                .ok_or("`env.get` needs a quoted variable name")?;
            let fallback = if self.eat(",") {
                Some(Box::new(self.expr()?))
            } else {
                None
            };
            if !self.eat(")") {
                return Err("missing `)`".to_owned());
            }
            return Ok(Expr::Env(var, fallback));
        }
        Ok(Expr::Env(name.to_owned(), None))
    }
}

const NOT_ENV: &str = "\u{0}not-env";

/// Evaluate; `Err(name)` is the first unset variable that had no default.
fn eval(e: &Expr, env: &dyn Env) -> Result<String, String> {
    match e {
        Expr::Lit(s) => Ok(s.clone()),
        Expr::Env(name, fallback) => match (env.var(name), fallback) {
            (Some(v), _) => Ok(v),
            (None, Some(f)) => eval(f, env),
            (None, None) => Err(name.clone()),
        },
        Expr::Default(inner, dflt) => match eval(inner, env) {
            Ok(v) => Ok(v),
            Err(_) => eval(dflt, env),
        },
    }
}

fn render_expr(expr: &str, env: &dyn Env) -> Rendered {
    // Only expressions that start with `env` are ours; anything else (`{{event}}`) is kept.
    let first: String = expr
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if first != "env" {
        return Rendered::NotEnv;
    }
    let mut p = Parser { s: expr, pos: 0 };
    let parsed = match p.expr() {
        Ok(e) => e,
        Err(m) if m == NOT_ENV => {
            return Rendered::Bad(
                "only `env` references and quoted literals are supported".to_owned(),
            )
        }
        Err(m) => return Rendered::Bad(m),
    };
    p.ws();
    if !p.rest().is_empty() {
        return Rendered::Bad(format!("unexpected `{}`", p.rest().trim()));
    }
    match eval(&parsed, env) {
        Ok(v) => Rendered::Value(v),
        Err(name) => Rendered::Unset(name),
    }
}

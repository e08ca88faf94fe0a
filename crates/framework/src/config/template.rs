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
    let mut r = Renderer {
        file,
        env,
        out: String::with_capacity(text.len()),
        line: 1,
    };
    let mut rest = text;
    let mut at_line_start = true;
    while !rest.is_empty() {
        if at_line_start {
            if let Some(tail) = r.yaml_comment_line(rest) {
                rest = tail;
                continue;
            }
        }
        let Some(i) = rest.find(['{', '\n']) else {
            r.out.push_str(rest);
            break;
        };
        r.out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(tail) = rest.strip_prefix('\n') {
            r.out.push('\n');
            r.line += 1;
            at_line_start = true;
            rest = tail;
            continue;
        }
        at_line_start = false;
        rest = if let Some(body) = rest.strip_prefix("{{") {
            r.expression(rest, body)?
        } else if let Some(body) = rest.strip_prefix("{#") {
            r.comment(body)?
        } else if let Some(body) = rest.strip_prefix("{%") {
            r.statement(body)?
        } else {
            r.out.push('{');
            &rest[1..]
        };
    }
    Ok(r.out)
}

/// The state of one rendering: the output so far and the line we are on (for errors).
struct Renderer<'a> {
    file: &'a str,
    env: &'a dyn Env,
    out: String,
    line: usize,
}

impl Renderer<'_> {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Template {
            file: self.file.to_owned(),
            line: self.line,
            message: message.into(),
        }
    }

    /// At a line start: a YAML comment line is copied verbatim (a template there is
    /// documentation, not config); returns the text after it, or `None` for any other line.
    fn yaml_comment_line<'t>(&mut self, rest: &'t str) -> Option<&'t str> {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if !trimmed.starts_with('#') {
            return None;
        }
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        self.out.push_str(&rest[..end]);
        if rest[..end].ends_with('\n') {
            self.line += 1;
        }
        Some(&rest[end..])
    }

    /// `{{ … }}`: `rest` starts at `{{`, `body` right after it. Returns the text after `}}`.
    fn expression<'t>(&mut self, rest: &'t str, body: &str) -> Result<&'t str, ConfigError> {
        let Some(end) = body.find("}}") else {
            return Err(self.error("template expression `{{` is not closed by `}}`"));
        };
        let expr = &body[..end];
        let whole = &rest[..end + 4];
        match render_expr(expr, self.env) {
            Rendered::Value(v) => self.out.push_str(&v),
            Rendered::NotEnv => {
                tracing::warn!(
                    file = self.file,
                    line = self.line,
                    expression = whole,
                    "template expression does not read `env`; left as written"
                );
                self.out.push_str(whole);
            }
            Rendered::Unset(variable) => {
                return Err(ConfigError::UnsetVariable {
                    file: self.file.to_owned(),
                    line: self.line,
                    variable,
                })
            }
            Rendered::Bad(message) => {
                return Err(self.error(format!("cannot render `{whole}`: {message}")))
            }
        }
        self.line += whole.matches('\n').count();
        Ok(&rest[whole.len()..])
    }

    /// `{# … #}`: dropped. `body` starts right after `{#`; returns the text after `#}`.
    fn comment<'t>(&mut self, body: &'t str) -> Result<&'t str, ConfigError> {
        let Some(end) = body.find("#}") else {
            return Err(self.error("template comment `{#` is not closed by `#}`"));
        };
        self.line += body[..end].matches('\n').count();
        Ok(&body[end + 2..])
    }

    /// `{% raw %}…{% endraw %}`, the only statement we support: the inside is copied as is.
    /// `body` starts right after `{%`; returns the text after `{% endraw %}`.
    fn statement<'t>(&mut self, body: &'t str) -> Result<&'t str, ConfigError> {
        let Some(end) = body.find("%}") else {
            return Err(self.error("template statement `{%` is not closed by `%}`"));
        };
        let stmt = body[..end].trim().trim_matches('-').trim();
        if stmt != "raw" {
            return Err(self.error(format!(
                "unsupported template statement `{{% {stmt} %}}`; plugwire supports `{{{{ env.VAR }}}}` expressions and `{{% raw %}}` blocks only"
            )));
        }
        let Some((raw, tail)) = split_endraw(&body[end + 2..]) else {
            return Err(self.error("`{% raw %}` without `{% endraw %}`"));
        };
        self.out.push_str(raw);
        self.line += body[..end].matches('\n').count() + raw.matches('\n').count();
        Ok(tail)
    }
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

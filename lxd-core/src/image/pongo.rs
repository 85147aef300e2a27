//! The subset of pongo2 (Django-like) templates that LXD's images use, rendered with
//! autoescaping off as LXD renders them.
//!
//! Supported: text; `{{ expr }}`; `{% if expr %}`, `{% elif expr %}`, `{% else %}`,
//! `{% endif %}`; `{# comments #}` and `{% comment %}...{% endcomment %}`; whitespace control
//! (`{%-`, `-%}`, `{{-`, `-}}`). Expressions: string (`"..."`, `'...'`) and integer literals,
//! `true`/`false`, variables (`trigger`, `path`, `container.KEY`, `instance.KEY`,
//! `config.KEY`, `properties.KEY`), `config_get("key", default)`, `==`, `!=`, `<`, `<=`, `>`,
//! `>=`, `in`, `not`/`!`, `and`/`&&`, `or`/`||` and parentheses.
//!
//! As in pongo2, a missing key of a map is empty (`nil`), a non-empty string is true (so
//! `"false"` is true), and booleans print as `True`/`False`. Anything else (`{% for %}`,
//! filters, `devices`, unknown variables or functions) is an error naming the construct and
//! its line, never dropped.

use std::collections::BTreeMap;

/// A template that cannot be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PongoError {
    /// The line (from 1) of the construct.
    pub line: usize,
    /// What is wrong, naming the construct.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, PongoError> {
    Err(PongoError {
        line,
        message: message.into(),
    })
}

/// What a template sees (LXD's pongo2 context for image templates).
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// The trigger name: `create`, `copy`, `start`, `rename`.
    pub trigger: &'a str,
    /// The target path as written in `metadata.yaml`.
    pub path: &'a str,
    /// `container` and `instance`: name, type, architecture, privileged, ephemeral.
    pub instance: &'a BTreeMap<String, String>,
    /// The instance's (expanded) configuration.
    pub config: &'a BTreeMap<String, String>,
    /// The template rule's properties.
    pub properties: &'a BTreeMap<String, String>,
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Missing (pongo2's nil): prints as nothing, false.
    Nil,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean: prints as `True`/`False`.
    Bool(bool),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
        }
    }

    fn print(&self, out: &mut String) {
        match self {
            Value::Nil => {}
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Int(i64),
    Ident(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    Var(Vec<String>),
    Call(String, Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Print(Expr, usize),
    If(Vec<(Expr, Vec<Node>, usize)>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A piece of the source: text, or the inside of a `{{ }}` / `{% %}` with its line.
enum Piece {
    Text(String),
    Print(Vec<Tok>, usize),
    Tag(Vec<Tok>, usize),
}

const OPS: &[&str] = &[
    "==", "!=", "<>", "<=", ">=", "&&", "||", "<", ">", "(", ")", ",", ".", "|", ":", "!", "[",
    "]", "+", "-", "*", "/", "%", "=", "~", "?",
];

/// Tokenizes from `src[pos..]` up to the closing `close` (`}}` or `%}`), outside quotes.
/// Returns the tokens, whether `-` trimmed the close, and the position after it.
fn lex_inner(
    src: &str,
    mut pos: usize,
    close: &str,
    line: &mut usize,
) -> Result<(Vec<Tok>, bool, usize), PongoError> {
    let bytes = src.as_bytes();
    let start_line = *line;
    let mut toks = Vec::new();
    loop {
        let rest = &src[pos..];
        if rest.is_empty() {
            return err(start_line, format!("unclosed tag: missing {close:?}"));
        }
        if rest.starts_with(close) {
            return Ok((toks, false, pos + close.len()));
        }
        if rest.starts_with('-') && rest[1..].starts_with(close) {
            return Ok((toks, true, pos + 1 + close.len()));
        }
        let c = bytes[pos];
        if c == b'\n' {
            *line += 1;
            pos += 1;
        } else if c.is_ascii_whitespace() {
            pos += 1;
        } else if c == b'"' || c == b'\'' {
            let mut s = String::new();
            let mut chars = rest[1..].char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => s.push('\n'),
                        Some((_, 't')) => s.push('\t'),
                        Some((_, e)) => s.push(e),
                        None => break,
                    },
                    ch if ch == c as char => {
                        end = Some(i);
                        break;
                    }
                    '\n' => {
                        *line += 1;
                        s.push(ch);
                    }
                    ch => s.push(ch),
                }
            }
            let Some(end) = end else {
                return err(*line, "unterminated string literal");
            };
            toks.push(Tok::Str(s));
            pos += 1 + end + 1;
        } else if c.is_ascii_digit() {
            let len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: i64 = rest[..len].parse().map_err(|_| PongoError {
                line: *line,
                message: format!("integer {} out of range", &rest[..len]),
            })?;
            if rest[len..].starts_with('.')
                && rest[len + 1..].starts_with(|c: char| c.is_ascii_digit())
            {
                return err(*line, "floating-point numbers are not supported");
            }
            toks.push(Tok::Int(n));
            pos += len;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            toks.push(Tok::Ident(rest[..len].to_string()));
            pos += len;
        } else if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            toks.push(Tok::Op(op));
            pos += op.len();
        } else {
            let ch = rest.chars().next().unwrap_or('?');
            return err(*line, format!("unexpected character {ch:?}"));
        }
    }
}

fn lex(src: &str) -> Result<Vec<Piece>, PongoError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut pos = 0;
    let mut line = 1;
    let mut trim_next = false;
    while pos < src.len() {
        let rest = &src[pos..];
        let open = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|o| rest.find(o).map(|i| (i, *o)))
            .min();
        let Some((at, open)) = open else {
            text.push_str(rest);
            break;
        };
        let mut chunk = &rest[..at];
        line += chunk.matches('\n').count();
        if trim_next {
            chunk = chunk.trim_start();
        }
        trim_next = false;
        let mut inner = pos + at + 2;
        let trim_before = src[inner..].starts_with('-');
        if trim_before {
            inner += 1;
            chunk = chunk.trim_end();
        }
        text.push_str(chunk);
        if open == "{#" {
            let Some(end) = src[inner..].find("#}") else {
                return err(line, "unclosed comment: missing \"#}\"");
            };
            line += src[inner..inner + end].matches('\n').count();
            pos = inner + end + 2;
            continue;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        let tag_line = line;
        let close = if open == "{{" { "}}" } else { "%}" };
        let (toks, trim_after, next) = lex_inner(src, inner, close, &mut line)?;
        trim_next = trim_after;
        pieces.push(if open == "{{" {
            Piece::Print(toks, tag_line)
        } else {
            Piece::Tag(toks, tag_line)
        });
        pos = next;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Parses expressions from a token list.
struct ExprParser<'a> {
    toks: &'a [Tok],
    pos: usize,
    line: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(i)) if i == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn finish(&self) -> Result<(), PongoError> {
        match self.peek() {
            None => Ok(()),
            Some(Tok::Op("|")) => err(self.line, "filters (`|`) are not supported"),
            Some(t) => err(self.line, format!("unexpected {}", describe(t))),
        }
    }

    fn or(&mut self) -> Result<Expr, PongoError> {
        let mut left = self.and()?;
        while self.eat_word("or") || self.eat_op("||") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, PongoError> {
        let mut left = self.not()?;
        while self.eat_word("and") || self.eat_op("&&") {
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, PongoError> {
        if self.eat_word("not") || self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, PongoError> {
        let left = self.primary()?;
        for op in ["==", "!=", "<>", "<=", ">=", "<", ">"] {
            if self.eat_op(op) {
                let right = self.primary()?;
                let op = if op == "<>" { "!=" } else { op };
                let op: &'static str = ["==", "!=", "<=", ">=", "<", ">"]
                    .into_iter()
                    .find(|o| *o == op)
                    .expect("known operator");
                return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
            }
        }
        if self.eat_word("in") {
            let right = self.primary()?;
            return Ok(Expr::Cmp("in", Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, PongoError> {
        let line = self.line;
        let Some(tok) = self.peek().cloned() else {
            return err(line, "expression expected");
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Expr::Lit(Value::Str(s))),
            Tok::Int(i) => Ok(Expr::Lit(Value::Int(i))),
            Tok::Op("(") => {
                let e = self.or()?;
                if !self.eat_op(")") {
                    return err(line, "missing `)`");
                }
                Ok(e)
            }
            Tok::Op("-") => match self.peek().cloned() {
                Some(Tok::Int(i)) => {
                    self.pos += 1;
                    Ok(Expr::Lit(Value::Int(-i)))
                }
                _ => err(line, "arithmetic (`-`) is not supported"),
            },
            Tok::Ident(w) if w == "true" || w == "True" => Ok(Expr::Lit(Value::Bool(true))),
            Tok::Ident(w) if w == "false" || w == "False" => Ok(Expr::Lit(Value::Bool(false))),
            Tok::Ident(w) if w == "nil" || w == "None" => Ok(Expr::Lit(Value::Nil)),
            Tok::Ident(name) => {
                if self.eat_op("(") {
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.or()?);
                            if self.eat_op(")") {
                                break;
                            }
                            if !self.eat_op(",") {
                                return err(
                                    line,
                                    format!("missing `,` or `)` in the call of {name}"),
                                );
                            }
                        }
                    }
                    return Ok(Expr::Call(name, args));
                }
                let mut path = vec![name];
                while self.eat_op(".") {
                    match self.peek().cloned() {
                        Some(Tok::Ident(k)) => {
                            self.pos += 1;
                            path.push(k);
                        }
                        Some(Tok::Int(i)) => {
                            self.pos += 1;
                            path.push(i.to_string());
                        }
                        _ => return err(line, "a name is expected after `.`"),
                    }
                }
                if matches!(self.peek(), Some(Tok::Op("["))) {
                    return err(line, "subscripts (`[...]`) are not supported");
                }
                Ok(Expr::Var(path))
            }
            Tok::Op(op) => err(line, format!("operator `{op}` is not supported here")),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("number {i}"),
        Tok::Ident(i) => format!("`{i}`"),
        Tok::Op(o) => format!("`{o}`"),
    }
}

fn parse_expr(toks: &[Tok], line: usize) -> Result<Expr, PongoError> {
    let mut p = ExprParser { toks, pos: 0, line };
    let e = p.or()?;
    p.finish()?;
    Ok(e)
}

/// Block-structure parser over the lexed pieces.
struct Parser {
    pieces: std::vec::IntoIter<Piece>,
}

/// How a block of nodes ended.
enum End {
    Eof,
    Elif(Expr, usize),
    Else(usize),
    Endif(usize),
}

impl Parser {
    fn block(&mut self) -> Result<(Vec<Node>, End), PongoError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            match piece {
                Piece::Text(t) => nodes.push(Node::Text(t)),
                Piece::Print(toks, line) => {
                    if toks.is_empty() {
                        return err(line, "empty `{{ }}`");
                    }
                    nodes.push(Node::Print(parse_expr(&toks, line)?, line));
                }
                Piece::Tag(toks, line) => {
                    let Some(Tok::Ident(tag)) = toks.first() else {
                        return err(line, "a tag name is expected after `{%`");
                    };
                    let args = &toks[1..];
                    match tag.as_str() {
                        "if" => nodes.push(self.if_block(parse_expr(args, line)?, line)?),
                        "elif" => return Ok((nodes, End::Elif(parse_expr(args, line)?, line))),
                        "else" => return Ok((nodes, End::Else(line))),
                        "endif" => return Ok((nodes, End::Endif(line))),
                        "comment" => self.skip_comment(line)?,
                        "autoescape" | "endautoescape" => {
                            // Autoescaping is off, as LXD renders; `on` would escape HTML.
                            if args.first() == Some(&Tok::Ident("on".into())) {
                                return err(line, "tag `autoescape on` is not supported");
                            }
                        }
                        other => return err(line, format!("tag `{other}` is not supported")),
                    }
                }
            }
        }
        Ok((nodes, End::Eof))
    }

    fn skip_comment(&mut self, line: usize) -> Result<(), PongoError> {
        for piece in self.pieces.by_ref() {
            if let Piece::Tag(toks, _) = piece {
                if toks.first() == Some(&Tok::Ident("endcomment".into())) {
                    return Ok(());
                }
            }
        }
        err(line, "`{% comment %}` without `{% endcomment %}`")
    }

    fn if_block(&mut self, cond: Expr, line: usize) -> Result<Node, PongoError> {
        let mut branches = Vec::new();
        let mut cond = (cond, line);
        loop {
            let (body, end) = self.block()?;
            branches.push((cond.0, body, cond.1));
            match end {
                End::Elif(c, l) => cond = (c, l),
                End::Else(_) => {
                    let (else_body, end) = self.block()?;
                    return match end {
                        End::Endif(_) => Ok(Node::If(branches, else_body)),
                        End::Elif(_, l) | End::Else(l) => err(l, "`elif`/`else` after `else`"),
                        End::Eof => err(line, "`{% if %}` without `{% endif %}`"),
                    };
                }
                End::Endif(_) => return Ok(Node::If(branches, Vec::new())),
                End::Eof => return err(line, "`{% if %}` without `{% endif %}`"),
            }
        }
    }
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Result<Template, PongoError> {
        let pieces = lex(src)?;
        let mut p = Parser {
            pieces: pieces.into_iter(),
        };
        let (nodes, end) = p.block()?;
        match end {
            End::Eof => Ok(Template { nodes }),
            End::Elif(_, l) => err(l, "`{% elif %}` outside `{% if %}`"),
            End::Else(l) => err(l, "`{% else %}` outside `{% if %}`"),
            End::Endif(l) => err(l, "`{% endif %}` outside `{% if %}`"),
        }
    }

    /// Renders the template with `vars`.
    pub fn render(&self, vars: &Vars<'_>) -> Result<String, PongoError> {
        let mut out = String::new();
        render_nodes(&self.nodes, vars, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], vars: &Vars<'_>, out: &mut String) -> Result<(), PongoError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(e, line) => eval(e, vars, *line)?.print(out),
            Node::If(branches, otherwise) => {
                let mut taken = false;
                for (cond, body, line) in branches {
                    if eval(cond, vars, *line)?.truthy() {
                        render_nodes(body, vars, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    render_nodes(otherwise, vars, out)?;
                }
            }
        }
    }
    Ok(())
}

fn lookup(
    map: &BTreeMap<String, String>,
    root: &str,
    key: Option<&String>,
    line: usize,
) -> Result<Value, PongoError> {
    match key {
        Some(k) => Ok(map
            .get(k)
            .map(|v| Value::Str(v.clone()))
            .unwrap_or(Value::Nil)),
        None => err(
            line,
            format!("`{root}` is a map: name a key (`{root}.KEY`)"),
        ),
    }
}

fn eval(e: &Expr, vars: &Vars<'_>, line: usize) -> Result<Value, PongoError> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(path) => {
            let (root, rest) = path.split_first().expect("a variable has a name");
            let v = match root.as_str() {
                "trigger" => Value::Str(vars.trigger.to_string()),
                "path" => Value::Str(vars.path.to_string()),
                "container" | "instance" => lookup(vars.instance, root, rest.first(), line)?,
                "config" => lookup(vars.config, root, rest.first(), line)?,
                "properties" => lookup(vars.properties, root, rest.first(), line)?,
                "devices" => return err(line, "variable `devices` is not supported"),
                other => return err(line, format!("unknown variable `{other}`")),
            };
            let depth = if matches!(root.as_str(), "trigger" | "path") {
                0
            } else {
                1
            };
            if rest.len() > depth {
                // A field of a string is nil in pongo2.
                Value::Nil
            } else {
                v
            }
        }
        Expr::Call(name, args) => match name.as_str() {
            "config_get" => {
                if args.len() != 2 {
                    return err(
                        line,
                        format!("config_get takes 2 arguments, got {}", args.len()),
                    );
                }
                let key = match eval(&args[0], vars, line)? {
                    Value::Str(s) => s,
                    other => {
                        return err(
                            line,
                            format!("config_get: the key must be a string, got {other:?}"),
                        )
                    }
                };
                match vars.config.get(&key) {
                    Some(v) => Value::Str(v.trim_end_matches(['\r', '\n']).to_string()),
                    None => eval(&args[1], vars, line)?,
                }
            }
            other => return err(line, format!("function `{other}` is not supported")),
        },
        Expr::Not(e) => Value::Bool(!eval(e, vars, line)?.truthy()),
        Expr::And(a, b) => {
            Value::Bool(eval(a, vars, line)?.truthy() && eval(b, vars, line)?.truthy())
        }
        Expr::Or(a, b) => {
            Value::Bool(eval(a, vars, line)?.truthy() || eval(b, vars, line)?.truthy())
        }
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, vars, line)?, eval(b, vars, line)?);
            let ord = match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
                (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            Value::Bool(match *op {
                "==" => a == b,
                "!=" => a != b,
                "in" => match (&a, &b) {
                    (Value::Str(x), Value::Str(y)) => y.contains(x.as_str()),
                    (_, Value::Nil) => false,
                    _ => return err(line, "`in` needs two strings"),
                },
                op => {
                    let Some(ord) = ord else {
                        return err(line, format!("cannot compare {a:?} {op} {b:?}"));
                    };
                    match op {
                        "<" => ord.is_lt(),
                        "<=" => ord.is_le(),
                        ">" => ord.is_gt(),
                        _ => ord.is_ge(),
                    }
                }
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String, PongoError> {
        let instance: BTreeMap<String, String> = [
            ("name", "web1"),
            ("type", "container"),
            ("architecture", "x86_64"),
            ("privileged", "false"),
            ("ephemeral", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config: BTreeMap<String, String> =
            [("user.mode".to_string(), "link-local\n".to_string())].into();
        let properties: BTreeMap<String, String> =
            [("default".to_string(), "#cloud-config\n{}".to_string())].into();
        let vars = Vars {
            trigger: "create",
            path: "/etc/hostname",
            instance: &instance,
            config: &config,
            properties: &properties,
        };
        Template::parse(src)?.render(&vars)
    }

    #[test]
    fn variables_and_functions() {
        assert_eq!(render("{{ container.name }}\n").unwrap(), "web1\n");
        assert_eq!(
            render("{{instance.type}}/{{ trigger }}/{{ path }}").unwrap(),
            "container/create//etc/hostname"
        );
        assert_eq!(
            render("{{ config_get(\"user.mode\", \"x\") }}|").unwrap(),
            "link-local|"
        );
        assert_eq!(
            render("{{ config_get(\"user.none\", properties.default) }}").unwrap(),
            "#cloud-config\n{}"
        );
        assert_eq!(render("[{{ properties.missing }}]").unwrap(), "[]");
        assert_eq!(render("{# note #}a{{ 1 == 1 }}").unwrap(), "aTrue");
    }

    #[test]
    fn conditions() {
        let t = "{% if config_get(\"user.mode\", \"\") == \"link-local\" %}manual{% else %}dhcp{% endif %}";
        assert_eq!(render(t).unwrap(), "manual");
        let t = "{% if config_get(\"user.x\", \"\") == \"\" %}a{% elif true %}b{% endif %}";
        assert_eq!(render(t).unwrap(), "a");
        assert_eq!(
            render("{% if not instance.missing and container.privileged %}y{% endif %}").unwrap(),
            "y"
        );
        assert_eq!(
            render("a\n  {%- if 0 -%}  x {%- endif %}\nb").unwrap(),
            "a\nb"
        );
    }

    #[test]
    fn unsupported_is_an_error() {
        let e = render("line\n{% for x in y %}{% endfor %}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("`for`"), "{e}");
        assert!(render("{{ container.name|upper }}")
            .unwrap_err()
            .message
            .contains("filters"));
        assert!(render("{{ devices.eth0 }}")
            .unwrap_err()
            .message
            .contains("devices"));
        assert!(render("{{ foo }}").unwrap_err().message.contains("foo"));
        assert!(render("{% if 1 %}x").unwrap_err().message.contains("endif"));
        assert!(render("{{ include(\"x\") }}")
            .unwrap_err()
            .message
            .contains("include"));
    }
}

//! ES module syntax over the scope-based modules of `module`. A module's
//! top-level `import` and `export` statements are rewritten into calls on its
//! scope object, and everything else is left exactly as written, so that lines
//! (and the columns of every line without an import or export) stay where the
//! user wrote them:
//!
//! - `import a, { b as c } from './x.js'` becomes
//!   `__proxy_import("./x.js",[["default","a"],["b","c"]]);`, which loads the
//!   module and makes `a` and `c` accessors of this module's scope that read
//!   `x.js`'s exports as they are now (live, as ES imports are);
//! - `export var|let|const|function|class` loses its `export` (spaces in its
//!   place), and a prologue run before the module's first line registers a
//!   getter for each exported name; `export { a as b }` likewise;
//! - `export default <expression>` becomes `__proxy_dflt =  <expression>`, the
//!   same length, a setter of the `default` export;
//! - `export ... from` and `export * from` re-export through `__proxy_reexport`.
//!
//! The scan also lists the module's top-level `var` names: each becomes its own
//! property of the module's scope (so two modules' `var config` are two
//! variables), and those starting with `$` are per-pipeline variables, as in
//! Pipy. The lexer knows strings, template literals, comments and regular
//! expression literals well enough to find statements at the top level; the
//! engine parses the result and reports everything else.

use std::fmt::Write as _;

/// What the scan of one module found.
#[derive(Debug, Default, PartialEq)]
pub struct Scan {
    /// The text to evaluate: the module's own, import and export statements rewritten.
    pub text: String,
    /// Code run before the module's first line: its exports' getters.
    pub prologue: String,
    /// Names the module's top level declares with `var`, in order, once each.
    pub vars: Vec<String>,
    /// True if the module has an `import` or `export` statement.
    pub is_module: bool,
}

/// A mistake in an import or export statement, at `line:col` (1-based).
#[derive(Debug, PartialEq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// The line it is on.
    pub line: usize,
    /// The column it is at.
    pub col: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Ident,
    Str,
    Num,
    Template,
    Regex,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Words after which a `/` starts a regular expression rather than dividing.
const BEFORE_EXPRESSION: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The last token read, for telling a regular expression from a division.
    last: Option<Tok>,
    /// The one before it (`++` and `--` are two tokens here).
    before_last: Option<Tok>,
    /// For each open `(`: whether it follows `if`, `while`, `for` or `with`,
    /// after whose `)` a statement (and so a regular expression) may start.
    parens: Vec<bool>,
    /// Whether the last token was a `)` that closed such a parenthesis.
    after_condition: bool,
}

type LexResult<T> = Result<T, (String, usize)>;

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$' || c == '\\' || (c as u32) >= 0x80
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == '\u{200c}' || c == '\u{200d}'
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            last: None,
            before_last: None,
            parens: Vec::new(),
            after_condition: false,
        }
    }

    fn peek_char(&self, at: usize) -> Option<char> {
        self.src.get(at..).and_then(|s| s.chars().next())
    }

    /// Skips white space and comments.
    fn skip_trivia(&mut self) -> LexResult<()> {
        loop {
            let Some(c) = self.peek_char(self.pos) else { return Ok(()) };
            if c.is_whitespace() || c == '\u{feff}' {
                self.pos += c.len_utf8();
            } else if self.src[self.pos..].starts_with("//") {
                self.pos = self.src[self.pos..].find('\n').map_or(self.src.len(), |i| self.pos + i);
            } else if self.src[self.pos..].starts_with("/*") {
                match self.src[self.pos + 2..].find("*/") {
                    Some(i) => self.pos += 2 + i + 2,
                    None => return Err(("a comment is not closed".into(), self.pos)),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn regex_allowed(&self) -> bool {
        match self.last {
            None => true,
            Some(t) => match t.kind {
                Kind::Num | Kind::Str | Kind::Template | Kind::Regex => false,
                Kind::Ident => BEFORE_EXPRESSION.contains(&&self.src[t.start..t.end]),
                Kind::Punct => match self.bytes[t.start] {
                    b')' => self.after_condition,
                    b']' | b'}' => false,
                    // `a++ / 2`: a postfix `++` or `--` ends an operand.
                    c @ (b'+' | b'-') => {
                        !self.before_last.is_some_and(|b| b.end == t.start && self.bytes[b.start] == c)
                    }
                    _ => true,
                },
            },
        }
    }

    /// Notes what a token means for later regular expressions: parentheses
    /// after `if`, `while`, `for` and `with`.
    fn note(&mut self, tok: Tok) {
        self.after_condition = false;
        if tok.kind == Kind::Punct {
            match self.bytes[tok.start] {
                b'(' => {
                    let keyword = self.last.is_some_and(|l| {
                        l.kind == Kind::Ident && matches!(&self.src[l.start..l.end], "if" | "while" | "for" | "with")
                    });
                    self.parens.push(keyword);
                }
                b')' => self.after_condition = self.parens.pop().unwrap_or(false),
                _ => {}
            }
        }
        self.before_last = self.last;
        self.last = Some(tok);
    }

    /// The next token, or `None` at the end.
    fn next(&mut self) -> LexResult<Option<Tok>> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.peek_char(start) else { return Ok(None) };
        let kind = if is_ident_start(c) {
            self.pos += c.len_utf8();
            while let Some(c) = self.peek_char(self.pos).filter(|c| is_ident_char(*c)) {
                self.pos += c.len_utf8();
            }
            Kind::Ident
        } else if c.is_ascii_digit() || (c == '.' && self.bytes.get(start + 1).is_some_and(u8::is_ascii_digit)) {
            self.pos += 1;
            while let Some(&b) = self.bytes.get(self.pos) {
                let exponent_sign = matches!(b, b'+' | b'-') && matches!(self.bytes[self.pos - 1], b'e' | b'E');
                let hex = self.src[start..].starts_with("0x") || self.src[start..].starts_with("0X");
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || (exponent_sign && !hex) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            Kind::Num
        } else if c == '"' || c == '\'' {
            self.string(c)?;
            Kind::Str
        } else if c == '`' {
            self.template()?;
            Kind::Template
        } else if c == '/' && self.regex_allowed() {
            self.regex()?;
            Kind::Regex
        } else {
            self.pos += c.len_utf8();
            Kind::Punct
        };
        let tok = Tok { kind, start, end: self.pos };
        self.note(tok);
        Ok(Some(tok))
    }

    /// Steps over a backslash and the character it escapes.
    fn skip_escape(&mut self) {
        self.pos += 1;
        if let Some(c) = self.peek_char(self.pos) {
            self.pos += c.len_utf8();
        }
    }

    fn string(&mut self, quote: char) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek_char(self.pos) {
                None | Some('\n') => return Err(("a string is not closed".into(), start)),
                Some('\\') => self.skip_escape(),
                Some(c) => {
                    self.pos += c.len_utf8();
                    if c == quote {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn template(&mut self) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek_char(self.pos) {
                None => return Err(("a template literal is not closed".into(), start)),
                Some('\\') => self.skip_escape(),
                Some('`') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('$') if self.bytes.get(self.pos + 1) == Some(&b'{') => {
                    self.pos += 2;
                    // The substitution's code, up to its closing brace.
                    self.last = None;
                    self.before_last = None;
                    let mut depth = 0usize;
                    loop {
                        let Some(t) = self.next()? else {
                            return Err(("a template literal is not closed".into(), start));
                        };
                        if t.kind == Kind::Punct {
                            match self.bytes[t.start] {
                                b'{' => depth += 1,
                                b'}' if depth == 0 => break,
                                b'}' => depth -= 1,
                                _ => {}
                            }
                        }
                    }
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
    }

    fn regex(&mut self) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        let mut in_class = false;
        loop {
            match self.peek_char(self.pos) {
                None | Some('\n') => return Err(("a regular expression is not closed".into(), start)),
                Some('\\') => self.skip_escape(),
                Some(c) => {
                    self.pos += c.len_utf8();
                    match c {
                        '[' => in_class = true,
                        ']' => in_class = false,
                        '/' if !in_class => break,
                        _ => {}
                    }
                }
            }
        }
        while let Some(c) = self.peek_char(self.pos).filter(|c| is_ident_char(*c)) {
            self.pos += c.len_utf8();
        }
        Ok(())
    }
}

/// A replacement of `text[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    with: String,
}

/// One name an import binds: the export's name (`default`, `*` for the whole
/// namespace) and the local name.
type Binding = (String, String);

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    i: usize,
}

impl<'a> Parser<'a> {
    fn text(&self, t: Tok) -> &'a str {
        &self.src[t.start..t.end]
    }
    fn peek(&self, ahead: isize) -> Option<Tok> {
        self.toks.get(self.i.checked_add_signed(ahead)?).copied()
    }
    fn is(&self, ahead: isize, s: &str) -> bool {
        self.peek(ahead).is_some_and(|t| self.text(t) == s && t.kind != Kind::Str)
    }
    fn at(&self) -> usize {
        self.peek(0).map_or(self.src.len(), |t| t.start)
    }
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, (String, usize)> {
        Err((message.into(), self.at()))
    }
    fn ident(&mut self, what: &str) -> Result<String, (String, usize)> {
        match self.peek(0) {
            Some(t) if t.kind == Kind::Ident => {
                self.i += 1;
                Ok(self.text(t).to_string())
            }
            _ => self.fail(format!("expected {what}")),
        }
    }
    /// An export's name: a name or a string.
    fn export_name(&mut self) -> Result<String, (String, usize)> {
        match self.peek(0) {
            Some(t) if t.kind == Kind::Str => {
                self.i += 1;
                Ok(unquote(self.text(t)))
            }
            _ => self.ident("a name"),
        }
    }
    fn expect(&mut self, s: &str) -> Result<(), (String, usize)> {
        if self.is(0, s) {
            self.i += 1;
            Ok(())
        } else {
            self.fail(format!("expected '{s}'"))
        }
    }
    /// `from 'path'` (import attributes, `with { ... }`, are refused).
    fn from(&mut self) -> Result<String, (String, usize)> {
        self.expect("from")?;
        self.module_path()
    }
    fn module_path(&mut self) -> Result<String, (String, usize)> {
        let Some(t) = self.peek(0).filter(|t| t.kind == Kind::Str) else {
            return self.fail("expected the module's path as a string");
        };
        self.i += 1;
        if (self.is(0, "with") || self.is(0, "assert")) && self.is(1, "{") {
            return self
                .fail("import attributes are not supported: read a JSON file with JSON.decode(pipy.load(path))");
        }
        Ok(unquote(self.text(t)))
    }
    /// `{ a, b as c, 'd' as e }`, as (name, local) pairs.
    fn braces(&mut self) -> Result<Vec<Binding>, (String, usize)> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.is(0, "}") {
            let name = self.export_name()?;
            let local = if self.is(0, "as") {
                self.i += 1;
                self.export_name()?
            } else {
                name.clone()
            };
            out.push((name, local));
            if self.is(0, ",") {
                self.i += 1;
            } else if !self.is(0, "}") {
                return self.fail("expected ',' or '}'");
            }
        }
        self.i += 1;
        Ok(out)
    }
    /// The name a `function`, `async function`, `function*` or `class`
    /// declaration at the current token gives, `None` if it is anonymous (or
    /// not a declaration).
    fn declaration_name(&self) -> Option<String> {
        let mut k: isize = 0;
        let class = self.is(0, "class");
        if self.is(0, "async") && self.is(1, "function") {
            k = 1;
        } else if !(self.is(0, "function") || class) {
            return None;
        }
        k += 1;
        if !class && self.is(k, "*") {
            k += 1;
        }
        let t = self.peek(k).filter(|t| t.kind == Kind::Ident)?;
        let name = self.text(t);
        (!(class && name == "extends")).then(|| name.to_string())
    }

    /// Adds the names the destructuring pattern opening at token `k` binds
    /// (`{ a, b: c, d = 1, ...e }`, `[x, , y = 2]`) and returns the index past
    /// its close: a name in the pattern itself (not in a default's expression)
    /// followed by `,`, `=`, or the close, and not after `=` or `.`.
    fn pattern_names(&self, k: usize, names: &mut Vec<(String, usize)>) -> usize {
        let mut depth = 0i32;
        // Depth of brackets that are part of the pattern, and of others (a default's calls).
        let mut in_default = 0i32;
        let mut j = k;
        while let Some(&t) = self.toks.get(j) {
            let s = self.text(t);
            if t.kind == Kind::Punct {
                match s {
                    "(" => in_default += 1,
                    ")" => in_default -= 1,
                    "{" | "[" if in_default == 0 => depth += 1,
                    "}" | "]" if in_default == 0 => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
            } else if t.kind == Kind::Ident && in_default == 0 {
                let prev = self.text(self.toks[j - 1]);
                let next = self.toks.get(j + 1).map(|n| self.text(*n)).unwrap_or("");
                let eq_next = next == "=" && self.toks.get(j + 2).is_none_or(|n| self.text(*n) != "=");
                let spread = j >= 3 && (1..=3).all(|b| self.text(self.toks[j - b]) == ".");
                if (matches!(next, "," | "}" | "]") || eq_next) && (spread || !matches!(prev, "=" | ".")) {
                    names.push((s.to_string(), t.start));
                }
            }
            j += 1;
        }
        j
    }

    /// Takes a `;` that ends the statement, if there is one.
    fn semicolon(&mut self) {
        if self.is(0, ";") {
            self.i += 1;
        }
    }
    /// Where the statement that started at token `first` ends (the end of its last token).
    fn end(&self) -> usize {
        self.toks[self.i - 1].end
    }

    /// The names a `var`/`let`/`const` list declares, the keyword at the
    /// current token: a name after the keyword and after each comma of the list
    /// at its own depth, until a `;` or a line break between two tokens that
    /// cannot be one expression.
    fn declared_names(&self) -> Vec<(String, usize)> {
        let mut names = Vec::new();
        let mut depth = 0i32;
        let mut want_name = true;
        let mut k = self.i + 1;
        while let Some(&t) = self.toks.get(k) {
            let s = self.text(t);
            if depth == 0 && k > self.i + 1 {
                let prev = self.toks[k - 1];
                let broken = self.src[prev.end..t.start].contains('\n');
                if s == ";" || (broken && ends_expression(self.src, prev) && starts_statement(self.src, t)) {
                    break;
                }
            }
            if t.kind == Kind::Punct {
                match s {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => {
                        depth -= 1;
                        if depth < 0 {
                            break;
                        }
                    }
                    "," if depth == 0 => {
                        want_name = true;
                        k += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            if want_name && depth == 0 && t.kind == Kind::Ident {
                names.push((s.to_string(), t.start));
            } else if want_name && depth == 1 && (s == "{" || s == "[") {
                // A destructuring pattern: the names it binds.
                let end = self.pattern_names(k, &mut names);
                want_name = false;
                depth = 0;
                k = end;
                continue;
            }
            want_name = false;
            k += 1;
        }
        names
    }
}

/// Whether token `t` can end an expression (so a line break after it may end the statement).
fn ends_expression(src: &str, t: Tok) -> bool {
    match t.kind {
        Kind::Punct => matches!(&src[t.start..t.end], ")" | "]" | "}"),
        Kind::Ident => !BEFORE_EXPRESSION.contains(&&src[t.start..t.end]),
        _ => true,
    }
}

/// Whether token `t` cannot continue the expression before a line break.
fn starts_statement(src: &str, t: Tok) -> bool {
    t.kind == Kind::Ident && !matches!(&src[t.start..t.end], "in" | "of" | "instanceof")
}

fn unquote(s: &str) -> String {
    let inner = &s[1..s.len().saturating_sub(1).max(1)];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON string, as the rewritten code writes names and paths.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pairs(list: &[Binding]) -> String {
    let items: Vec<String> = list.iter().map(|(a, b)| format!("[{},{}]", quoted(a), quoted(b))).collect();
    format!("[{}]", items.join(","))
}

/// `with` followed by the line breaks of `text[start..end]`, so that what
/// follows stays on its line.
fn keeping_lines(src: &str, start: usize, end: usize, with: String) -> String {
    let breaks = src[start..end].matches('\n').count();
    with + &"\n".repeat(breaks)
}

/// Scans module `text` (see the module's doc).
pub fn scan(text: &str) -> Result<Scan, SyntaxError> {
    scan_inner(text).map_err(|(message, at)| {
        let before = &text[..at.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        SyntaxError { message, line, col }
    })
}

fn scan_inner(text: &str) -> Result<Scan, (String, usize)> {
    let mut lexer = Lexer::new(text);
    let mut toks = Vec::new();
    loop {
        match lexer.next() {
            Ok(Some(t)) => toks.push(t),
            Ok(None) => break,
            // The lexer guesses where a regular expression starts; a wrong guess
            // must not refuse a script the engine takes. Without an import or an
            // export there is nothing to rewrite: the text goes as it is (its
            // vars stay the worker's), and the engine reports its real errors.
            Err(e) if !text.contains("import") && !text.contains("export") => {
                let _ = e;
                return Ok(Scan { text: text.to_string(), ..Scan::default() });
            }
            Err(e) => return Err(e),
        }
    }
    let mut p = Parser { src: text, toks, i: 0 };
    let mut edits: Vec<Edit> = Vec::new();
    let mut exports: Vec<(String, String)> = Vec::new();
    let mut vars: Vec<String> = Vec::new();
    let mut is_module = false;
    let mut depth = 0i32;
    while let Some(t) = p.peek(0) {
        let s = p.text(t);
        let after_dot = p.i > 0 && p.text(p.toks[p.i - 1]) == "." && p.toks[p.i - 1].kind == Kind::Punct;
        if t.kind == Kind::Punct {
            match s {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                _ => {}
            }
            p.i += 1;
            continue;
        }
        if depth != 0 || t.kind != Kind::Ident || after_dot {
            p.i += 1;
            continue;
        }
        match s {
            "var" => {
                for (name, _) in p.declared_names() {
                    if !vars.contains(&name) {
                        vars.push(name);
                    }
                }
                p.i += 1;
            }
            "import" if !(p.is(1, "(") || p.is(1, ".")) => {
                is_module = true;
                p.i += 1;
                let mut bindings = Vec::new();
                let path = if p.peek(0).is_some_and(|t| t.kind == Kind::Str) {
                    p.module_path()?
                } else {
                    // A default binding first (`import a from`, `import a, {...} from`).
                    if p.peek(0).is_some_and(|t| t.kind == Kind::Ident) {
                        let local = p.ident("a name")?;
                        bindings.push(("default".to_string(), local));
                        if p.is(0, ",") {
                            p.i += 1;
                        }
                    }
                    if p.is(0, "*") {
                        p.i += 1;
                        p.expect("as")?;
                        let local = p.ident("a name after 'as'")?;
                        bindings.push(("*".to_string(), local));
                    } else if p.is(0, "{") {
                        bindings.extend(p.braces()?);
                    } else if bindings.is_empty() || p.is(-1, ",") {
                        return p.fail("expected a name, '{' or '*' after 'import'");
                    }
                    p.from()?
                };
                p.semicolon();
                // No `;` before: an identifier after a line break always starts a
                // statement, and the call's column is then the import's.
                let call = format!("__proxy_import({},{});", quoted(&path), pairs(&bindings));
                edits.push(Edit { start: t.start, end: p.end(), with: keeping_lines(text, t.start, p.end(), call) });
            }
            "export" => {
                is_module = true;
                p.i += 1;
                // Spaces for `export` (and `default`), line breaks kept.
                let blank = |upto: usize| -> String {
                    text[t.start..upto].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect()
                };
                if p.is(0, "default") {
                    let default = p.peek(0).expect("checked");
                    p.i += 1;
                    if let Some(name) = p.declaration_name() {
                        exports.push(("default".into(), name));
                        edits.push(Edit { start: t.start, end: default.end, with: blank(default.end) });
                    } else {
                        let width = text[t.start..default.end].chars().count();
                        let setter = format!("__proxy_dflt{}=", " ".repeat(width.saturating_sub(13)));
                        edits.push(Edit {
                            start: t.start,
                            end: default.end,
                            with: keeping_lines(text, t.start, default.end, setter),
                        });
                    }
                } else if p.is(0, "var") || p.is(0, "let") || p.is(0, "const") {
                    let names = p.declared_names();
                    if names.is_empty() {
                        return p.fail("expected a name to export");
                    }
                    for (name, at) in names {
                        if name.is_empty() || !name.chars().next().is_some_and(is_ident_start) {
                            return Err(("only plain names can be exported this way".into(), at));
                        }
                        if p.is(0, "var") && !vars.contains(&name) {
                            vars.push(name.clone());
                        }
                        exports.push((name.clone(), name));
                    }
                    edits.push(Edit { start: t.start, end: t.end, with: blank(t.end) });
                } else if p.is(0, "function") || p.is(0, "class") || (p.is(0, "async") && p.is(1, "function")) {
                    match p.declaration_name() {
                        Some(name) => exports.push((name.clone(), name)),
                        None => return p.fail("expected the name of what is exported"),
                    }
                    edits.push(Edit { start: t.start, end: t.end, with: blank(t.end) });
                } else if p.is(0, "{") {
                    let list = p.braces()?;
                    if p.is(0, "from") {
                        let path = p.from()?;
                        p.semicolon();
                        let call = format!("__proxy_reexport({},{});", quoted(&path), pairs(&list));
                        edits.push(Edit {
                            start: t.start,
                            end: p.end(),
                            with: keeping_lines(text, t.start, p.end(), call),
                        });
                    } else {
                        p.semicolon();
                        for (local, name) in list {
                            exports.push((name, local));
                        }
                        edits.push(Edit {
                            start: t.start,
                            end: p.end(),
                            with: keeping_lines(text, t.start, p.end(), String::new()),
                        });
                    }
                    continue;
                } else if p.is(0, "*") {
                    p.i += 1;
                    let list = if p.is(0, "as") {
                        p.i += 1;
                        vec![("*".to_string(), p.export_name()?)]
                    } else {
                        Vec::new()
                    };
                    let path = p.from()?;
                    p.semicolon();
                    let call = format!("__proxy_reexport({},{});", quoted(&path), pairs(&list));
                    edits.push(Edit {
                        start: t.start,
                        end: p.end(),
                        with: keeping_lines(text, t.start, p.end(), call),
                    });
                    continue;
                } else {
                    return p.fail("expected 'default', a declaration, '{' or '*' after 'export'");
                }
            }
            _ => p.i += 1,
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut from = 0;
    for e in &edits {
        out.push_str(&text[from..e.start]);
        out.push_str(&e.with);
        from = e.end;
    }
    out.push_str(&text[from..]);
    let prologue = if exports.is_empty() {
        String::new()
    } else {
        let getters: Vec<String> =
            exports.iter().map(|(name, local)| format!("{}:()=>{local}", quoted(name))).collect();
        format!("__proxy_export({{{}}});", getters.join(","))
    };
    Ok(Scan { text: out, prologue, vars, is_module })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(src: &str) -> Scan {
        scan(src).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    #[test]
    fn imports_become_calls_on_the_same_lines() {
        let s = rewritten("import config from './config.js'\nimport { a, b as c } from \"/x.js\";\nimport * as ns from './n.js'\nimport d, { e } from './d.js'\nimport './side.js'\nvar x = config.a\n");
        let lines: Vec<&str> = s.text.lines().collect();
        assert_eq!(lines[0], r#"__proxy_import("./config.js",[["default","config"]]);"#);
        assert_eq!(lines[1], r#"__proxy_import("/x.js",[["a","a"],["b","c"]]);"#);
        assert_eq!(lines[2], r#"__proxy_import("./n.js",[["*","ns"]]);"#);
        assert_eq!(lines[3], r#"__proxy_import("./d.js",[["default","d"],["e","e"]]);"#);
        assert_eq!(lines[4], r#"__proxy_import("./side.js",[]);"#);
        assert_eq!(lines[5], "var x = config.a");
        assert!(s.is_module);
        assert_eq!(s.vars, vec!["x"]);
        // A statement over several lines leaves as many line breaks.
        let s = rewritten("import {\n  a,\n  b,\n} from './x.js'\nfoo()");
        assert_eq!(s.text, "__proxy_import(\"./x.js\",[[\"a\",\"a\"],[\"b\",\"b\"]]);\n\n\n\nfoo()");
    }

    #[test]
    fn exports_keep_their_columns_and_register_getters() {
        let s = rewritten("export default pipeline($=>$)\nexport var a = 1, b = [1, 2], c\nexport function f() {}\nexport { a as aa, f as default2 }\n");
        let lines: Vec<&str> = s.text.lines().collect();
        assert_eq!(lines[0], "__proxy_dflt = pipeline($=>$)");
        assert_eq!(lines[0].len(), "export default pipeline($=>$)".len());
        assert_eq!(lines[1], "       var a = 1, b = [1, 2], c");
        assert_eq!(lines[2], "       function f() {}");
        assert_eq!(lines[3], "");
        assert_eq!(
            s.prologue,
            r#"__proxy_export({"a":()=>a,"b":()=>b,"c":()=>c,"f":()=>f,"aa":()=>a,"default2":()=>f});"#
        );
        assert_eq!(s.vars, vec!["a", "b", "c"]);
        let s = rewritten("export default function main() {}\n");
        assert_eq!(s.text, "               function main() {}\n");
        assert_eq!(s.prologue, r#"__proxy_export({"default":()=>main});"#);
        let s = rewritten("export * from './a.js'\nexport * as b from './b.js'\nexport { x as y } from './c.js'\n");
        assert_eq!(
            s.text,
            "__proxy_reexport(\"./a.js\",[]);\n__proxy_reexport(\"./b.js\",[[\"*\",\"b\"]]);\n__proxy_reexport(\"./c.js\",[[\"x\",\"y\"]]);\n"
        );
    }

    #[test]
    fn only_the_top_level_counts() {
        let src = "var $ctx, $n = f(1, 2), plain\nvar o = { import: 1, export: 2 }\no.import(1)\nimport('./x.js')\nfunction g() { var inner = `${ `import x from 'y'` }` }\n// import a from 'b'\n/* export default 1 */\nvar r = /import/.test('x') ? 1 : 2 / 3\nvar s = 'export default'\nvar q\n= 2\n";
        let s = rewritten(src);
        assert!(!s.is_module, "{}", s.text);
        assert_eq!(s.text, src);
        assert_eq!(s.vars, vec!["$ctx", "$n", "plain", "o", "r", "s", "q"]);
    }

    #[test]
    fn division_and_regular_expressions_are_told_apart_as_the_engine_does() {
        let s = rewritten("var a = 4\nvar b = a++ / 2, c = a-- / 1\nvar d\n");
        assert_eq!(s.vars, vec!["a", "b", "c", "d"]);
        let s = rewritten("var s = 'a\"b'\nif (s) /'/.test(s) && console.log('ok')\nvar t = (s) / 2\nvar u\n");
        assert_eq!(s.vars, vec!["s", "t", "u"]);
        // A guess the lexer gets wrong in a script without imports leaves it as it is.
        let src = "function f() {}\n/'/.test(s)\nvar v\n";
        assert_eq!(rewritten(src), Scan { text: src.into(), ..Scan::default() });
    }

    #[test]
    fn destructuring_declares_the_names_it_binds() {
        let s = rewritten("var { a, b: c, d = f(x, y), ...e } = o, [g, , h = 2] = p, i\nvar { j: { k } } = q\n");
        assert_eq!(s.vars, vec!["a", "c", "d", "e", "g", "h", "i", "k"]);
        let s = rewritten("export const { a, b: [c] } = o\n");
        assert_eq!(s.prologue, r#"__proxy_export({"a":()=>a,"c":()=>c});"#);
    }

    #[test]
    fn declarations_named_like_keywords_are_exported_by_their_names() {
        let s = rewritten("export default class async {}\n");
        assert_eq!(s.prologue, r#"__proxy_export({"default":()=>async});"#);
        let s = rewritten("export default class extends Object {}\n");
        assert!(s.prologue.is_empty() && s.text.starts_with("__proxy_dflt ="), "{s:?}");
        let s = rewritten("export function async() {}\nfunction later() { return 1 }\n");
        assert_eq!(s.prologue, r#"__proxy_export({"async":()=>async});"#);
        let s = rewritten("export default function* gen() {}\nexport default async function af() {}\n");
        assert_eq!(s.prologue, r#"__proxy_export({"default":()=>gen,"default":()=>af});"#);
        // Not a panic, whatever follows.
        for src in ["export default function class", "export default class", "export function", "export default async"]
        {
            let _ = scan(src);
        }
    }

    #[test]
    fn a_var_list_ends_at_a_line_break_that_ends_the_statement() {
        let s = rewritten("var a = 1\nfoo(b, c)\nvar d = x\n  , e\nvar f = g\n(h)\n");
        assert_eq!(s.vars, vec!["a", "d", "e", "f"]);
    }

    #[test]
    fn mistakes_in_imports_and_exports_say_where() {
        let e = scan("var a\nimport from './x.js'").unwrap_err();
        assert_eq!((e.line, e.col, e.message.as_str()), (2, 13, "expected 'from'"), "{e:?}");
        let e = scan("import a, from './x.js'").unwrap_err();
        assert_eq!((e.line, e.col), (1, 11), "{e:?}");
        let e = scan("import { a b } from './x.js'").unwrap_err();
        assert!(e.message.contains("expected ',' or '}'"), "{e:?}");
        let e = scan("import a from x").unwrap_err();
        assert!(e.message.contains("path as a string"), "{e:?}");
        let e = scan("export 1").unwrap_err();
        assert_eq!((e.line, e.col), (1, 8));
        // In a module, the lexer's own errors are named where they are.
        let e = scan("import a from './a.js'\nvar s = 'open\nvar t").unwrap_err();
        assert_eq!((e.line, e.col, e.message.as_str()), (2, 9, "a string is not closed"));
        assert!(scan("export var t = `a${ b").is_err());
        assert!(scan("export default 1 /* open").is_err());
    }

    #[test]
    fn arbitrary_text_never_panics() {
        // A small xorshift, so the run is the same every time.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet: Vec<char> =
            "import export default from as { } ( ) [ ] , ; * = ' \" ` ${ / \\ \n x $a var 1 . é".chars().collect();
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = scan(&s);
        }
    }
}

//! The `test` expressions of `<if>` and `<when>`: a small, safe subset of the OGNL
//! expressions MyBatis users write.
//!
//! ```text
//! status != null and status != ''
//! ids != null and ids.size() > 0
//! kind == 'open' or (priority gte 3 and not archived)
//! ```
//!
//! - Literals: `null`, `true`, `false`, numbers, strings in `'…'` or `"…"`.
//! - Names read the method's input (and `<foreach>` variables): `a`, `a.b`, `a.0`; a missing
//!   key is `null`.
//! - Methods: `size()`, `length()`, `isEmpty()`, `trim()`, `toLowerCase()`, `toUpperCase()`;
//!   also the property `length`.
//! - Operators: `==` `!=` `<` `<=` `>` `>=` (and their OGNL names `eq` `neq` `lt` `lte` `gt`
//!   `gte`), `and`/`&&`, `or`/`||`, `not`/`!`, parentheses.
//! - Truth follows OGNL: `null`, `false` and zero are false; every other value (the empty
//!   string included) is true.
//!
//! It is evaluated by a tree walk with no side effects, no loops and no calls into user code,
//! so it needs no budget beyond the size of the expression.

use std::cmp::Ordering;

use serde_json::Value;

/// A parsed test expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TestExpr {
    /// A literal value.
    Literal(Value),
    /// A dotted name read from the scope.
    Path(Vec<String>),
    /// A method call or property on a value.
    Method(Box<TestExpr>, String),
    /// `!x`.
    Not(Box<TestExpr>),
    /// `a and b`.
    And(Box<TestExpr>, Box<TestExpr>),
    /// `a or b`.
    Or(Box<TestExpr>, Box<TestExpr>),
    /// A comparison.
    Compare(Box<TestExpr>, CompareOp, Box<TestExpr>),
}

/// A comparison operator (shared with the Rhai condition shortcut).
pub use crate::script::CompareOp;

/// A syntax error at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestExprError {
    /// Byte offset in the expression.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    Dot,
    LParen,
    RParen,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, TestExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Token::Ident(text[start..i].to_owned())));
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                // A dot followed by a non-digit ends the number (`a.0.b` is a path).
                if bytes[i] == b'.' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            let number = text[start..i].parse::<f64>().map_err(|_| TestExprError {
                offset: start,
                message: format!("`{}` is not a number", &text[start..i]),
            })?;
            out.push((start, Token::Num(number)));
            continue;
        }
        if c == b'\'' || c == b'"' {
            let mut value = String::new();
            i += 1;
            let mut closed = false;
            while i < text.len() {
                let ch = text[i..].chars().next().unwrap_or('\0');
                if ch as u32 == u32::from(c) {
                    i += 1;
                    closed = true;
                    break;
                }
                if ch == '\\'
                    && let Some(next) = text[i + 1..].chars().next()
                {
                    value.push(next);
                    i += 1 + next.len_utf8();
                    continue;
                }
                value.push(ch);
                i += ch.len_utf8();
            }
            if !closed {
                return Err(TestExprError {
                    offset: start,
                    message: "unterminated string".into(),
                });
            }
            out.push((start, Token::Str(value)));
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let op = match two {
            "==" => Some("=="),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            "&&" => Some("and"),
            "||" => Some("or"),
            _ => None,
        };
        if let Some(op) = op {
            out.push((start, Token::Op(op)));
            i += 2;
            continue;
        }
        let token = match c {
            b'<' => Token::Op("<"),
            b'>' => Token::Op(">"),
            b'!' => Token::Op("not"),
            b'.' => Token::Dot,
            b'(' => Token::LParen,
            b')' => Token::RParen,
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(TestExprError {
                    offset: start,
                    message: format!("unexpected `{ch}`"),
                });
            }
        };
        out.push((start, token));
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(o, _)| *o)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, TestExprError> {
        Err(TestExprError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Ident(word)) => Some(word.as_str()),
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<TestExpr, TestExprError> {
        let mut left = self.and()?;
        while self.keyword() == Some("or") {
            self.pos += 1;
            let right = self.and()?;
            left = TestExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<TestExpr, TestExprError> {
        let mut left = self.not()?;
        while self.keyword() == Some("and") {
            self.pos += 1;
            let right = self.not()?;
            left = TestExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<TestExpr, TestExprError> {
        if self.keyword() == Some("not") {
            self.pos += 1;
            return Ok(TestExpr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<TestExpr, TestExprError> {
        let left = self.postfix()?;
        let op = match self.keyword() {
            Some("==" | "eq") => CompareOp::Eq,
            Some("!=" | "neq") => CompareOp::Ne,
            Some("<" | "lt") => CompareOp::Lt,
            Some("<=" | "lte") => CompareOp::Le,
            Some(">" | "gt") => CompareOp::Gt,
            Some(">=" | "gte") => CompareOp::Ge,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.postfix()?;
        Ok(TestExpr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn postfix(&mut self) -> Result<TestExpr, TestExprError> {
        let mut expr = self.primary()?;
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            let name = match self.peek() {
                Some(Token::Ident(name)) => name.clone(),
                Some(Token::Num(n)) if n.fract() == 0.0 && *n >= 0.0 => format!("{}", *n as u64),
                _ => return self.error("expected a name after `.`"),
            };
            self.pos += 1;
            if self.peek() == Some(&Token::LParen) {
                self.pos += 1;
                if self.peek() != Some(&Token::RParen) {
                    return self.error(format!("`{name}()` takes no arguments"));
                }
                self.pos += 1;
                if !METHODS.contains(&name.as_str()) {
                    return self.error(format!(
                        "unknown method `{name}()`; known: {}",
                        METHODS.join(", ")
                    ));
                }
                expr = TestExpr::Method(Box::new(expr), name);
            } else if name == "length" {
                expr = TestExpr::Method(Box::new(expr), name);
            } else {
                expr = match expr {
                    TestExpr::Path(mut path) => {
                        path.push(name);
                        TestExpr::Path(path)
                    }
                    other => TestExpr::Method(Box::new(other), format!(".{name}")),
                };
            }
        }
        Ok(expr)
    }

    fn primary(&mut self) -> Result<TestExpr, TestExprError> {
        let Some(token) = self.peek().cloned() else {
            return self.error("expected a value");
        };
        self.pos += 1;
        Ok(match token {
            Token::Num(n) => TestExpr::Literal(number(n)),
            Token::Str(s) => TestExpr::Literal(Value::String(s)),
            Token::Ident(word) => match word.as_str() {
                "null" => TestExpr::Literal(Value::Null),
                "true" => TestExpr::Literal(Value::Bool(true)),
                "false" => TestExpr::Literal(Value::Bool(false)),
                "and" | "or" | "eq" | "neq" | "lt" | "lte" | "gt" | "gte" => {
                    self.pos -= 1;
                    return self.error(format!("expected a value before `{word}`"));
                }
                _ => TestExpr::Path(vec![word]),
            },
            Token::LParen => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::RParen) {
                    return self.error("expected `)`");
                }
                self.pos += 1;
                inner
            }
            Token::Op("-") => return self.error("unexpected `-`"),
            Token::Op(op) => {
                self.pos -= 1;
                return self.error(format!("expected a value before `{op}`"));
            }
            Token::Dot | Token::RParen => {
                self.pos -= 1;
                return self.error("expected a value");
            }
        })
    }
}

const METHODS: [&str; 6] = [
    "size",
    "length",
    "isEmpty",
    "trim",
    "toLowerCase",
    "toUpperCase",
];

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Parses a test expression.
pub fn parse_test(text: &str) -> Result<TestExpr, TestExprError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: text.len(),
    };
    let expr = parser.or()?;
    if parser.pos < parser.tokens.len() {
        return parser.error("unexpected text after the expression");
    }
    Ok(expr)
}

/// Looks names up: the method's input and the variables of enclosing `<foreach>`es.
pub trait Scope {
    /// The value of a dotted name (`Null` when missing).
    fn lookup(&self, path: &[String]) -> Value;
}

/// Evaluates a test expression to a value.
pub fn eval_test(expr: &TestExpr, scope: &dyn Scope) -> Value {
    match expr {
        TestExpr::Literal(value) => value.clone(),
        TestExpr::Path(path) => scope.lookup(path),
        TestExpr::Method(target, name) => {
            let value = eval_test(target, scope);
            match (name.as_str(), &value) {
                ("size" | "length", Value::Array(items)) => Value::from(items.len()),
                ("size" | "length", Value::Object(map)) => Value::from(map.len()),
                ("size" | "length", Value::String(s)) => Value::from(s.chars().count()),
                ("isEmpty", Value::Array(items)) => Value::Bool(items.is_empty()),
                ("isEmpty", Value::Object(map)) => Value::Bool(map.is_empty()),
                ("isEmpty", Value::String(s)) => Value::Bool(s.is_empty()),
                ("trim", Value::String(s)) => Value::String(s.trim().to_owned()),
                ("toLowerCase", Value::String(s)) => Value::String(s.to_lowercase()),
                ("toUpperCase", Value::String(s)) => Value::String(s.to_uppercase()),
                (key, Value::Object(map)) if key.starts_with('.') => {
                    map.get(&key[1..]).cloned().unwrap_or(Value::Null)
                }
                _ => Value::Null,
            }
        }
        TestExpr::Not(inner) => Value::Bool(!truthy(&eval_test(inner, scope))),
        TestExpr::And(a, b) => {
            Value::Bool(truthy(&eval_test(a, scope)) && truthy(&eval_test(b, scope)))
        }
        TestExpr::Or(a, b) => {
            Value::Bool(truthy(&eval_test(a, scope)) || truthy(&eval_test(b, scope)))
        }
        TestExpr::Compare(a, op, b) => {
            let (a, b) = (eval_test(a, scope), eval_test(b, scope));
            let result = match op {
                CompareOp::Eq => equal(&a, &b),
                CompareOp::Ne => !equal(&a, &b),
                _ => order(&a, &b).is_some_and(|ordering| op.holds(ordering)),
            };
            Value::Bool(result)
        }
    }
}

/// OGNL truth: `null`, `false` and zero are false, everything else is true.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => true,
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => as_number(a)?.partial_cmp(&as_number(b)?),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Input(Value);

    impl Scope for Input {
        fn lookup(&self, path: &[String]) -> Value {
            let mut value = &self.0;
            for key in path {
                value = match value {
                    Value::Object(map) => map.get(key).unwrap_or(&Value::Null),
                    Value::Array(items) => key
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| items.get(i))
                        .unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
            }
            value.clone()
        }
    }

    fn check(expr: &str, input: Value) -> bool {
        let parsed = parse_test(expr).unwrap_or_else(|e| panic!("{expr}: {e:?}"));
        truthy(&eval_test(&parsed, &Input(input)))
    }

    #[test]
    fn mybatis_idioms() {
        let input =
            json!({"status": "open", "ids": [1, 2], "empty": [], "n": 3, "user": {"name": "Ann"}});
        assert!(check("status != null", input.clone()));
        assert!(check("status != null and status != ''", input.clone()));
        assert!(check("missing == null", input.clone()));
        assert!(check("ids != null and ids.size() > 0", input.clone()));
        assert!(!check("empty.size() > 0", input.clone()));
        assert!(check("empty.isEmpty()", input.clone()));
        assert!(check("status == 'open'", input.clone()));
        assert!(check("status eq \"open\" && n gte 3", input.clone()));
        assert!(check("!(n < 3) and not missing", input.clone()));
        assert!(check("user.name.length() == 3", input.clone()));
        assert!(check("user.name.toLowerCase() == 'ann'", input.clone()));
        assert!(check("ids.0 == 1", input.clone()));
        assert!(check("n == '3'", input.clone()));
        assert!(check("n > 2.5 or false", input.clone()));
        assert!(!check("n lt 2", input));
    }

    #[test]
    fn syntax_errors_have_offsets() {
        let err = parse_test("a == 'x").unwrap_err();
        assert_eq!(err.offset, 5);
        let err = parse_test("a.size(1)").unwrap_err();
        assert!(err.message.contains("no arguments"), "{err:?}");
        let err = parse_test("a.explode()").unwrap_err();
        assert!(err.message.contains("unknown method"), "{err:?}");
        let err = parse_test("a == ").unwrap_err();
        assert_eq!(err.offset, 5);
        let err = parse_test("a b").unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(parse_test("a # b").is_err());
    }
}

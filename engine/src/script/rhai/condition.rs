//! Conditions answered without Rhai: comparisons of paths and literals joined by `&&` and
//! `||`, the shape of most gateway conditions (`user.tier == "gold" || spend >= 100000`).
//!
//! Building a Rhai scope and running the interpreter for such a condition cost about 18 k
//! instructions per evaluation on the BFF example; walking the paths costs a few hundred.
//! The shortcut answers only where its answer is certainly Rhai's: `==` and `!=` between two
//! integers, two strings or two booleans, `<`, `<=`, `>`, `>=` between two integers, and `&&`
//! / `||` over booleans, evaluated left to right with Rhai's short circuit. Anything else —
//! a float, `()`, two different types, a path that does not resolve, a value that is not a
//! boolean where one is needed — gives `None` and the whole expression goes to Rhai, so
//! errors and mixed-type answers stay exactly Rhai's. A condition has no side effects, so
//! giving up half-way and evaluating it again in Rhai changes nothing.

use serde_json::{Map, Value};

use super::is_variable_name;
use crate::script::CompareOp;

/// Parenthesised nesting the shortcut takes on; deeper conditions go to Rhai.
const MAX_DEPTH: usize = 16;

/// A parsed condition.
#[derive(Debug)]
pub(super) enum Condition {
    /// `left || right`.
    Any(Box<Condition>, Box<Condition>),
    /// `left && right`.
    All(Box<Condition>, Box<Condition>),
    /// `left op right`.
    Compare(Operand, CompareOp, Operand),
    /// A path or literal standing alone, which must be a boolean.
    Is(Operand),
}

/// One side of a comparison.
#[derive(Debug)]
pub(super) enum Operand {
    /// A variable and properties, as [`super::Shortcut::Path`].
    Path(Box<[Box<str>]>),
    /// A whole number, a string without escapes, `true` or `false`.
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Path(&'a str),
    Literal(Value),
    Compare(CompareOp),
    And,
    Or,
    Open,
    Close,
}

/// The tokens of `source`, or `None` at anything outside the shortcut's grammar.
fn tokens(source: &str) -> Option<Vec<Token<'_>>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'"' => {
                let end = i + 1 + source[i + 1..].find('"')?;
                let text = &source[i + 1..end];
                if text.contains(['\\', '\n', '\r']) {
                    return None;
                }
                out.push(Token::Literal(Value::String(text.to_owned())));
                i = end + 1;
            }
            b'0'..=b'9' | b'-' => {
                // A sign only where an operand starts (after an operator, `(` or at the start):
                // elsewhere `-` is a subtraction, which the shortcut does not do.
                if b == b'-'
                    && (!next.is_some_and(|n| n.is_ascii_digit())
                        || matches!(
                            out.last(),
                            Some(Token::Path(_) | Token::Literal(_) | Token::Close)
                        ))
                {
                    return None;
                }
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let text = &source[start..i];
                let digits = text.strip_prefix('-').unwrap_or(text);
                // `007`, `1_000`, `1.5`, `1e3`, `0x1f` and the like: Rhai's, not ours.
                if (digits.len() > 1 && digits.starts_with('0'))
                    || bytes
                        .get(i)
                        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    return None;
                }
                out.push(Token::Literal(Value::from(text.parse::<i64>().ok()?)));
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
                let word = &source[start..i];
                match word {
                    "true" => out.push(Token::Literal(Value::Bool(true))),
                    "false" => out.push(Token::Literal(Value::Bool(false))),
                    _ => {
                        if !word.split('.').all(is_variable_name) {
                            return None;
                        }
                        out.push(Token::Path(word));
                    }
                }
            }
            b'=' | b'!' | b'<' | b'>' => {
                let (op, len) = match (b, next) {
                    (b'=', Some(b'=')) => (CompareOp::Eq, 2),
                    (b'!', Some(b'=')) => (CompareOp::Ne, 2),
                    (b'<', Some(b'=')) => (CompareOp::Le, 2),
                    (b'>', Some(b'=')) => (CompareOp::Ge, 2),
                    (b'<', _) => (CompareOp::Lt, 1),
                    (b'>', _) => (CompareOp::Gt, 1),
                    _ => return None,
                };
                // `===`, `<<`, `>>=`, `=>`…: not comparisons the shortcut knows.
                if matches!(bytes.get(i + len), Some(b'=' | b'<' | b'>')) {
                    return None;
                }
                out.push(Token::Compare(op));
                i += len;
            }
            b'&' if next == Some(b'&') => {
                out.push(Token::And);
                i += 2;
            }
            b'|' if next == Some(b'|') => {
                out.push(Token::Or);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.at)
    }

    fn any(&mut self) -> Option<Condition> {
        let mut left = self.all()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            let right = self.all()?;
            left = Condition::Any(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn all(&mut self) -> Option<Condition> {
        let mut left = self.comparison()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            let right = self.comparison()?;
            left = Condition::All(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn comparison(&mut self) -> Option<Condition> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return None;
            }
            let inner = self.any()?;
            if self.peek() != Some(&Token::Close) {
                return None;
            }
            self.at += 1;
            self.depth -= 1;
            // `(a == b) == c` compares a comparison: left to Rhai.
            if matches!(self.peek(), Some(Token::Compare(_))) {
                return None;
            }
            return Some(inner);
        }
        let left = self.operand()?;
        let Some(&Token::Compare(op)) = self.peek() else {
            return Some(Condition::Is(left));
        };
        self.at += 1;
        let right = self.operand()?;
        // `a < b < c`: left to Rhai.
        if matches!(self.peek(), Some(Token::Compare(_))) {
            return None;
        }
        Some(Condition::Compare(left, op, right))
    }

    fn operand(&mut self) -> Option<Operand> {
        let operand = match self.peek()? {
            Token::Path(path) => Operand::Path(path.split('.').map(Box::from).collect()),
            Token::Literal(value) => Operand::Literal(value.clone()),
            _ => return None,
        };
        self.at += 1;
        Some(operand)
    }
}

impl Condition {
    /// The condition in `source`, when it has at least one operator and nothing outside the
    /// shortcut's grammar (a lone path or literal is [`super::Shortcut`]'s own case).
    pub(super) fn parse(source: &str) -> Option<Condition> {
        let tokens = tokens(source)?;
        if !tokens
            .iter()
            .any(|t| matches!(t, Token::Compare(_) | Token::And | Token::Or))
        {
            return None;
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
        };
        let condition = parser.any()?;
        (parser.at == parser.tokens.len()).then_some(condition)
    }

    /// The answer, or `None` to let Rhai evaluate the whole expression.
    pub(super) fn eval(
        &self,
        vars: &Map<String, Value>,
        extra: Option<(&str, &Value)>,
    ) -> Option<bool> {
        match self {
            Condition::Any(left, right) => {
                if left.eval(vars, extra)? {
                    Some(true)
                } else {
                    right.eval(vars, extra)
                }
            }
            Condition::All(left, right) => {
                if left.eval(vars, extra)? {
                    right.eval(vars, extra)
                } else {
                    Some(false)
                }
            }
            Condition::Is(operand) => operand.with(vars, extra, Value::as_bool).flatten(),
            Condition::Compare(left, op, right) => left
                .with(vars, extra, |a| {
                    right.with(vars, extra, |b| compare(a, *op, b))
                })
                .flatten()
                .flatten(),
        }
    }
}

impl Operand {
    /// Calls `f` with the operand's value, or gives `None` when a path does not resolve the
    /// way a Rhai property access certainly would.
    fn with<R>(
        &self,
        vars: &Map<String, Value>,
        extra: Option<(&str, &Value)>,
        f: impl FnOnce(&Value) -> R,
    ) -> Option<R> {
        match self {
            Operand::Literal(value) => Some(f(value)),
            Operand::Path(path) => {
                let (name, properties) = path.split_first()?;
                let root = match extra {
                    Some((extra_name, value)) if extra_name == &**name => value,
                    _ => vars.get(&**name)?,
                };
                if properties.is_empty() {
                    return Some(f(root));
                }
                let mut current = root;
                for property in properties {
                    // A missing property is `()` in Rhai: never compared here, so give up.
                    current = current.as_object()?.get(&**property)?;
                }
                Some(f(current))
            }
        }
    }
}

/// `a op b` where the shortcut is certain of Rhai's answer.
fn compare(a: &Value, op: CompareOp, b: &Value) -> Option<bool> {
    use CompareOp::*;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            // Integers only: a float, or a number beyond i64, is left to Rhai.
            let (x, y) = (x.as_i64()?, y.as_i64()?);
            Some(op.holds(x.cmp(&y)))
        }
        (Value::String(x), Value::String(y)) => match op {
            Eq => Some(x == y),
            Ne => Some(x != y),
            _ => None,
        },
        (Value::Bool(x), Value::Bool(y)) => match op {
            Eq => Some(x == y),
            Ne => Some(x != y),
            _ => None,
        },
        _ => None,
    }
}

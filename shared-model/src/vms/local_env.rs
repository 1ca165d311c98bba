//! `.env.local`: one developer's own env values for a VMS, on one machine.
//!
//! A VMS declares its env vars in `vms.yaml`; deployments get their values from the
//! environment they are deployed to. On a developer's machine, runs in the IDE ("Run",
//! "Try it", "Test connection", tests) and the command line (`starweave run`, `test`, `dev`,
//! `connections`) take each variable's declared default, then the value in `.env.local` at
//! the VMS's root, then (command line) the shell's environment. The file holds what should
//! never be committed as a default: tokens, passwords, a personal database URL.
//!
//! The file never leaves the machine: the IDE keeps it out of Git (it adds it to the
//! repository's `.git/info/exclude` when it writes it; new VMS get a `.gitignore` entry),
//! and the engine skips hidden files when it loads a VMS, so no build carries it.
//!
//! The format is the familiar dotenv one, without variable expansion:
//!
//! ```text
//! # comments and blank lines are kept as they are
//! DATABASE_URL=postgres://me@localhost/shop
//! export API_TOKEN=abc123        # `export ` is allowed; ` #` after a value starts a comment
//! GREETING='single quotes: taken literally, may span lines'
//! PEM="double quotes: \n \r \t \" \\ are escapes"
//! ```
//!
//! Values are text, taken literally (`$` has no meaning). A name set twice is an error, as
//! is anything that does not parse; errors name the line and column. Editing one value
//! ([`LocalEnv::set`], [`LocalEnv::remove`]) rewrites only that entry's lines, so comments
//! and the order of the others stay.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::diagnostic::SourcePos;

/// The file's name, at the VMS's root.
pub const LOCAL_ENV_FILE: &str = ".env.local";

/// The largest `.env.local` read, in bytes.
pub const MAX_LOCAL_ENV_BYTES: usize = 1024 * 1024;

/// What is wrong with a `.env.local`, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{LOCAL_ENV_FILE}:{}:{}: {message}", pos.line, pos.column)]
pub struct LocalEnvError {
    /// Where (1-based line and column).
    pub pos: SourcePos,
    /// What, for people.
    pub message: String,
}

/// One `NAME=value` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    value: String,
    /// The entry's bytes in the text, from its line's start to the end of its last line
    /// (without the line break).
    span: Range<usize>,
    line: u32,
}

/// A parsed `.env.local`: its text, kept as written, and the values in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalEnv {
    text: String,
    entries: Vec<Entry>,
}

impl LocalEnv {
    /// Reads the file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LocalEnvError> {
        if bytes.len() > MAX_LOCAL_ENV_BYTES {
            return Err(LocalEnvError {
                pos: SourcePos { line: 1, column: 1 },
                message: format!(
                    "the file is {} KiB; it may hold at most {} KiB",
                    bytes.len() / 1024,
                    MAX_LOCAL_ENV_BYTES / 1024
                ),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let valid = &bytes[..e.valid_up_to()];
            let valid = std::str::from_utf8(valid).expect("valid up to here");
            LocalEnvError {
                pos: SourcePos::from_offset(valid, valid.len()),
                message: "the file is not UTF-8 text".into(),
            }
        })?;
        Self::parse(text)
    }

    /// The `.env.local` among a VMS's other files (`Vms::other_files`, where the reader keeps
    /// it), parsed; `None` when the VMS has none.
    pub fn of_vms_files(
        files: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Option<Result<Self, LocalEnvError>> {
        files
            .get(LOCAL_ENV_FILE)
            .map(|bytes| Self::from_bytes(bytes))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, LocalEnvError> {
        let entries = Parser {
            text,
            at: 0,
            counted: 0,
            line: 1,
        }
        .entries()?;
        Ok(LocalEnv {
            text: text.to_owned(),
            entries,
        })
    }

    /// The text, with every edit made.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the file sets no value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `name`, when the file sets it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
    }

    /// The names, in file order, with the line each is on.
    pub fn names(&self) -> impl Iterator<Item = (&str, u32)> {
        self.entries.iter().map(|e| (e.name.as_str(), e.line))
    }

    /// Every value, by name.
    pub fn values(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect()
    }

    /// Sets `name` to `value`: its entry is rewritten in place (a comment after it on the
    /// same line goes with it), or a new line is added at the end.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        check_name(name)?;
        if value.contains('\0') {
            return Err(format!("the value of `{name}` holds a NUL character"));
        }
        let line = format_entry(name, value);
        let mut text = std::mem::take(&mut self.text);
        match self.entries.iter().find(|e| e.name == name) {
            Some(entry) => text.replace_range(entry.span.clone(), &line),
            None => {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&line);
                text.push('\n');
            }
        }
        self.reparse(text)
    }

    /// Removes `name`'s entry (and its line break); whether there was one.
    pub fn remove(&mut self, name: &str) -> Result<bool, String> {
        let Some(entry) = self.entries.iter().find(|e| e.name == name) else {
            return Ok(false);
        };
        let mut span = entry.span.clone();
        if self.text[span.end..].starts_with("\r\n") {
            span.end += 2;
        } else if self.text[span.end..].starts_with('\n') {
            span.end += 1;
        }
        let mut text = std::mem::take(&mut self.text);
        text.replace_range(span, "");
        self.reparse(text).map(|()| true)
    }

    fn reparse(&mut self, text: String) -> Result<(), String> {
        // The edit only ever replaces whole entries with well-formed ones, so this parses;
        // should it not, the text is left as it was before the edit.
        match LocalEnv::parse(&text) {
            Ok(parsed) => {
                *self = parsed;
                Ok(())
            }
            Err(e) => Err(format!("the edit would break the file: {e}")),
        }
    }
}

/// Checks an env var name: ASCII letters, digits and `_`, not starting with a digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not an env var name (letters, digits and `_`, not starting with a digit)",
            name.chars().take(80).collect::<String>()
        ))
    }
}

/// One entry as the file writes it: unquoted when the value is only letters, digits and
/// `-_./:@+=,%~` (URLs, hosts, tokens), else in single quotes when it has no `'` or line
/// break, else in double quotes with escapes. Quoting anything else also keeps the file
/// readable by a shell's `source`.
fn format_entry(name: &str, value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,%~".contains(c));
    if plain {
        return format!("{name}={value}");
    }
    if !value.contains(['\'', '\n', '\r']) {
        return format!("{name}='{value}'");
    }
    let mut out = format!("{name}=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    /// The line number of byte `counted`, kept as entries are read so that numbering
    /// every entry costs one pass over the text.
    counted: usize,
    line: u32,
}

impl Parser<'_> {
    fn error(&self, at: usize, message: impl Into<String>) -> LocalEnvError {
        LocalEnvError {
            pos: SourcePos::from_offset(self.text, at),
            message: message.into(),
        }
    }

    /// The 1-based line of `offset`; offsets asked for never go backwards.
    fn line_of(&mut self, offset: usize) -> u32 {
        let breaks = self.text.as_bytes()[self.counted..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.line += u32::try_from(breaks).unwrap_or(u32::MAX);
        self.counted = offset;
        self.line
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_blanks(&mut self) {
        while let Some(c @ (' ' | '\t')) = self.peek() {
            self.at += c.len_utf8();
        }
    }

    /// The end of the current line (before `\r\n` or `\n`), from `at`.
    fn line_end(&self) -> usize {
        let end = self.text[self.at..]
            .find('\n')
            .map_or(self.text.len(), |i| self.at + i);
        if end > self.at && self.text.as_bytes()[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    }

    /// Moves past the current line's break.
    fn next_line(&mut self) {
        self.at = self.text[self.at..]
            .find('\n')
            .map_or(self.text.len(), |i| self.at + i + 1);
    }

    fn entries(mut self) -> Result<Vec<Entry>, LocalEnvError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        if self.text.starts_with('\u{feff}') {
            self.at = '\u{feff}'.len_utf8();
        }
        while self.at < self.text.len() {
            let line_start = self.at;
            self.skip_blanks();
            match self.peek() {
                None => break,
                Some('\n') => {
                    self.at += 1;
                    continue;
                }
                Some('\r') if self.text[self.at..].starts_with("\r\n") => {
                    self.at += 2;
                    continue;
                }
                Some('#') => {
                    self.next_line();
                    continue;
                }
                Some(_) => {}
            }
            let entry = self.entry(line_start)?;
            if let Some(first) = seen.insert(entry.name.clone(), entry.line) {
                return Err(self.error(
                    line_start,
                    format!(
                        "`{}` is set twice, on lines {first} and {}",
                        entry.name, entry.line
                    ),
                ));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn entry(&mut self, line_start: usize) -> Result<Entry, LocalEnvError> {
        let line = self.line_of(line_start);
        if let Some(rest) = self.text[self.at..].strip_prefix("export")
            && rest.starts_with([' ', '\t'])
        {
            self.at += "export".len();
            self.skip_blanks();
        }
        let name_start = self.at;
        let name_len = self.text[self.at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.text.len() - self.at);
        let name = &self.text[name_start..name_start + name_len];
        if name.is_empty() {
            return Err(self.error(
                name_start,
                "expected `NAME=value`, a `# comment` or a blank line",
            ));
        }
        check_name(name).map_err(|m| self.error(name_start, m))?;
        self.at += name_len;
        self.skip_blanks();
        if self.peek() != Some('=') {
            return Err(self.error(
                self.at,
                format!("expected `=` after `{name}` (lines are `NAME=value`)"),
            ));
        }
        self.at += 1;
        self.skip_blanks();
        let value = match self.peek() {
            Some(quote @ ('\'' | '"')) => {
                let value = self.quoted(quote)?;
                // After the closing quote: blanks, then a comment or the line's end.
                self.skip_blanks();
                let end = self.line_end();
                if self.at < end && self.peek() != Some('#') {
                    return Err(self.error(
                        self.at,
                        "unexpected text after the closing quote (quote the whole value)",
                    ));
                }
                self.at = end;
                value
            }
            _ => {
                let end = self.line_end();
                let raw = &self.text[self.at..end];
                // ` #` (a blank, then `#`) starts a comment; a `#` inside a word does not.
                let cut = raw
                    .char_indices()
                    .find(|&(i, c)| {
                        c == '#' && i > 0 && matches!(raw.as_bytes()[i - 1], b' ' | b'\t')
                    })
                    .map_or(raw.len(), |(i, _)| i);
                let value = raw[..cut].trim_end_matches([' ', '\t']);
                if let Some(i) = value.find('\0') {
                    return Err(self.error(self.at + i, "the value holds a NUL character"));
                }
                self.at = end;
                value.to_owned()
            }
        };
        let entry = Entry {
            name: name.to_owned(),
            value,
            span: line_start..self.at,
            line,
        };
        self.next_line();
        Ok(entry)
    }

    /// A quoted value starting at `at` (the opening quote).
    fn quoted(&mut self, quote: char) -> Result<String, LocalEnvError> {
        let open = self.at;
        self.at += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(
                    open,
                    format!("the value opened with {quote} here is never closed"),
                ));
            };
            self.at += c.len_utf8();
            match c {
                '\0' => {
                    return Err(self.error(self.at - 1, "the value holds a NUL character"));
                }
                c if c == quote => return Ok(value),
                '\\' if quote == '"' => {
                    let Some(next) = self.peek() else {
                        continue;
                    };
                    let escaped = match next {
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        '"' => Some('"'),
                        '\\' => Some('\\'),
                        _ => None,
                    };
                    match escaped {
                        Some(e) => {
                            value.push(e);
                            self.at += 1;
                        }
                        // Any other backslash is kept as written.
                        None => value.push('\\'),
                    }
                }
                '\r' if self.peek() == Some('\n') => {
                    // A line break inside quotes is a `\n`, however the file ends its lines.
                }
                c => value.push(c),
            }
        }
    }
}

/// The text an env var's declared default gives it (strings as they are, other JSON as
/// JSON text); `None` when there is no default or it is `null`.
pub fn default_text(default: Option<&serde_json::Value>) -> Option<String> {
    match default? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The env values of a run on a developer's machine: each declared default, then the
/// values `.env.local` gives declared variables, then `overrides`. A name the VMS does not
/// declare is left out (validation warns about it), as a deployment would never get it.
pub fn local_run_env(
    declared: &[super::EnvVar],
    local: Option<&LocalEnv>,
    overrides: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = declared
        .iter()
        .filter_map(|var| Some((var.name.clone(), default_text(var.default.as_ref())?)))
        .collect();
    if let Some(local) = local {
        env.extend(
            local
                .entries
                .iter()
                .filter(|e| declared.iter().any(|var| var.name == e.name))
                .map(|e| (e.name.clone(), e.value.clone())),
        );
    }
    env.extend(overrides);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        LocalEnv::parse(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .values()
            .into_iter()
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn reads_the_usual_forms() {
        let text = "\u{feff}# local values\n\nA=1\nexport B = two words  # note\r\nC='x # y'\nD=\"a\\nb\\t\\\"c\\\" \\\\ \\q\"\nE=\nF=http://h/#frag\n  G='multi\nline'\nH=\"x\r\ny\"";
        assert_eq!(
            values(text),
            vec![
                pair("A", "1"),
                pair("B", "two words"),
                pair("C", "x # y"),
                pair("D", "a\nb\t\"c\" \\ \\q"),
                pair("E", ""),
                pair("F", "http://h/#frag"),
                pair("G", "multi\nline"),
                pair("H", "x\ny"),
            ]
        );
        assert!(LocalEnv::parse("").expect("empty").is_empty());
        assert!(LocalEnv::parse("# only\n\n").expect("comments").is_empty());
        // `export` alone is a name like any other.
        assert_eq!(values("export=1"), vec![pair("export", "1")]);
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("A=1\n2B=x\n", 2, 1, "not an env var name"),
            ("A=1\nB x\n", 2, 3, "expected `=` after `B`"),
            ("A=1\n=x\n", 2, 1, "expected `NAME=value`"),
            ("A='open\nB=2\n", 1, 3, "never closed"),
            ("A=\"open\\\"\n", 1, 3, "never closed"),
            ("A='x' y\n", 1, 7, "after the closing quote"),
            (
                "A=1\nB=2\nA=3\n",
                3,
                1,
                "`A` is set twice, on lines 1 and 3",
            ),
            ("A=x\0y\n", 1, 4, "NUL"),
            ("Ä=1\n", 1, 1, "expected `NAME=value`"),
        ];
        for (text, line, column, message) in cases {
            let err = LocalEnv::parse(text).expect_err(text);
            assert_eq!(
                (err.pos.line, err.pos.column),
                (line, column),
                "{text:?}: {err}"
            );
            assert!(err.message.contains(message), "{text:?}: {err}");
        }
        let err = LocalEnv::from_bytes(b"A=1\nB=\xff\n").expect_err("latin-1");
        assert_eq!((err.pos.line, err.pos.column), (2, 3));
        assert_eq!(
            err.to_string(),
            ".env.local:2:3: the file is not UTF-8 text"
        );
        let huge = vec![b'#'; MAX_LOCAL_ENV_BYTES + 1];
        assert!(
            LocalEnv::from_bytes(&huge)
                .expect_err("huge")
                .message
                .contains("at most 1024 KiB")
        );
    }

    #[test]
    fn edits_keep_the_rest_of_the_file() {
        let mut env = LocalEnv::parse("# mine\nA=1 # first\n\nB='two'\r\nC=3").expect("parse");
        env.set("B", "it's \"quoted\"\nand long").expect("set B");
        env.set("D", " padded ").expect("set D");
        env.set("A", "plain").expect("set A");
        assert_eq!(
            env.text(),
            "# mine\nA=plain\n\nB=\"it's \\\"quoted\\\"\\nand long\"\r\nC=3\nD=' padded '\n"
        );
        assert_eq!(env.get("B"), Some("it's \"quoted\"\nand long"));
        assert!(env.remove("B").expect("remove"));
        assert!(!env.remove("B").expect("again"));
        assert_eq!(env.text(), "# mine\nA=plain\n\nC=3\nD=' padded '\n");
        assert!(env.set("1X", "v").is_err());
        assert!(env.set("X", "a\0b").is_err());
        assert_eq!(env.text(), "# mine\nA=plain\n\nC=3\nD=' padded '\n");
        let mut empty = LocalEnv::default();
        empty.set("TOKEN", "s3cr#t").expect("set");
        assert_eq!(empty.text(), "TOKEN='s3cr#t'\n");
    }

    #[test]
    fn run_env_layers_defaults_file_and_overrides() {
        let declared: Vec<super::super::EnvVar> = serde_yaml_ng::from_str(
            "[{name: A, default: a}, {name: B, default: 2}, {name: C}, {name: D, default: null}]",
        )
        .expect("declarations");
        let local = LocalEnv::parse("B=from-file\nC=c\nX=undeclared\n").expect("parse");
        let env = local_run_env(&declared, Some(&local), [pair("C", "shell")]);
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            vec![pair("A", "a"), pair("B", "from-file"), pair("C", "shell"),]
        );
    }
}

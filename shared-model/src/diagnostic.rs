//! Diagnostics: what is wrong with user input, where, and how bad.

use serde::{Deserialize, Serialize};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The VMS cannot be compiled or run as it is.
    Error,
    /// Probably a mistake, but the VMS still runs.
    Warning,
    /// A hint; nothing is wrong.
    Info,
}

/// A position in a source file: 1-based line and column (columns count characters).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct SourcePos {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, in characters.
    pub column: u32,
}

impl SourcePos {
    /// The position of byte `offset` in `text`. Offsets past the end map to the end.
    pub fn from_offset(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let mut line = 1u32;
        let mut line_start = 0usize;
        for (i, b) in text.as_bytes()[..offset].iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                line_start = i + 1;
            }
        }
        // Count characters, not bytes, on the last line; tolerate an offset inside a
        // multi-byte character by backing up to its start.
        let mut end = offset;
        while end > line_start && !text.is_char_boundary(end) {
            end -= 1;
        }
        let column = text[line_start..end].chars().count() as u32 + 1;
        SourcePos { line, column }
    }
}

/// One problem found in user input, with everything needed to show it at its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// A stable machine-readable code such as `bpmn.duplicate-id`, for filtering and docs.
    pub code: String,
    /// The file, relative to the VMS root (or as given on the command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Where in the file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<SourcePos>,
    /// The id of the BPMN element (or the name of the VMS item) concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// What is wrong, in a sentence a user can act on.
    pub message: String,
}

impl Diagnostic {
    /// An error with a code and message and no location yet.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning with a code and message and no location yet.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: code.into(),
            file: None,
            pos: None,
            element: None,
            message: message.into(),
        }
    }

    /// Sets the file.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the position.
    pub fn at(mut self, pos: SourcePos) -> Self {
        self.pos = Some(pos);
        self
    }

    /// Sets the position when one is known.
    pub fn at_opt(mut self, pos: Option<SourcePos>) -> Self {
        if pos.is_some() {
            self.pos = pos;
        }
        self
    }

    /// Sets the element id.
    pub fn on(mut self, element: impl Into<String>) -> Self {
        self.element = Some(element.into());
        self
    }

    /// Whether this diagnostic is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    /// `file:line:col: severity[code] (element): message`, the shape editors and CI logs link.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let Some(pos) = self.pos {
                write!(f, "{}:{}:", pos.line, pos.column)?;
            }
            write!(f, " ")?;
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, "{sev}[{}]", self.code)?;
        if let Some(el) = &self.element {
            write!(f, " ({el})")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_character_columns() {
        let text = "ab\nçd\nx";
        assert_eq!(
            SourcePos::from_offset(text, 0),
            SourcePos { line: 1, column: 1 }
        );
        assert_eq!(
            SourcePos::from_offset(text, 3),
            SourcePos { line: 2, column: 1 }
        );
        // 'ç' is two bytes; the 'd' after it is the second character.
        assert_eq!(
            SourcePos::from_offset(text, 5),
            SourcePos { line: 2, column: 2 }
        );
        assert_eq!(
            SourcePos::from_offset(text, 999),
            SourcePos { line: 3, column: 2 }
        );
    }

    #[test]
    fn display_has_file_line_col_and_element() {
        let d = Diagnostic::error("bpmn.duplicate-id", "id `a` is used twice")
            .in_file("functions/f.bpmn")
            .at(SourcePos { line: 3, column: 7 })
            .on("a");
        assert_eq!(
            d.to_string(),
            "functions/f.bpmn:3:7: error[bpmn.duplicate-id] (a): id `a` is used twice"
        );
    }
}

//! Parameters: the typed inputs and outputs of functions and connector methods.
//!
//! One model, three editable views:
//!
//! - **YAML** (the nested form, [`Parameter`] with child `fields` and array `items`), which is
//!   what the VMS files hold;
//! - **table**: a flat list of [`ParameterRow`]s addressed by paths such as
//!   `user.address.city` or `items[].sku` ([`params_to_rows`], [`rows_to_params`]);
//! - **CSV**: the table with a header line ([`params_to_csv`], [`params_from_csv`]).
//!
//! All conversions round-trip. Parameters can also be inferred from a JSON sample
//! ([`infer_parameters`]) and exported to JSON Schema ([`params_to_json_schema`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, SourcePos};

use super::serde_util::{is_false, present};

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A JSON string; see [`Parameter::format`] for refinements such as `date-time`.
    String,
    /// A whole number.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object whose known keys are [`Parameter::fields`].
    Object,
    /// A JSON array whose elements are described by [`Parameter::items`].
    Array,
    /// Any JSON value; nothing is checked.
    #[default]
    Any,
}

impl ParamType {
    /// Every type, in documentation order.
    pub const ALL: [ParamType; 7] = [
        ParamType::String,
        ParamType::Integer,
        ParamType::Number,
        ParamType::Boolean,
        ParamType::Object,
        ParamType::Array,
        ParamType::Any,
    ];

    /// The name used in YAML, CSV and the table view.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Object => "object",
            ParamType::Array => "array",
            ParamType::Any => "any",
        }
    }

    /// Parses a type name, ignoring ASCII case and surrounding spaces.
    pub fn parse(text: &str) -> Option<ParamType> {
        let text = text.trim();
        ParamType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }
}

/// One parameter: a named, typed value with constraints; objects nest fields, arrays an item.
///
/// In YAML a list of parameters describes the fields of an object (a function's input is
/// such a list). The same struct, with an empty `name`, describes an array's item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// The key in the enclosing object; empty for an array item.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The value's type.
    #[serde(rename = "type", default)]
    pub ty: ParamType,
    /// The key must be present.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// `null` is accepted besides values of `ty`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// What the parameter means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A refinement of `string` such as `date-time`, `date`, `email`, `uuid`, `uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The value used when the key is absent (`default: null` is a null default).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Value>,
    /// An example value, shown in the IDE and in generated API documents.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub example: Option<Value>,
    /// The only values allowed, when not empty.
    #[serde(rename = "enum", default, skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<Value>,
    /// Smallest number allowed (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number allowed (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Shortest string allowed, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest string allowed, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// A regular expression strings must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Fewest array elements allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Most array elements allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The known keys of an object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Parameter>,
    /// The element of an array; absent means elements of any type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Parameter>>,
}

impl Parameter {
    /// A parameter with a name and a type and nothing else.
    pub fn new(name: impl Into<String>, ty: ParamType) -> Self {
        Parameter {
            name: name.into(),
            ty,
            ..Parameter::default()
        }
    }

    /// The same parameter, marked required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same parameter with a description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The same parameter with these object fields (the type becomes `object`).
    pub fn with_fields(mut self, fields: Vec<Parameter>) -> Self {
        self.ty = ParamType::Object;
        self.fields = fields;
        self
    }

    /// The same parameter with this array item (the type becomes `array`).
    pub fn with_items(mut self, item: Parameter) -> Self {
        self.ty = ParamType::Array;
        self.items = Some(Box::new(item));
        self
    }

    /// The parameter without its children: what one table row shows.
    fn own_attributes(&self) -> Parameter {
        Parameter {
            fields: Vec::new(),
            items: None,
            ..self.clone()
        }
    }

    /// Copies the attributes of a table row onto this node, keeping its children.
    fn set_attributes(&mut self, row: &Parameter) {
        let fields = std::mem::take(&mut self.fields);
        let items = self.items.take();
        let name = std::mem::take(&mut self.name);
        *self = Parameter {
            name,
            fields,
            items,
            ..row.clone()
        };
    }
}

/// Finds a parameter by its table path (`user.address.city`, `items[].sku`) in a list.
pub fn find_parameter<'a>(params: &'a [Parameter], path: &str) -> Option<&'a Parameter> {
    let segments = parse_path(path).ok()?;
    let mut list = params;
    let mut current: Option<&Parameter> = None;
    for segment in segments {
        current = match segment {
            PathSegment::Field(name) => {
                let found = list.iter().find(|p| p.name == name)?;
                Some(found)
            }
            PathSegment::Item => Some(current?.items.as_deref()?),
        };
        list = &current?.fields;
    }
    current
}

// ---------------------------------------------------------------------------------------
// Table view
// ---------------------------------------------------------------------------------------

/// One row of the table view: a path and the attributes of the parameter it names.
///
/// Paths join field names with `.` and mark an array's item with `[]`: `user.address.city`,
/// `items[].sku`, `tags[]`, `matrix[][]`. The row's `param` has an empty `fields` list and no
/// `items` (children are rows of their own); its `name` is the path's last field name, or
/// empty for an item row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterRow {
    /// Where the parameter sits, e.g. `items[].sku`.
    pub path: String,
    /// The parameter's own attributes (type, required, constraints…), without children.
    pub param: Parameter,
}

/// One step of a parameter path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A named field of an object.
    Field(String),
    /// The item of an array (`[]`).
    Item,
}

/// Splits a table path into segments; the error says what is wrong with it.
pub fn parse_path(path: &str) -> Result<Vec<PathSegment>, String> {
    if path.is_empty() {
        return Err("the path is empty".to_owned());
    }
    let mut segments = Vec::new();
    let mut rest = path;
    let mut expect_name = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[]") {
            if segments.is_empty() {
                return Err(format!(
                    "`{path}` starts with `[]`; it must start with a name"
                ));
            }
            segments.push(PathSegment::Item);
            rest = after;
            expect_name = false;
        } else if let Some(after) = rest.strip_prefix('.') {
            if expect_name {
                return Err(format!("`{path}` has an empty name"));
            }
            rest = after;
            expect_name = true;
            if rest.is_empty() {
                return Err(format!("`{path}` ends with `.`"));
            }
        } else {
            if !expect_name {
                return Err(format!("`{path}`: expected `.` or `[]` after `[]`"));
            }
            let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
            if end == 0 {
                return Err(format!(
                    "`{path}`: `{}` is not allowed in a name",
                    &rest[..1]
                ));
            }
            segments.push(PathSegment::Field(rest[..end].to_owned()));
            rest = &rest[end..];
            expect_name = false;
        }
    }
    Ok(segments)
}

/// Whether a field name can appear in a table path (no `.`, `[` or `]`, not empty).
pub fn is_valid_field_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['.', '[', ']'])
}

/// The table view of a parameter list: parents before children, in list order.
pub fn params_to_rows(params: &[Parameter]) -> Vec<ParameterRow> {
    let mut rows = Vec::new();
    for p in params {
        push_rows(&mut rows, p.name.clone(), p);
    }
    rows
}

fn push_rows(rows: &mut Vec<ParameterRow>, path: String, p: &Parameter) {
    rows.push(ParameterRow {
        path: path.clone(),
        param: p.own_attributes(),
    });
    for f in &p.fields {
        push_rows(rows, format!("{path}.{}", f.name), f);
    }
    if let Some(item) = &p.items {
        push_rows(rows, format!("{path}[]"), item);
    }
}

/// Builds the nested parameters from table rows.
///
/// Rows may come in any order; a child whose parent has no row of its own gets an implicit
/// `object` (or `array`) parent. Problems (bad paths, duplicate rows, children under a scalar)
/// are diagnostics naming the path; nothing is dropped silently.
pub fn rows_to_params(rows: &[ParameterRow]) -> (Vec<Parameter>, Vec<Diagnostic>) {
    let (params, problems) = rows_to_params_indexed(rows);
    (params, problems.into_iter().map(|(_, d)| d).collect())
}

/// Like [`rows_to_params`], with the index of the row each diagnostic is about.
fn rows_to_params_indexed(rows: &[ParameterRow]) -> (Vec<Parameter>, Vec<(usize, Diagnostic)>) {
    let mut root: Vec<Parameter> = Vec::new();
    // Paths that have a row of their own, to report duplicates and implicit parents.
    let mut explicit = std::collections::HashSet::new();
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        match parse_path(&row.path) {
            Ok(segments) => {
                let canonical = path_to_string(&segments);
                if !explicit.insert(canonical.clone()) {
                    problems.push((
                        index,
                        Diagnostic::error(
                            "params.duplicate-path",
                            format!("`{canonical}` is defined twice; the later row wins"),
                        )
                        .on(canonical),
                    ));
                }
                parsed.push((index, segments));
            }
            Err(msg) => problems.push((
                index,
                Diagnostic::error("params.bad-path", msg).on(row.path.clone()),
            )),
        }
    }
    let mut implicit_reported = std::collections::HashSet::new();
    for (index, segments) in &parsed {
        for end in 1..segments.len() {
            let prefix = path_to_string(&segments[..end]);
            if !explicit.contains(&prefix) && implicit_reported.insert(prefix.clone()) {
                let kind = match segments[end] {
                    PathSegment::Field(_) => "an object",
                    PathSegment::Item => "an array",
                };
                problems.push((
                    *index,
                    Diagnostic::warning(
                        "params.implicit-parent",
                        format!("`{prefix}` has no row of its own; it is taken as {kind}"),
                    )
                    .on(prefix),
                ));
            }
        }
        let node = descend(&mut root, segments, &explicit);
        node.set_attributes(&rows[*index].param);
    }
    // Children under a parent whose type cannot have them.
    let mut shape = Vec::new();
    check_shape(&root, "", &mut shape);
    for (path, msg) in shape {
        let index = rows.iter().position(|r| r.path == path).unwrap_or(0);
        problems.push((
            index,
            Diagnostic::error("params.children-of-scalar", msg).on(path),
        ));
    }
    problems.sort_by_key(|(index, _)| *index);
    (root, problems)
}

fn path_to_string(segments: &[PathSegment]) -> String {
    let mut s = String::new();
    for seg in segments {
        match seg {
            PathSegment::Field(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            PathSegment::Item => s.push_str("[]"),
        }
    }
    s
}

/// Walks to (creating as needed) the node a path names. A parent without a row of its own
/// becomes an object or an array, as its child requires.
fn descend<'a>(
    root: &'a mut Vec<Parameter>,
    segments: &[PathSegment],
    explicit: &std::collections::HashSet<String>,
) -> &'a mut Parameter {
    let (first, rest) = segments
        .split_first()
        .expect("parse_path never returns no segment");
    let PathSegment::Field(name) = first else {
        unreachable!("parse_path rejects a leading `[]`")
    };
    let mut node = field_mut(root, name);
    for (i, seg) in rest.iter().enumerate() {
        let implicit = !explicit.contains(&path_to_string(&segments[..=i]));
        match seg {
            PathSegment::Field(name) => {
                if implicit {
                    node.ty = ParamType::Object;
                }
                node = field_mut(&mut node.fields, name);
            }
            PathSegment::Item => {
                if implicit {
                    node.ty = ParamType::Array;
                }
                node = node.items.get_or_insert_with(Box::default);
            }
        }
    }
    node
}

fn field_mut<'a>(list: &'a mut Vec<Parameter>, name: &str) -> &'a mut Parameter {
    match list.iter().position(|p| p.name == name) {
        Some(i) => &mut list[i],
        None => {
            list.push(Parameter::new(name, ParamType::Any));
            list.last_mut().expect("just pushed")
        }
    }
}

fn check_shape(list: &[Parameter], prefix: &str, out: &mut Vec<(String, String)>) {
    for p in list {
        let path = if prefix.is_empty() {
            p.name.clone()
        } else if p.name.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", p.name)
        };
        check_node(p, &path, out);
    }
}

fn check_node(p: &Parameter, path: &str, out: &mut Vec<(String, String)>) {
    if !p.fields.is_empty() && !matches!(p.ty, ParamType::Object | ParamType::Any) {
        out.push((
            path.to_owned(),
            format!(
                "`{path}` is of type {} but has fields; make it an object",
                p.ty.as_str()
            ),
        ));
    }
    if p.items.is_some() && !matches!(p.ty, ParamType::Array | ParamType::Any) {
        out.push((
            path.to_owned(),
            format!(
                "`{path}` is of type {} but has an item (`{path}[]`); make it an array",
                p.ty.as_str()
            ),
        ));
    }
    check_shape(&p.fields, path, out);
    if let Some(item) = &p.items {
        check_node(item, &format!("{path}[]"), out);
    }
}

// ---------------------------------------------------------------------------------------
// YAML view
// ---------------------------------------------------------------------------------------

/// The YAML view of a parameter list, exactly as the VMS files write it.
pub fn params_to_yaml(params: &[Parameter]) -> String {
    if params.is_empty() {
        return "[]\n".to_owned();
    }
    serde_yaml_ng::to_string(params).expect("parameters always serialize")
}

/// Reads the YAML view of a parameter list. Problems come back as diagnostics with
/// line and column; the list is empty when the text does not parse.
pub fn params_from_yaml(text: &str) -> (Vec<Parameter>, Vec<Diagnostic>) {
    if super::disk::is_blank_yaml(text) {
        return (Vec::new(), Vec::new());
    }
    match serde_yaml_ng::from_str::<Vec<Parameter>>(text) {
        Ok(p) => (p, Vec::new()),
        Err(e) => (Vec::new(), vec![super::disk::yaml_diagnostic(&e, None)]),
    }
}

// ---------------------------------------------------------------------------------------
// CSV view
// ---------------------------------------------------------------------------------------

/// The CSV columns, in the order [`params_to_csv`] writes them.
pub const CSV_COLUMNS: [&str; 16] = [
    "path",
    "type",
    "required",
    "nullable",
    "format",
    "description",
    "default",
    "example",
    "enum",
    "minimum",
    "maximum",
    "min_length",
    "max_length",
    "min_items",
    "max_items",
    "pattern",
];

/// The CSV view: a header line with [`CSV_COLUMNS`] and one line per table row.
///
/// Cells: `required`/`nullable` are `true` or empty; `default` and `example` hold JSON, except
/// that a string which is not itself valid JSON is written bare (`abc`, not `"abc"`); `enum`
/// holds its values separated by `|` in the same encoding, or a JSON array when a value
/// contains `|`. An empty cell means "not set".
pub fn params_to_csv(params: &[Parameter]) -> String {
    let mut out = String::new();
    write_csv_record(&mut out, CSV_COLUMNS.iter().map(|c| c.to_string()));
    for row in params_to_rows(params) {
        let p = &row.param;
        let cells = [
            row.path.clone(),
            p.ty.as_str().to_owned(),
            bool_cell(p.required),
            bool_cell(p.nullable),
            p.format.clone().unwrap_or_default(),
            p.description.clone().unwrap_or_default(),
            p.default
                .as_ref()
                .map(encode_value_cell)
                .unwrap_or_default(),
            p.example
                .as_ref()
                .map(encode_value_cell)
                .unwrap_or_default(),
            encode_enum_cell(&p.enum_values),
            p.minimum.map(|n| n.to_string()).unwrap_or_default(),
            p.maximum.map(|n| n.to_string()).unwrap_or_default(),
            p.min_length.map(|n| n.to_string()).unwrap_or_default(),
            p.max_length.map(|n| n.to_string()).unwrap_or_default(),
            p.min_items.map(|n| n.to_string()).unwrap_or_default(),
            p.max_items.map(|n| n.to_string()).unwrap_or_default(),
            p.pattern.clone().unwrap_or_default(),
        ];
        write_csv_record(&mut out, cells.into_iter());
    }
    out
}

fn bool_cell(b: bool) -> String {
    if b { "true".to_owned() } else { String::new() }
}

/// JSON for a value, but a string that is not valid JSON on its own is written bare.
fn encode_value_cell(v: &Value) -> String {
    if let Value::String(s) = v
        && !s.is_empty()
        && serde_json::from_str::<Value>(s).is_err()
    {
        return s.clone();
    }
    serde_json::to_string(v).expect("JSON values always serialize")
}

fn decode_value_cell(cell: &str) -> Value {
    serde_json::from_str(cell).unwrap_or_else(|_| Value::String(cell.to_owned()))
}

fn encode_enum_cell(values: &[Value]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = values.iter().map(encode_value_cell).collect();
    let joined = parts.join("|");
    let pipe_safe = parts.iter().all(|p| !p.contains('|')) && !joined.starts_with('[');
    if pipe_safe {
        joined
    } else {
        serde_json::to_string(values).expect("JSON values always serialize")
    }
}

fn decode_enum_cell(cell: &str) -> Vec<Value> {
    if cell.starts_with('[')
        && let Ok(Value::Array(a)) = serde_json::from_str(cell)
    {
        return a;
    }
    cell.split('|').map(decode_value_cell).collect()
}

fn write_csv_record(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push('\n');
}

/// One CSV cell and where it starts.
#[derive(Debug)]
struct CsvCell {
    text: String,
    pos: SourcePos,
}

/// Splits CSV text into records of cells (RFC 4180: quotes, doubled quotes, line breaks
/// inside quotes; `\n` or `\r\n` line ends). Blank lines are skipped.
fn read_csv_records(text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Vec<CsvCell>> {
    let mut records = Vec::new();
    let mut record: Vec<CsvCell> = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1u32, 1u32);
    loop {
        // Start of a cell.
        let pos = SourcePos { line, column: col };
        let mut cell = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            col += 1;
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    col += 1;
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        col += 1;
                        cell.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    if c == '\n' {
                        line += 1;
                        col = 1;
                    } else {
                        col += 1;
                    }
                    cell.push(c);
                }
            }
            if !closed {
                diags.push(
                    Diagnostic::error(
                        "params.csv-unterminated-quote",
                        "a quoted cell is never closed; add the closing `\"`",
                    )
                    .at(pos),
                );
            }
        }
        // Unquoted text (or stray text after a closing quote).
        let mut stray = false;
        while let Some(&c) = chars.peek() {
            if c == ',' || c == '\n' || c == '\r' {
                break;
            }
            if quoted {
                stray = true;
            }
            cell.push(c);
            chars.next();
            col += 1;
        }
        if stray {
            diags.push(
                Diagnostic::warning(
                    "params.csv-text-after-quote",
                    "text after a closing quote is kept as part of the cell; quote the whole cell",
                )
                .at(pos),
            );
        }
        record.push(CsvCell { text: cell, pos });
        match chars.next() {
            Some(',') => col += 1,
            Some('\r') => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                line += 1;
                col = 1;
                records.push(std::mem::take(&mut record));
            }
            Some('\n') => {
                line += 1;
                col = 1;
                records.push(std::mem::take(&mut record));
            }
            Some(_) => unreachable!("the cell loop stops only at separators"),
            None => {
                records.push(std::mem::take(&mut record));
                break;
            }
        }
    }
    records.retain(|r| !(r.len() == 1 && r[0].text.is_empty()));
    records
}

/// Reads the CSV view. The header names the columns (any order, any case; `path` is
/// required); each problem is a diagnostic with the line and column of the cell. A row with a
/// bad cell is still loaded with that cell ignored.
pub fn params_from_csv(text: &str) -> (Vec<Parameter>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = read_csv_records(text, &mut diags);
    let Some((header, body)) = records.split_first() else {
        return (Vec::new(), diags);
    };
    let mut columns: Vec<Option<usize>> = Vec::new();
    for cell in header {
        let name = cell.text.trim().to_ascii_lowercase();
        let found = CSV_COLUMNS.iter().position(|c| *c == name);
        if found.is_none() {
            diags.push(
                Diagnostic::warning(
                    "params.csv-unknown-column",
                    format!(
                        "unknown column `{}` is ignored; known columns: {}",
                        cell.text,
                        CSV_COLUMNS.join(", ")
                    ),
                )
                .at(cell.pos),
            );
        }
        columns.push(found);
    }
    if !columns.contains(&Some(0)) {
        diags.push(
            Diagnostic::error(
                "params.csv-no-path-column",
                "the header has no `path` column; the first line must name the columns",
            )
            .at(SourcePos { line: 1, column: 1 }),
        );
        return (Vec::new(), diags);
    }
    let mut rows = Vec::new();
    let mut row_pos = Vec::new();
    for record in body {
        if record.len() > columns.len() {
            diags.push(
                Diagnostic::warning(
                    "params.csv-extra-cells",
                    format!(
                        "this row has {} cells but the header has {} columns; the extra cells are ignored",
                        record.len(),
                        columns.len()
                    ),
                )
                .at(record[columns.len()].pos),
            );
        }
        let mut path = None;
        let mut p = Parameter::default();
        for (cell, column) in record.iter().zip(&columns) {
            let Some(column) = column else { continue };
            if let Err(msg) = apply_csv_cell(&mut p, &mut path, *column, &cell.text) {
                diags.push(Diagnostic::error("params.csv-bad-cell", msg).at(cell.pos));
            }
        }
        let Some(path) = path else {
            diags.push(
                Diagnostic::error("params.csv-no-path", "this row has no path; it is skipped")
                    .at(record[0].pos),
            );
            continue;
        };
        if let Ok(segments) = parse_path(&path)
            && let Some(PathSegment::Field(name)) = segments.last()
        {
            p.name = name.clone();
        }
        rows.push(ParameterRow { path, param: p });
        row_pos.push(record[0].pos);
    }
    let (params, problems) = rows_to_params_indexed(&rows);
    for (index, d) in problems {
        diags.push(d.at(row_pos[index]));
    }
    diags.sort_by_key(|d| d.pos);
    (params, diags)
}

fn apply_csv_cell(
    p: &mut Parameter,
    path: &mut Option<String>,
    column: usize,
    text: &str,
) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let number = |what: &str| -> Result<f64, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{what} must be a number, not `{text}`"))
    };
    let count = |what: &str| -> Result<u64, String> {
        text.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} must be a whole number ≥ 0, not `{text}`"))
    };
    let flag = |what: &str| -> Result<bool, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "x" => Ok(true),
            "false" | "no" | "n" | "0" => Ok(false),
            _ => Err(format!("{what} must be true or false, not `{text}`")),
        }
    };
    match CSV_COLUMNS[column] {
        "path" => *path = Some(text.trim().to_owned()),
        "type" => {
            p.ty = ParamType::parse(text).ok_or_else(|| {
                format!(
                    "unknown type `{text}`; use one of {}",
                    ParamType::ALL.map(|t| t.as_str()).join(", ")
                )
            })?
        }
        "required" => p.required = flag("required")?,
        "nullable" => p.nullable = flag("nullable")?,
        "format" => p.format = Some(text.to_owned()),
        "description" => p.description = Some(text.to_owned()),
        "default" => p.default = Some(decode_value_cell(text)),
        "example" => p.example = Some(decode_value_cell(text)),
        "enum" => p.enum_values = decode_enum_cell(text),
        "minimum" => p.minimum = Some(number("minimum")?),
        "maximum" => p.maximum = Some(number("maximum")?),
        "min_length" => p.min_length = Some(count("min_length")?),
        "max_length" => p.max_length = Some(count("max_length")?),
        "min_items" => p.min_items = Some(count("min_items")?),
        "max_items" => p.max_items = Some(count("max_items")?),
        "pattern" => p.pattern = Some(text.to_owned()),
        other => unreachable!("column `{other}` is listed in CSV_COLUMNS"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Inference from a JSON sample
// ---------------------------------------------------------------------------------------

/// Infers parameters from a JSON sample.
///
/// An object sample yields its fields; any other sample yields a single parameter named
/// `value`. Objects nest; the elements of an array are merged into one item (a key missing
/// from some objects is optional, a key that is sometimes `null` is nullable); integers
/// merged with fractional numbers give `number`; strings shaped like RFC 3339 timestamps,
/// dates, UUIDs or e-mail addresses get a `format`. Scalars keep the first sample value as
/// their `example`. Keys present in the sample are `required`.
pub fn infer_parameters(sample: &Value) -> Vec<Parameter> {
    let root = infer_schema(sample);
    if root.ty == ParamType::Object {
        root.fields
    } else {
        vec![Parameter {
            name: "value".to_owned(),
            required: true,
            ..root
        }]
    }
}

/// Infers the (unnamed) parameter describing one JSON value.
pub fn infer_schema(sample: &Value) -> Parameter {
    match sample {
        Value::Null => Parameter {
            nullable: true,
            ..Parameter::default()
        },
        Value::Bool(_) => Parameter {
            ty: ParamType::Boolean,
            example: Some(sample.clone()),
            ..Parameter::default()
        },
        Value::Number(n) => Parameter {
            ty: if n.is_f64() {
                ParamType::Number
            } else {
                ParamType::Integer
            },
            example: Some(sample.clone()),
            ..Parameter::default()
        },
        Value::String(s) => Parameter {
            ty: ParamType::String,
            format: detect_format(s).map(str::to_owned),
            example: Some(sample.clone()),
            ..Parameter::default()
        },
        Value::Array(items) => {
            let item = items.iter().map(infer_schema).reduce(merge_schemas);
            Parameter {
                ty: ParamType::Array,
                items: item.map(Box::new),
                ..Parameter::default()
            }
        }
        Value::Object(map) => Parameter {
            ty: ParamType::Object,
            fields: infer_fields(map),
            ..Parameter::default()
        },
    }
}

fn infer_fields(map: &Map<String, Value>) -> Vec<Parameter> {
    map.iter()
        .map(|(k, v)| Parameter {
            name: k.clone(),
            required: true,
            ..infer_schema(v)
        })
        .collect()
}

/// Merges two inferred schemas of values seen at the same place.
fn merge_schemas(a: Parameter, b: Parameter) -> Parameter {
    let nullable = a.nullable || b.nullable;
    // A bare null (type any, nullable, nothing else) adopts the other side's shape.
    let is_bare_null = |p: &Parameter| p.ty == ParamType::Any && p.nullable && p.fields.is_empty();
    if is_bare_null(&a) {
        return Parameter {
            nullable: true,
            ..b
        };
    }
    if is_bare_null(&b) {
        return Parameter {
            nullable: true,
            ..a
        };
    }
    let ty = match (a.ty, b.ty) {
        (x, y) if x == y => x,
        (ParamType::Integer, ParamType::Number) | (ParamType::Number, ParamType::Integer) => {
            ParamType::Number
        }
        _ => ParamType::Any,
    };
    if ty == ParamType::Any {
        return Parameter {
            nullable,
            ..Parameter::default()
        };
    }
    let format = if a.format == b.format { a.format } else { None };
    let mut fields: Vec<Parameter> = Vec::new();
    if ty == ParamType::Object {
        let b_fields = b.fields;
        for fa in a.fields {
            match b_fields.iter().find(|f| f.name == fa.name) {
                Some(fb) => {
                    let required = fa.required && fb.required;
                    let name = fa.name.clone();
                    fields.push(Parameter {
                        name,
                        required,
                        ..merge_schemas(fa, fb.clone())
                    });
                }
                None => fields.push(Parameter {
                    required: false,
                    ..fa
                }),
            }
        }
        for fb in b_fields {
            if !fields.iter().any(|f| f.name == fb.name) {
                fields.push(Parameter {
                    required: false,
                    ..fb
                });
            }
        }
    }
    let items = match (a.items, b.items) {
        (Some(x), Some(y)) => Some(Box::new(merge_schemas(*x, *y))),
        (x, y) => x.or(y),
    };
    Parameter {
        name: a.name,
        ty,
        required: a.required,
        nullable,
        format,
        example: a.example.or(b.example),
        fields,
        items,
        ..Parameter::default()
    }
}

/// The `format` a string sample suggests, if any.
fn detect_format(s: &str) -> Option<&'static str> {
    if is_date_time(s) {
        Some("date-time")
    } else if is_date(s) {
        Some("date")
    } else if is_uuid(s) {
        Some("uuid")
    } else if is_email(s) {
        Some("email")
    } else if (s.starts_with("https://") || s.starts_with("http://")) && !s.contains(' ') {
        Some("uri")
    } else {
        None
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (y, m, d) = (&s[0..4], &s[5..7], &s[8..10]);
    if !(digits(y) && digits(m) && digits(d)) {
        return false;
    }
    let (m, d): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// RFC 3339: `2024-05-01T12:30:00Z`, with optional fraction and `±hh:mm` offset.
fn is_date_time(s: &str) -> bool {
    if s.len() < 20 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    let Some(rest) = rest.strip_prefix(['T', 't', ' ']) else {
        return false;
    };
    let b = rest.as_bytes();
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    if !(digits(&rest[0..2]) && digits(&rest[3..5]) && digits(&rest[6..8])) {
        return false;
    }
    let mut tail = &rest[8..];
    if let Some(frac) = tail.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        tail = &frac[n..];
    }
    match tail {
        "Z" | "z" => true,
        _ => {
            let b = tail.as_bytes();
            b.len() == 6
                && (b[0] == b'+' || b[0] == b'-')
                && b[3] == b':'
                && digits(&tail[1..3])
                && digits(&tail[4..6])
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

// ---------------------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------------------

/// The JSON Schema dialect Starweave exports.
pub const JSON_SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// A JSON Schema (draft 2020-12) for an object whose fields are `params`, with `$schema` set.
pub fn params_to_json_schema(params: &[Parameter]) -> Value {
    let mut schema = Map::new();
    schema.insert("$schema".into(), JSON_SCHEMA_DIALECT.into());
    if let Value::Object(body) = object_schema(params) {
        schema.extend(body);
    }
    Value::Object(schema)
}

fn object_schema(fields: &[Parameter]) -> Value {
    let mut s = Map::new();
    s.insert("type".into(), "object".into());
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in fields {
        props.insert(f.name.clone(), parameter_to_json_schema(f));
        if f.required {
            required.push(Value::String(f.name.clone()));
        }
    }
    if !props.is_empty() {
        s.insert("properties".into(), Value::Object(props));
    }
    if !required.is_empty() {
        s.insert("required".into(), Value::Array(required));
    }
    Value::Object(s)
}

/// The JSON Schema (draft 2020-12) of one parameter, without `$schema`.
pub fn parameter_to_json_schema(p: &Parameter) -> Value {
    let mut s = match p.ty {
        ParamType::Object => match object_schema(&p.fields) {
            Value::Object(m) => m,
            _ => unreachable!("object_schema returns an object"),
        },
        ParamType::Any => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("type".into(), other.as_str().into());
            m
        }
    };
    if p.nullable
        && let Some(t) = s.get_mut("type")
    {
        *t = Value::Array(vec![t.take(), "null".into()]);
    }
    if let Some(d) = &p.description {
        s.insert("description".into(), d.clone().into());
    }
    if let Some(f) = &p.format {
        s.insert("format".into(), f.clone().into());
    }
    if !p.enum_values.is_empty() {
        let mut values = p.enum_values.clone();
        if p.nullable && !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        s.insert("enum".into(), Value::Array(values));
    }
    let num = |n: f64| {
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Value::from(n as i64)
        } else {
            Value::from(n)
        }
    };
    if let Some(n) = p.minimum {
        s.insert("minimum".into(), num(n));
    }
    if let Some(n) = p.maximum {
        s.insert("maximum".into(), num(n));
    }
    for (key, value) in [
        ("minLength", p.min_length),
        ("maxLength", p.max_length),
        ("minItems", p.min_items),
        ("maxItems", p.max_items),
    ] {
        if let Some(v) = value {
            s.insert(key.into(), v.into());
        }
    }
    if let Some(pat) = &p.pattern {
        s.insert("pattern".into(), pat.clone().into());
    }
    if let Some(item) = &p.items {
        s.insert("items".into(), parameter_to_json_schema(item));
    }
    if let Some(d) = &p.default {
        s.insert("default".into(), d.clone());
    }
    if let Some(e) = &p.example {
        s.insert("examples".into(), Value::Array(vec![e.clone()]));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A realistic input: nested objects, arrays of objects and of scalars, formats and
    /// constraints.
    fn order_params() -> Vec<Parameter> {
        vec![
            Parameter {
                format: Some("uuid".into()),
                ..Parameter::new("id", ParamType::String).required()
            },
            Parameter::new("customer", ParamType::Object)
                .required()
                .with_fields(vec![
                    Parameter {
                        format: Some("email".into()),
                        example: Some(json!("ada@example.com")),
                        ..Parameter::new("email", ParamType::String).required()
                    },
                    Parameter::new("address", ParamType::Object).with_fields(vec![
                        Parameter {
                            min_length: Some(1),
                            max_length: Some(80),
                            ..Parameter::new("city", ParamType::String)
                        },
                        Parameter {
                            pattern: Some("^[A-Z]{2}$".into()),
                            enum_values: vec![json!("FR"), json!("DE"), json!("GB")],
                            default: Some(json!("FR")),
                            ..Parameter::new("country", ParamType::String)
                        },
                    ]),
                ]),
            Parameter {
                min_items: Some(1),
                max_items: Some(100),
                ..Parameter::new("items", ParamType::Array)
                    .required()
                    .describe("Order lines, in display order.")
                    .with_items(Parameter::new("", ParamType::Object).with_fields(vec![
                        Parameter::new("sku", ParamType::String).required(),
                        Parameter {
                            minimum: Some(1.0),
                            maximum: Some(999.0),
                            ..Parameter::new("quantity", ParamType::Integer).required()
                        },
                        Parameter {
                            nullable: true,
                            minimum: Some(0.5),
                            ..Parameter::new("unit_price", ParamType::Number)
                        },
                    ]))
            },
            Parameter::new("tags", ParamType::Array)
                .with_items(Parameter::new("", ParamType::String)),
            Parameter::new("matrix", ParamType::Array).with_items(
                Parameter::new("", ParamType::Array)
                    .with_items(Parameter::new("", ParamType::Number)),
            ),
            Parameter {
                default: Some(Value::Null),
                example: Some(json!({"any": ["thing", 1]})),
                ..Parameter::new("extra", ParamType::Any)
                    .describe("Free-form, \"quoted\", with, commas")
            },
            Parameter {
                enum_values: vec![json!(1), json!("1"), json!("a|b")],
                ..Parameter::new("odd_enum", ParamType::Any)
            },
        ]
    }

    #[test]
    fn table_paths_and_round_trip() {
        let params = order_params();
        let rows = params_to_rows(&params);
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "id",
                "customer",
                "customer.email",
                "customer.address",
                "customer.address.city",
                "customer.address.country",
                "items",
                "items[]",
                "items[].sku",
                "items[].quantity",
                "items[].unit_price",
                "tags",
                "tags[]",
                "matrix",
                "matrix[]",
                "matrix[][]",
                "extra",
                "odd_enum",
            ]
        );
        assert!(
            rows.iter()
                .all(|r| r.param.fields.is_empty() && r.param.items.is_none())
        );
        let (back, diags) = rows_to_params(&rows);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(back, params);
    }

    #[test]
    fn yaml_round_trip() {
        let params = order_params();
        let yaml = params_to_yaml(&params);
        let (back, diags) = params_from_yaml(&yaml);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(back, params);
        assert_eq!(params_to_yaml(&back), yaml);
        insta::assert_snapshot!("order_params_yaml", yaml);
    }

    #[test]
    fn csv_round_trip() {
        let params = order_params();
        let csv = params_to_csv(&params);
        let (back, diags) = params_from_csv(&csv);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(back, params);
        assert_eq!(params_to_csv(&back), csv);
        insta::assert_snapshot!("order_params_csv", csv);
    }

    #[test]
    fn all_three_views_agree() {
        let params = order_params();
        let from_csv = params_from_csv(&params_to_csv(&params)).0;
        let from_yaml = params_from_yaml(&params_to_yaml(&params)).0;
        let from_table = rows_to_params(&params_to_rows(&params)).0;
        assert_eq!(from_csv, from_yaml);
        assert_eq!(from_yaml, from_table);
        // And crossing views: YAML → table → CSV → YAML.
        let via = params_from_csv(&params_to_csv(
            &rows_to_params(&params_to_rows(&from_yaml)).0,
        ))
        .0;
        assert_eq!(params_to_yaml(&via), params_to_yaml(&params));
    }

    #[test]
    fn csv_cells_encode_strings_bare_when_unambiguous() {
        assert_eq!(encode_value_cell(&json!("abc")), "abc");
        assert_eq!(encode_value_cell(&json!("123")), "\"123\"");
        assert_eq!(encode_value_cell(&json!("true")), "\"true\"");
        assert_eq!(encode_value_cell(&json!("")), "\"\"");
        assert_eq!(encode_value_cell(&json!(12)), "12");
        assert_eq!(encode_value_cell(&json!([1, "x"])), "[1,\"x\"]");
        for v in [
            json!("abc"),
            json!("123"),
            json!(""),
            json!(null),
            json!({"a": 1}),
            json!(" 1"),
        ] {
            assert_eq!(decode_value_cell(&encode_value_cell(&v)), v);
        }
        assert_eq!(encode_enum_cell(&[json!("a"), json!("b")]), "a|b");
        assert_eq!(encode_enum_cell(&[json!("a|b")]), "[\"a|b\"]");
        assert_eq!(
            decode_enum_cell("a|2|\"3\""),
            vec![json!("a"), json!(2), json!("3")]
        );
    }

    #[test]
    fn csv_reader_handles_quotes_crlf_and_column_order() {
        let csv = "Type,PATH,description\r\nstring,name,\"Full name, \"\"as written\"\"\r\nsecond line\"\r\n\r\ninteger,age,\n";
        let (params, diags) = params_from_csv(csv);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            params,
            vec![
                Parameter::new("name", ParamType::String)
                    .describe("Full name, \"as written\"\r\nsecond line"),
                Parameter::new("age", ParamType::Integer),
            ]
        );
    }

    #[test]
    fn csv_problems_are_reported_per_row_with_positions() {
        let csv = "\
path,type,required,minimum,colour
user,object,,,
user.name,strnig,yes,,
user.age,integer,maybe,ten,
,string,,,
user.name,string,,,blue
\"unterminated,string
";
        let (params, diags) = params_from_csv(csv);
        let shown: Vec<String> = diags
            .iter()
            .map(|d| {
                let pos = d.pos.expect("every CSV diagnostic has a position");
                format!("{}:{}: {d}", pos.line, pos.column)
            })
            .collect();
        insta::assert_snapshot!("csv_problems", shown.join("\n"));
        // The good rows still load.
        assert_eq!(params[0].name, "user");
        assert_eq!(params[0].fields.len(), 2);
    }

    #[test]
    fn rows_without_parents_get_implicit_parents() {
        let rows = vec![
            ParameterRow {
                path: "order.lines[].sku".into(),
                param: Parameter::new("sku", ParamType::String),
            },
            ParameterRow {
                path: "count".into(),
                param: Parameter::new("count", ParamType::Integer),
            },
            ParameterRow {
                path: "count.x".into(),
                param: Parameter::new("x", ParamType::Integer),
            },
            ParameterRow {
                path: "bad..path".into(),
                param: Parameter::default(),
            },
        ];
        let (params, diags) = rows_to_params(&rows);
        assert_eq!(
            params[0],
            Parameter::new("order", ParamType::Object).with_fields(vec![
                Parameter::new("lines", ParamType::Array).with_items(
                    Parameter::new("", ParamType::Object)
                        .with_fields(vec![Parameter::new("sku", ParamType::String)])
                )
            ])
        );
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "params.implicit-parent",
                "params.implicit-parent",
                "params.implicit-parent",
                "params.children-of-scalar",
                "params.bad-path"
            ]
        );
    }

    #[test]
    fn paths_parse_and_find() {
        assert_eq!(
            parse_path("items[].sku"),
            Ok(vec![
                PathSegment::Field("items".into()),
                PathSegment::Item,
                PathSegment::Field("sku".into())
            ])
        );
        for bad in ["", "[]", "a.", ".a", "a..b", "a[]b", "a]", "a[x]"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        let params = order_params();
        assert_eq!(
            find_parameter(&params, "items[].quantity").map(|p| p.ty),
            Some(ParamType::Integer)
        );
        assert_eq!(
            find_parameter(&params, "matrix[][]").map(|p| p.ty),
            Some(ParamType::Number)
        );
        assert!(find_parameter(&params, "customer.phone").is_none());
    }

    #[test]
    fn inference_from_a_nested_sample() {
        let sample = json!({
            "orderId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "placedAt": "2024-05-01T12:30:00.250+02:00",
            "deliveryDate": "2024-05-03",
            "total": 42.5,
            "count": 3,
            "paid": true,
            "note": null,
            "customer": {
                "email": "ada@example.com",
                "site": "https://example.com/ada",
                "address": { "city": "Paris", "zip": "75001" }
            },
            "lines": [
                { "sku": "A-1", "qty": 1, "price": 10, "gift": { "wrap": true } },
                { "sku": "B-2", "qty": 2, "price": 16.25, "discount": null },
                { "sku": "C-3", "qty": 1, "price": null, "discount": 0.1 }
            ],
            "tags": ["new", "promo"],
            "mixed": [1, "two"],
            "empty": []
        });
        let params = infer_parameters(&sample);
        insta::assert_snapshot!("inferred_order_yaml", params_to_yaml(&params));
        let lines = find_parameter(&params, "lines[]").unwrap();
        let field = |name: &str| lines.fields.iter().find(|f| f.name == name).unwrap();
        assert!(field("sku").required && field("qty").required && field("price").required);
        assert_eq!(field("qty").ty, ParamType::Integer);
        assert_eq!(field("price").ty, ParamType::Number, "10 merged with 16.25");
        assert!(field("price").nullable);
        assert!(!field("discount").required && field("discount").nullable);
        assert_eq!(field("discount").ty, ParamType::Number);
        assert!(!field("gift").required);
        assert_eq!(
            find_parameter(&params, "placedAt")
                .unwrap()
                .format
                .as_deref(),
            Some("date-time")
        );
        assert_eq!(
            find_parameter(&params, "mixed[]").unwrap().ty,
            ParamType::Any
        );
        assert!(find_parameter(&params, "empty").unwrap().items.is_none());
        // A non-object sample is one parameter called `value`.
        assert_eq!(
            infer_parameters(&json!([1, 2])),
            vec![Parameter {
                required: true,
                ..Parameter::new("value", ParamType::Array).with_items(Parameter {
                    example: Some(json!(1)),
                    ..Parameter::new("", ParamType::Integer)
                })
            }]
        );
    }

    #[test]
    fn format_detection() {
        assert_eq!(detect_format("2024-02-29T23:59:60Z"), Some("date-time"));
        assert_eq!(
            detect_format("2024-02-29 23:59:00+01:00"),
            Some("date-time")
        );
        assert_eq!(detect_format("2024-13-01T00:00:00Z"), None);
        assert_eq!(detect_format("2024-02-29T23:59Z"), None);
        assert_eq!(detect_format("2024-02-29"), Some("date"));
        assert_eq!(detect_format("a@b.co"), Some("email"));
        assert_eq!(detect_format("a@b"), None);
        assert_eq!(detect_format("not a uuid-3f2504e0-4f89-11d3-9a0c"), None);
        assert_eq!(detect_format("é2024-02-29T23:59:60Z"), None);
    }

    #[test]
    fn json_schema_export() {
        let schema = params_to_json_schema(&order_params());
        insta::assert_json_snapshot!("order_params_json_schema", schema);
        assert_eq!(schema["$schema"], JSON_SCHEMA_DIALECT);
        assert_eq!(schema["required"], json!(["id", "customer", "items"]));
        assert_eq!(
            schema["properties"]["items"]["items"]["properties"]["unit_price"]["type"],
            json!(["number", "null"])
        );
    }
}

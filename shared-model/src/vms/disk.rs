//! The on-disk VMS: files in, [`Vms`] plus diagnostics out, and back.
//!
//! This module does no I/O: a directory is a [`VmsFiles`] map from relative paths (with `/`)
//! to bytes, which callers fill from the file system, a Git tree or an upload.
//!
//! Guarantees:
//! - [`read_vms`] never panics and never stops at the first problem. A file that cannot be
//!   loaded yields diagnostics with file, line and column, is kept verbatim in
//!   [`Vms::other_files`], and everything else still loads.
//! - `read_vms(&write_vms(&v)).vms == v`, and for files already in canonical form
//!   `write_vms(&read_vms(&f).vms) == f`: saving an unchanged VMS changes no byte.
//!
//! Canonical YAML is what serde_yaml_ng writes for the model types: their field order,
//! empty and default fields left out, two-space indentation.

use std::collections::BTreeMap;

use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize};

use super::connector::{Connector, ConnectorKind};
use super::function::{CodeLanguage, Function, FunctionBody, FunctionSpec};
use super::local_env::{LOCAL_ENV_FILE, LocalEnv};
use super::outline::YamlOutline;
use super::test_case::TestCase;
use super::trigger::{Trigger, TriggerKind};
use super::{Vms, VmsManifest};
use crate::bpmn;
use crate::diagnostic::{Diagnostic, SourcePos};

/// A VMS directory as data: relative path (with `/`) → file contents.
pub type VmsFiles = BTreeMap<String, Vec<u8>>;

/// The manifest's path.
pub const MANIFEST_FILE: &str = "vms.yaml";
/// The triggers' path.
pub const TRIGGERS_FILE: &str = "triggers.yaml";
/// YAML files larger than this are not parsed (they are kept verbatim, with an error):
/// no hand-written VMS file comes near it, and it bounds the work a hostile file causes.
pub const MAX_YAML_BYTES: usize = 4 << 20;

/// The path of a connector's file.
pub fn connector_file(name: &str) -> String {
    format!("connectors/{name}.yaml")
}

/// The path of a function's spec (`.yaml`) file.
pub fn function_spec_file(name: &str) -> String {
    format!("functions/{name}.yaml")
}

/// The path of a function's body file, given its extension (`js`, `rhai`, `bpmn`).
pub fn function_body_file(name: &str, extension: &str) -> String {
    format!("functions/{name}.{extension}")
}

/// The path of a test case's file.
pub fn test_case_file(function: &str, case: &str) -> String {
    format!("tests/{function}/{case}.yaml")
}

/// What a file of a VMS directory is, judged by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRole {
    /// `vms.yaml`.
    Manifest,
    /// `triggers.yaml`.
    Triggers,
    /// `connectors/<name>.yaml`.
    Connector {
        /// The connector's name.
        name: String,
    },
    /// `functions/<name>.yaml`.
    FunctionSpec {
        /// The function's name.
        name: String,
    },
    /// `functions/<name>.js`, `.rhai` or `.bpmn`.
    FunctionBody {
        /// The function's name.
        name: String,
        /// `js`, `rhai` or `bpmn`.
        extension: &'static str,
    },
    /// `tests/<function>/<case>.yaml`.
    TestCase {
        /// The function tested.
        function: String,
        /// The case's name.
        case: String,
    },
    /// Anything else; kept verbatim.
    Other {
        /// Why the file looks misplaced, when it does (a warning is reported).
        suspicious: Option<String>,
    },
}

/// Whether a name can be a function or connector name: ASCII letters, digits, `_` and `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Says what a path is.
pub fn classify(path: &str) -> FileRole {
    let other = |why: Option<String>| FileRole::Other { suspicious: why };
    let parts: Vec<&str> = path.split('/').collect();
    let yaml_stem = |file: &str| {
        file.strip_suffix(".yaml")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match parts.as_slice() {
        [MANIFEST_FILE] => FileRole::Manifest,
        [TRIGGERS_FILE] => FileRole::Triggers,
        [file] if file.ends_with(".yml") || (file.ends_with(".yaml") && !file.starts_with('.')) => {
            other(Some(format!(
                "`{path}` is not a VMS file; the top-level YAML files are `vms.yaml` and `triggers.yaml`"
            )))
        }
        ["connectors", file] => match yaml_stem(file) {
            Some(name) => FileRole::Connector { name },
            None => other(Some(format!(
                "`{path}` is not a connector: connectors are `connectors/<name>.yaml`"
            ))),
        },
        ["functions", file] => {
            if let Some(name) = yaml_stem(file) {
                return FileRole::FunctionSpec { name };
            }
            for extension in ["js", "rhai", "bpmn"] {
                if let Some(name) = file
                    .strip_suffix(&format!(".{extension}"))
                    .filter(|s| !s.is_empty())
                {
                    return FileRole::FunctionBody {
                        name: name.to_owned(),
                        extension,
                    };
                }
            }
            other(Some(format!(
                "`{path}` is not a function file: functions are `.js`, `.rhai` or `.bpmn`, with a `.yaml` spec"
            )))
        }
        ["tests", function, file] if file.ends_with(".yaml") || file.ends_with(".yml") => {
            match yaml_stem(file) {
                Some(case) if !function.is_empty() => FileRole::TestCase {
                    function: (*function).to_owned(),
                    case,
                },
                _ => other(Some(format!(
                    "`{path}` is not a test case: test cases are `tests/<function>/<case>.yaml`"
                ))),
            }
        }
        ["connectors" | "functions", ..] => other(Some(format!(
            "`{path}` is in a subfolder of `{}/`, which Starweave does not read",
            parts[0]
        ))),
        _ => other(None),
    }
}

/// A place in a VMS: a file and, when known, a line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, relative to the VMS root.
    pub file: String,
    /// Where in the file.
    pub pos: Option<SourcePos>,
}

impl Location {
    /// Puts a diagnostic at this place.
    pub fn attach(&self, diagnostic: Diagnostic) -> Diagnostic {
        diagnostic.in_file(self.file.clone()).at_opt(self.pos)
    }
}

/// Where the items of a loaded VMS are, so validators can report file:line:col.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmsSourceMap {
    /// Outlines of the YAML files read, by path.
    pub yaml: BTreeMap<String, YamlOutline>,
    /// Element positions of the BPMN files read, by path.
    pub bpmn: BTreeMap<String, bpmn::SourceMap>,
}

impl VmsSourceMap {
    /// The position of a YAML path (`methods[2].input`) in a file, or of its nearest
    /// recorded ancestor.
    pub fn locate(&self, file: &str, path: &str) -> Location {
        Location {
            file: file.to_owned(),
            pos: self.yaml.get(file).and_then(|o| o.locate(path)),
        }
    }

    /// Trigger `index` of `triggers.yaml`, or one of its fields (`Some("function")`).
    pub fn trigger(&self, index: usize, field: Option<&str>) -> Location {
        let path = match field {
            Some(f) => format!("[{index}].{f}"),
            None => format!("[{index}]"),
        };
        self.locate(TRIGGERS_FILE, &path)
    }

    /// A place in a connector's file (`""` for the file itself, `methods[1].sql`…).
    pub fn connector(&self, name: &str, path: &str) -> Location {
        self.locate(&connector_file(name), path)
    }

    /// A place in a function's spec file (`input[0].name`…); the body file when the
    /// function has no spec file.
    pub fn function(&self, vms: &Vms, name: &str, path: &str) -> Location {
        let spec = function_spec_file(name);
        if self.yaml.contains_key(&spec) {
            return self.locate(&spec, path);
        }
        let extension = vms.functions.get(name).map_or("js", Function::extension);
        Location {
            file: function_body_file(name, extension),
            pos: None,
        }
    }

    /// A BPMN element of a BPMN function, by id.
    pub fn bpmn_element(&self, function: &str, id: &str) -> Location {
        let file = function_body_file(function, "bpmn");
        let pos = self.bpmn.get(&file).and_then(|m| m.pos(id));
        Location { file, pos }
    }

    /// A place in a test case's file (`mocks`, `output`…).
    pub fn test_case(&self, function: &str, case: &str, path: &str) -> Location {
        self.locate(&test_case_file(function, case), path)
    }
}

/// What [`read_vms`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct VmsDocument {
    /// The VMS, as complete as the files allowed.
    pub vms: Vms,
    /// Every problem found, in path order.
    pub diagnostics: Vec<Diagnostic>,
    /// Where things are, for later diagnostics.
    pub source_map: VmsSourceMap,
}

impl VmsDocument {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

// ---------------------------------------------------------------------------------------
// YAML helpers
// ---------------------------------------------------------------------------------------

/// Whether a YAML text holds no value (only blank lines, comments and document markers).
pub(crate) fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Turns a serde_yaml_ng error into a diagnostic at its line and column.
pub(crate) fn yaml_diagnostic(error: &serde_yaml_ng::Error, file: Option<&str>) -> Diagnostic {
    let raw = error.to_string();
    let message = strip_positions(&raw);
    // serde_yaml_ng names the root `.`; `.[0].kind` reads better as `[0].kind`.
    let message = match message.strip_prefix('.') {
        Some(rest) if rest.starts_with('[') => rest.to_owned(),
        _ => message,
    };
    let message = if message.contains("repetition limit exceeded") {
        "YAML aliases expand to too much data (a \"billion laughs\" bomb?); the file is not loaded"
            .to_owned()
    } else if message.contains("recursion limit exceeded") {
        "the YAML is nested too deeply (more than 128 levels); the file is not loaded".to_owned()
    } else {
        message
    };
    let pos = error.location().map(|l| SourcePos {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
    });
    // Errors about the file as a whole (an alias bomb, several documents) point at its start.
    let pos = pos.unwrap_or(SourcePos { line: 1, column: 1 });
    let d = Diagnostic::error("vms.yaml", message).at(pos);
    match file {
        Some(f) => d.in_file(f),
        None => d,
    }
}

/// Removes the ` at line N column M` that serde_yaml_ng appends; the diagnostic carries it.
fn strip_positions(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[digits..];
        if digits > 0
            && let Some(col) = tail.strip_prefix(" column ")
        {
            let n = col.bytes().take_while(u8::is_ascii_digit).count();
            rest = &col[n..];
        } else {
            out.push_str(" at line ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_yaml_ng::to_string(value).expect("VMS model types always serialize to YAML")
}

/// Parses one YAML file into `T`; `empty` is the value of a blank file (or `None` when a
/// blank file is an error).
fn parse_yaml<T: DeserializeOwned>(
    path: &str,
    text: &str,
    empty: Option<T>,
    what: &str,
) -> (Option<T>, Vec<Diagnostic>) {
    parse_yaml_with(path, text, empty, what, |t| serde_yaml_ng::from_str::<T>(t))
}

/// [`parse_yaml`] with a custom reader.
fn parse_yaml_with<T>(
    path: &str,
    text: &str,
    empty: Option<T>,
    what: &str,
    read: impl FnOnce(&str) -> Result<T, serde_yaml_ng::Error>,
) -> (Option<T>, Vec<Diagnostic>) {
    if text.len() > MAX_YAML_BYTES {
        let d = Diagnostic::error(
            "vms.file-too-large",
            format!(
                "{what} is {} bytes; YAML files over {} bytes are not loaded",
                text.len(),
                MAX_YAML_BYTES
            ),
        )
        .in_file(path);
        return (None, vec![d]);
    }
    if is_blank_yaml(text) {
        return match empty {
            Some(v) => (Some(v), Vec::new()),
            None => (
                None,
                vec![
                    Diagnostic::error("vms.empty-file", format!("{what} is empty"))
                        .in_file(path)
                        .at(SourcePos { line: 1, column: 1 }),
                ],
            ),
        };
    }
    match read(text) {
        Ok(v) => (Some(v), Vec::new()),
        Err(e) => (None, vec![yaml_diagnostic(&e, Some(path))]),
    }
}

// ---------------------------------------------------------------------------------------
// Kind-tagged files
// ---------------------------------------------------------------------------------------
//
// serde's internally tagged enums buffer the whole value before choosing a variant, which
// throws away line and column information: an error deep inside a connector would be
// reported without a position. Files are therefore read in two passes: a probe reads only
// the `kind` keys, then each item is read straight into its variant's struct, with the
// `kind` key skipped, so every error keeps its exact position.

/// Only the `kind` of a tagged item; other keys are ignored.
#[derive(Deserialize)]
struct KindProbe<K: KindName> {
    #[serde(deserialize_with = "kind_name")]
    kind: K,
}

/// The kinds a `kind` key may name.
trait KindName: Sized {
    const NAMES: &'static [&'static str];
    fn from_name(name: &str) -> Option<Self>;
}

impl KindName for ConnectorKind {
    const NAMES: &'static [&'static str] = &["http", "database", "cache", "mq", "grpc", "config"];
    fn from_name(name: &str) -> Option<Self> {
        ConnectorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl KindName for TriggerKind {
    const NAMES: &'static [&'static str] = &["http", "cron", "mq", "grpc"];
    fn from_name(name: &str) -> Option<Self> {
        TriggerKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Reads a kind as plain text, so a wrong value gets a plain message ("expected one of …").
fn kind_name<'de, D: Deserializer<'de>, K: KindName>(d: D) -> Result<K, D::Error> {
    // The check runs inside the scalar's own deserialization, so the error points at it.
    struct NameVisitor<K>(PhantomData<K>);
    impl<K: KindName> Visitor<'_> for NameVisitor<K> {
        type Value = K;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "one of {}", K::NAMES.join(", "))
        }
        fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<K, E> {
            K::from_name(name).ok_or_else(|| E::unknown_variant(name, K::NAMES))
        }
    }
    d.deserialize_str(NameVisitor(PhantomData))
}

/// Deserializes `T` from a map, skipping its `kind` key.
struct SkipKind<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SkipKind<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = SkipKind<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(WithoutKind(map))).map(SkipKind)
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

/// A map access that hides the `kind` entry.
struct WithoutKind<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutKind<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        loop {
            let Some(key) = self.0.next_key::<String>()? else {
                return Ok(None);
            };
            if key == "kind" {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            return seed
                .deserialize(serde::de::value::StringDeserializer::new(key))
                .map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.next_value_seed(seed)
    }
}

fn connector_of_kind<'de, D: Deserializer<'de>>(
    kind: ConnectorKind,
    d: D,
) -> Result<Connector, D::Error> {
    Ok(match kind {
        ConnectorKind::Http => Connector::Http(SkipKind::deserialize(d)?.0),
        ConnectorKind::Database => Connector::Database(SkipKind::deserialize(d)?.0),
        ConnectorKind::Cache => Connector::Cache(SkipKind::deserialize(d)?.0),
        ConnectorKind::Mq => Connector::Mq(SkipKind::deserialize(d)?.0),
        ConnectorKind::Grpc => Connector::Grpc(SkipKind::deserialize(d)?.0),
        ConnectorKind::Config => Connector::Config(SkipKind::deserialize(d)?.0),
    })
}

/// One trigger of a known kind.
struct TriggerSeed(TriggerKind);

impl<'de> DeserializeSeed<'de> for TriggerSeed {
    type Value = Trigger;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Trigger, D::Error> {
        Ok(match self.0 {
            TriggerKind::Http => Trigger::Http(SkipKind::deserialize(d)?.0),
            TriggerKind::Cron => Trigger::Cron(SkipKind::deserialize(d)?.0),
            TriggerKind::Mq => Trigger::Mq(SkipKind::deserialize(d)?.0),
            TriggerKind::Grpc => Trigger::Grpc(SkipKind::deserialize(d)?.0),
        })
    }
}

/// A list of triggers whose kinds the probe found.
struct TriggerListSeed(Vec<TriggerKind>);

impl<'de> DeserializeSeed<'de> for TriggerListSeed {
    type Value = Vec<Trigger>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Trigger>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TriggerListSeed {
    type Value = Vec<Trigger>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of triggers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Trigger>, A::Error> {
        let mut out = Vec::with_capacity(self.0.len());
        for kind in self.0 {
            match seq.next_element_seed(TriggerSeed(kind))? {
                Some(t) => out.push(t),
                None => break,
            }
        }
        Ok(out)
    }
}

fn read_connector_yaml(text: &str) -> Result<Connector, serde_yaml_ng::Error> {
    let probe: KindProbe<ConnectorKind> = serde_yaml_ng::from_str(text)?;
    connector_of_kind(probe.kind, serde_yaml_ng::Deserializer::from_str(text))
}

fn read_triggers_yaml(text: &str) -> Result<Vec<Trigger>, serde_yaml_ng::Error> {
    let probe: Vec<KindProbe<TriggerKind>> = serde_yaml_ng::from_str(text)?;
    let kinds = probe.into_iter().map(|p| p.kind).collect();
    TriggerListSeed(kinds).deserialize(serde_yaml_ng::Deserializer::from_str(text))
}

// ---------------------------------------------------------------------------------------
// Per-file readers and writers
// ---------------------------------------------------------------------------------------

/// Reads `vms.yaml`.
pub fn parse_manifest(path: &str, text: &str) -> (Option<VmsManifest>, Vec<Diagnostic>) {
    parse_yaml(path, text, None, "the manifest (needs at least `name`)")
}

/// Writes `vms.yaml` canonically.
pub fn manifest_to_yaml(manifest: &VmsManifest) -> String {
    to_yaml(manifest)
}

/// Reads `triggers.yaml`. When the file as a whole does not load, each item of the list is
/// read on its own, so one broken trigger does not hide the others.
pub fn parse_triggers(path: &str, text: &str) -> (Vec<Trigger>, Vec<Diagnostic>) {
    let (all, diagnostics) =
        parse_yaml::<Vec<Trigger>>(path, text, Some(Vec::new()), "triggers.yaml");
    if let Some(all) = all {
        return (all, diagnostics);
    }
    if text.len() > MAX_YAML_BYTES {
        return (Vec::new(), diagnostics);
    }
    let outline = YamlOutline::scan(text);
    let starts: Vec<usize> = (0..)
        .map_while(|i| outline.get(&format!("[{i}]")))
        .map(|p| p.line as usize - 1)
        .collect();
    if starts.is_empty() {
        return (Vec::new(), diagnostics);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut triggers = Vec::new();
    let mut item_diagnostics = Vec::new();
    for (i, start) in starts.iter().enumerate() {
        let end = starts
            .get(i + 1)
            .copied()
            .unwrap_or(lines.len())
            .min(lines.len());
        let start = (*start).min(end);
        let chunk = lines[start..end].join("\n");
        match read_triggers_yaml(&chunk) {
            Ok(items) => triggers.extend(items),
            Err(e) => {
                let mut d = yaml_diagnostic(&e, Some(path));
                // The chunk holds one item, so its paths start at `[0]`.
                if let Some(rest) = d.message.strip_prefix("[0]") {
                    d.message = format!("[{i}]{rest}");
                }
                if let Some(pos) = &mut d.pos {
                    pos.line = pos.line.saturating_add(start as u32);
                }
                item_diagnostics.push(d);
            }
        }
    }
    if item_diagnostics.is_empty() {
        (triggers, diagnostics)
    } else {
        (triggers, item_diagnostics)
    }
}

/// Writes `triggers.yaml` canonically.
pub fn triggers_to_yaml(triggers: &[Trigger]) -> String {
    if triggers.is_empty() {
        return "[]\n".to_owned();
    }
    to_yaml(&triggers)
}

/// Reads `connectors/<name>.yaml`.
pub fn parse_connector(path: &str, text: &str) -> (Option<Connector>, Vec<Diagnostic>) {
    let (connector, mut diagnostics) = parse_yaml_with(
        path,
        text,
        None,
        "the connector (needs at least `kind`)",
        read_connector_yaml,
    );
    diagnostics.extend(comments_cutting_values(path, text));
    (connector, diagnostics)
}

/// Warns where ` #` inside a plain (unquoted, non-block) YAML value starts a comment, which
/// silently cuts the value short: `sql: insert … values (#{a}, #{b})` loses `, #{b})`.
/// MyBatis-style binds make this an easy mistake in SQL methods.
fn comments_cutting_values(path: &str, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Lines indented deeper than this belong to a block scalar (`|` or `>`).
    let mut block_indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(block) = block_indent {
            if trimmed.is_empty() || indent > block {
                continue;
            }
            block_indent = None;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let Some((_, value)) = body.split_once(": ") else {
            continue;
        };
        let value = value.trim_start();
        if value.starts_with('|') || value.starts_with('>') {
            block_indent = Some(indent);
            continue;
        }
        if value.starts_with('\'') || value.starts_with('"') {
            continue;
        }
        if let Some(at) = value.find(" #{") {
            let column = line.len() - value.len() + at + 2;
            out.push(
                Diagnostic::warning(
                    "vms.yaml-comment-cuts-value",
                    "` #` starts a YAML comment here, so the rest of this line is not part of the value; write the value as a block (`sql: |` and the SQL on the next lines) or quote it",
                )
                .in_file(path)
                .at(SourcePos {
                    line: index as u32 + 1,
                    column: column as u32,
                }),
            );
        }
    }
    out
}

/// Writes a connector file canonically.
pub fn connector_to_yaml(connector: &Connector) -> String {
    to_yaml(connector)
}

/// Reads `functions/<name>.yaml`.
pub fn parse_function_spec(path: &str, text: &str) -> (Option<FunctionSpec>, Vec<Diagnostic>) {
    parse_yaml(
        path,
        text,
        Some(FunctionSpec::default()),
        "the function spec",
    )
}

/// Writes a function spec file canonically.
pub fn function_spec_to_yaml(spec: &FunctionSpec) -> String {
    to_yaml(spec)
}

/// Reads `tests/<function>/<case>.yaml`.
pub fn parse_test_case(path: &str, text: &str) -> (Option<TestCase>, Vec<Diagnostic>) {
    parse_yaml(path, text, Some(TestCase::default()), "the test case")
}

/// Writes a test case file canonically.
pub fn test_case_to_yaml(case: &TestCase) -> String {
    to_yaml(case)
}

/// Decodes a text file: UTF-8 (a leading byte-order mark is dropped), or an error at the
/// first bad byte.
fn decode_text<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
        Diagnostic::error(
            "vms.not-utf8",
            format!(
                "the file is not UTF-8 text (bad byte 0x{:02x} at offset {}); save it as UTF-8",
                bytes[e.valid_up_to()],
                e.valid_up_to()
            ),
        )
        .in_file(path)
        .at(SourcePos::from_offset(good, good.len()))
    })
}

/// Checks one file of a VMS on its own, as the IDE does on every save: the diagnostics
/// [`read_vms`] would report for it (cross-file checks are the validator's).
pub fn check_file(path: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    let mut loader = Loader::default();
    loader.load_file(path, bytes);
    loader.diagnostics
}

/// The canonical bytes of one file, or `None` (with the reasons) when it does not load
/// cleanly or is not a file Starweave formats. Code files come back unchanged.
pub fn format_file(path: &str, bytes: &[u8]) -> (Option<Vec<u8>>, Vec<Diagnostic>) {
    let mut loader = Loader::default();
    loader.load_file(path, bytes);
    if loader.diagnostics.iter().any(Diagnostic::is_error) {
        return (None, loader.diagnostics);
    }
    let out = match classify(path) {
        FileRole::Manifest => loader.manifest.map(|m| manifest_to_yaml(&m).into_bytes()),
        FileRole::Triggers => Some(triggers_to_yaml(&loader.vms.triggers).into_bytes()),
        FileRole::Connector { name } => loader
            .vms
            .connectors
            .get(&name)
            .map(|c| connector_to_yaml(c).into_bytes()),
        FileRole::FunctionSpec { name } => loader
            .specs
            .get(&name)
            .and_then(|(_, s)| s.as_ref())
            .map(|s| function_spec_to_yaml(s).into_bytes()),
        FileRole::FunctionBody { name, .. } => loader
            .bodies
            .get(&name)
            .and_then(|b| b.first())
            .and_then(|(_, body)| body.as_ref())
            .map(body_bytes),
        FileRole::TestCase { function, case } => loader
            .vms
            .tests
            .get(&function)
            .and_then(|t| t.get(&case))
            .map(|c| test_case_to_yaml(c).into_bytes()),
        FileRole::Other { .. } => None,
    };
    (out, loader.diagnostics)
}

fn body_bytes(body: &FunctionBody) -> Vec<u8> {
    match body {
        FunctionBody::Code { source, .. } => source.as_bytes().to_vec(),
        FunctionBody::Bpmn { definitions } => bpmn::write_bpmn(definitions).into_bytes(),
    }
}

// ---------------------------------------------------------------------------------------
// Whole VMS
// ---------------------------------------------------------------------------------------

/// State while reading the files of a VMS.
#[derive(Debug, Default)]
struct Loader {
    vms: Vms,
    diagnostics: Vec<Diagnostic>,
    source_map: VmsSourceMap,
    manifest: Option<VmsManifest>,
    manifest_seen: bool,
    /// Function name → (spec path, parsed spec or `None` when it failed).
    specs: BTreeMap<String, (String, Option<FunctionSpec>)>,
    /// Function name → body files (path, body or `None` when it failed).
    bodies: BTreeMap<String, Vec<(String, Option<FunctionBody>)>>,
}

impl Loader {
    /// `.env.local` (kept verbatim in `other_files`, like any file the model does not hold):
    /// an error where it does not parse, a warning for each name `vms.yaml` does not declare.
    fn check_local_env(&mut self) {
        let Some(local) = LocalEnv::of_vms_files(&self.vms.other_files) else {
            return;
        };
        match local {
            Err(e) => self.diagnostics.push(
                Diagnostic::error("vms.local-env", e.message)
                    .in_file(LOCAL_ENV_FILE)
                    .at(e.pos),
            ),
            Ok(local) => {
                if self.manifest.is_none() {
                    return;
                }
                for (name, line) in local.names() {
                    if !self.vms.env.iter().any(|v| v.name == name) {
                        self.diagnostics.push(
                            Diagnostic::warning(
                                "vms.local-env-undeclared",
                                format!(
                                    "`{name}` is not declared in vms.yaml, so runs do not get it (a deployment would not either); declare it to use it"
                                ),
                            )
                            .in_file(LOCAL_ENV_FILE)
                            .at(SourcePos { line, column: 1 }),
                        );
                    }
                }
            }
        }
    }

    fn keep_raw(&mut self, path: &str, bytes: &[u8]) {
        self.vms.other_files.insert(path.to_owned(), bytes.to_vec());
    }

    /// Decodes a YAML file, records its outline and parses it; a file with errors is kept
    /// verbatim.
    fn yaml<T>(
        &mut self,
        path: &str,
        bytes: &[u8],
        parse: impl FnOnce(&str, &str) -> (T, Vec<Diagnostic>),
    ) -> Option<T> {
        if bytes.len() > MAX_YAML_BYTES {
            self.diagnostics.push(
                Diagnostic::error(
                    "vms.file-too-large",
                    format!(
                        "the file is {} bytes; YAML files over {} bytes are not loaded",
                        bytes.len(),
                        MAX_YAML_BYTES
                    ),
                )
                .in_file(path),
            );
            self.keep_raw(path, bytes);
            return None;
        }
        let text = match decode_text(path, bytes) {
            Ok(t) => t,
            Err(d) => {
                self.diagnostics.push(d);
                self.keep_raw(path, bytes);
                return None;
            }
        };
        self.source_map
            .yaml
            .insert(path.to_owned(), YamlOutline::scan(text));
        let (value, diagnostics) = parse(path, text);
        let failed = diagnostics.iter().any(Diagnostic::is_error);
        self.diagnostics.extend(diagnostics);
        if failed {
            self.keep_raw(path, bytes);
        }
        Some(value)
    }

    fn load_file(&mut self, path: &str, bytes: &[u8]) {
        match classify(path) {
            FileRole::Manifest => {
                self.manifest_seen = true;
                if let Some(Some(m)) = self.yaml(path, bytes, parse_manifest) {
                    self.vms.set_manifest(m.clone());
                    self.manifest = Some(m);
                }
            }
            FileRole::Triggers => {
                if let Some(triggers) = self.yaml(path, bytes, parse_triggers) {
                    self.vms.triggers = triggers;
                }
            }
            FileRole::Connector { name } => {
                self.warn_name(path, &name, "connector");
                if let Some(Some(c)) = self.yaml(path, bytes, parse_connector) {
                    self.vms.connectors.insert(name, c);
                }
            }
            FileRole::FunctionSpec { name } => {
                self.warn_name(path, &name, "function");
                let spec = self.yaml(path, bytes, parse_function_spec).flatten();
                self.specs.insert(name, (path.to_owned(), spec));
            }
            FileRole::FunctionBody { name, extension } => {
                let body = self.body(path, bytes, extension);
                self.bodies
                    .entry(name)
                    .or_default()
                    .push((path.to_owned(), body));
            }
            FileRole::TestCase { function, case } => {
                if let Some(Some(t)) = self.yaml(path, bytes, parse_test_case) {
                    self.vms.tests.entry(function).or_default().insert(case, t);
                }
            }
            FileRole::Other { suspicious } => {
                if let Some(why) = suspicious {
                    self.diagnostics.push(
                        Diagnostic::warning("vms.unknown-file", format!("{why}; it is kept as is"))
                            .in_file(path),
                    );
                }
                self.keep_raw(path, bytes);
            }
        }
    }

    fn warn_name(&mut self, path: &str, name: &str, what: &str) {
        if !is_valid_name(name) {
            self.diagnostics.push(
                Diagnostic::warning(
                    "vms.bad-name",
                    format!(
                        "the {what} name `{name}` should use only letters, digits, `_` and `-` \
                         (a `.` would break `connector.method` references)"
                    ),
                )
                .in_file(path)
                .on(name),
            );
        }
    }

    fn body(&mut self, path: &str, bytes: &[u8], extension: &str) -> Option<FunctionBody> {
        let language = match extension {
            "js" => CodeLanguage::JavaScript,
            "rhai" => CodeLanguage::Rhai,
            _ => {
                let doc = bpmn::read_bpmn_bytes(bytes);
                let failed = doc.has_errors();
                self.diagnostics.extend(
                    doc.diagnostics
                        .into_iter()
                        .map(|d| if d.file.is_none() { d.in_file(path) } else { d }),
                );
                self.source_map.bpmn.insert(path.to_owned(), doc.source_map);
                if failed {
                    // Keep what was written: a canonical rewrite of a damaged file could drop
                    // what the reader skipped.
                    self.keep_raw(path, bytes);
                    return None;
                }
                return Some(FunctionBody::Bpmn {
                    definitions: Box::new(doc.definitions),
                });
            }
        };
        // Source text is kept byte for byte, so a byte-order mark is not dropped here.
        match std::str::from_utf8(bytes) {
            Ok(source) => Some(FunctionBody::Code {
                language,
                source: source.to_owned(),
            }),
            Err(_) => {
                let d = decode_text(path, bytes).err();
                self.diagnostics.extend(d);
                self.keep_raw(path, bytes);
                None
            }
        }
    }

    /// Pairs function specs with bodies once every file is read.
    fn assemble_functions(&mut self, files: &VmsFiles) {
        let mut names: Vec<String> = self.specs.keys().cloned().collect();
        names.extend(self.bodies.keys().cloned());
        names.sort();
        names.dedup();
        for name in names {
            let spec = self.specs.remove(&name);
            let mut bodies = self.bodies.remove(&name).unwrap_or_default();
            // One body per function; when there are several, `.bpmn` wins over `.js` over
            // `.rhai`, and the others are reported and kept as they are.
            bodies.sort_by_key(|(path, _)| {
                if path.ends_with(".bpmn") {
                    0
                } else if path.ends_with(".js") {
                    1
                } else {
                    2
                }
            });
            let mut bodies = bodies.into_iter();
            let first = bodies.next();
            for (path, _) in bodies {
                let chosen = first.as_ref().map(|(p, _)| p.as_str()).unwrap_or_default();
                self.diagnostics.push(
                    Diagnostic::error(
                        "vms.duplicate-function",
                        format!("function `{name}` is already defined by `{chosen}`; rename or remove one"),
                    )
                    .in_file(path.clone())
                    .on(name.clone()),
                );
                if let Some(bytes) = files.get(&path) {
                    self.keep_raw(&path, bytes);
                }
            }
            let body = match first {
                Some((_, Some(body))) => body,
                Some((_, None)) => {
                    // The body did not load (it is kept verbatim); keep the spec with it.
                    self.keep_spec_raw(spec.as_ref(), files);
                    continue;
                }
                None => {
                    if let Some((path, _)) = &spec {
                        self.diagnostics.push(
                            Diagnostic::error(
                                "vms.function-without-body",
                                format!(
                                    "`{path}` describes function `{name}`, which has no source: \
                                     add functions/{name}.js, .rhai or .bpmn"
                                ),
                            )
                            .in_file(path.clone())
                            .on(name.clone()),
                        );
                    }
                    self.keep_spec_raw(spec.as_ref(), files);
                    continue;
                }
            };
            let spec = spec.and_then(|(_, s)| s).unwrap_or_default();
            self.vms.functions.insert(name, Function { spec, body });
        }
    }

    fn keep_spec_raw(&mut self, spec: Option<&(String, Option<FunctionSpec>)>, files: &VmsFiles) {
        if let Some((path, _)) = spec
            && let Some(bytes) = files.get(path)
        {
            self.keep_raw(path, bytes);
        }
    }
}

/// Reads a VMS directory. Never panics; every problem is a diagnostic, and whatever could be
/// read is in the returned model (see the module documentation for what happens to files
/// that fail).
pub fn read_vms(files: &VmsFiles) -> VmsDocument {
    let mut loader = Loader::default();
    for (path, bytes) in files {
        loader.load_file(path, bytes);
    }
    loader.assemble_functions(files);
    loader.check_local_env();
    if !loader.manifest_seen {
        loader.diagnostics.push(
            Diagnostic::error(
                "vms.no-manifest",
                "this is not a VMS: `vms.yaml` is missing (it needs at least `name: <vms name>`)",
            )
            .in_file(MANIFEST_FILE),
        );
    }
    // Report file by file, top to bottom; the sort is stable, so problems found at the same
    // place keep their order.
    loader
        .diagnostics
        .sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
    VmsDocument {
        vms: loader.vms,
        diagnostics: loader.diagnostics,
        source_map: loader.source_map,
    }
}

/// Writes a VMS as files in canonical form. Files in [`Vms::other_files`] are written as
/// they are, and win over a file generated at the same path.
pub fn write_vms(vms: &Vms) -> VmsFiles {
    let mut files = VmsFiles::new();
    files.insert(
        MANIFEST_FILE.to_owned(),
        manifest_to_yaml(&vms.manifest()).into_bytes(),
    );
    for (name, function) in &vms.functions {
        files.insert(
            function_body_file(name, function.extension()),
            body_bytes(&function.body),
        );
        if function.spec != FunctionSpec::default() {
            files.insert(
                function_spec_file(name),
                function_spec_to_yaml(&function.spec).into_bytes(),
            );
        }
    }
    for (name, connector) in &vms.connectors {
        files.insert(
            connector_file(name),
            connector_to_yaml(connector).into_bytes(),
        );
    }
    if !vms.triggers.is_empty() {
        files.insert(
            TRIGGERS_FILE.to_owned(),
            triggers_to_yaml(&vms.triggers).into_bytes(),
        );
    }
    for (function, cases) in &vms.tests {
        for (case, test) in cases {
            files.insert(
                test_case_file(function, case),
                test_case_to_yaml(test).into_bytes(),
            );
        }
    }
    for (path, bytes) in &vms.other_files {
        files.insert(path.clone(), bytes.clone());
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_binds_in_plain_values_are_flagged() {
        let text = "kind: database\ndriver: postgres\nurl_env: DB\nmethods:\n- name: add\n  sql: insert into t values (#{a}, #{b})\n  returns: affected\n- name: ok\n  sql: |\n    insert into t values (#{a}, #{b})\n- name: quoted\n  sql: 'select #{a}, #{b}'\n";
        let diags = comments_cutting_values("connectors/db.yaml", text);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(
            diags[0].pos,
            Some(SourcePos {
                line: 6,
                column: 36
            })
        );
    }
}

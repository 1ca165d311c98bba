//! What loading a VMS as a deployment finds, told before a deploy: for editors, the IDE's
//! Problems panel, `starweave validate` and `starweave deploy`'s own check.
//!
//! Reading, the model's validator and compiling the functions find most problems; building
//! a deployment finds the rest — connector templates that do not compile, SQL that does not
//! parse, gRPC descriptor sets and methods that do not resolve, HTTP input mappings and
//! authentication that cannot work, routes that match the same requests. [`load_diagnostics`]
//! runs those same steps without loading anything, and [`place_connector_diagnostics`] puts
//! their diagnostics where they are in the connector files (a SQL error at its line and
//! column in the YAML, not in the SQL text).

use std::collections::BTreeMap;
use std::time::Duration;

use starweave_model::vms::disk::{VmsSourceMap, connector_file};
use starweave_model::vms::trigger::RouteAuth;
use starweave_model::vms::{Trigger, VmsDocument, VmsFiles};
use starweave_model::{Diagnostic, SourcePos};

use crate::compile::Scripting;
use crate::io::{LiveConnectors, LiveOptions};

use super::registry::{http_routes, resolve_env};

/// Problems that depend on a deployment's env values, which a check does not have: TLS
/// files named by env vars, config values read from env vars.
const NEED_ENV: &[&str] = &["connector.tls", "config.unset"];

/// The value a check gives each env var that route authentication reads and that has no
/// declared default: any non-empty value makes a secret usable.
const PLACEHOLDER: &str = "placeholder-value-for-checking-0123456789";

/// What building `doc`'s VMS as a deployment would report beyond reading, validation and
/// compiling its functions (those are the caller's), placed in its files.
///
/// No env values are known here, so only what no env value could mend is reported: route
/// authentication is checked with a placeholder for each secret it reads, and connector
/// TLS files and config values are left to the deploy. Nothing connects, nothing is loaded.
pub fn load_diagnostics(
    doc: &VmsDocument,
    files: &VmsFiles,
    scripting: &Scripting,
) -> Vec<Diagnostic> {
    let vms = &doc.vms;
    let mut env = resolve_env(vms, &BTreeMap::new());
    for trigger in &vms.triggers {
        if let Trigger::Http(http) = trigger
            && let Some(auth) = &http.auth
        {
            for name in auth_env_names(auth) {
                env.entry(name.to_owned())
                    .or_insert_with(|| PLACEHOLDER.to_owned());
            }
        }
    }
    let options = LiveOptions {
        rhai: Some(scripting.rhai.clone()),
        files: vms.other_files.clone(),
        ..LiveOptions::default()
    };
    let (_, mut diagnostics) = LiveConnectors::new(&vms.connectors, env.clone(), options);
    diagnostics.retain(|d| !NEED_ENV.contains(&d.code.as_str()));
    place_connector_diagnostics(&mut diagnostics, vms, &doc.source_map, files);
    let (_, routes) = http_routes(
        vms,
        &doc.source_map,
        &env,
        scripting,
        &BTreeMap::new(),
        Duration::from_secs(30),
    );
    diagnostics.extend(routes);
    diagnostics.extend(crate::triggers::grpc::compile_routes(vms).1);
    diagnostics
}

/// The env vars a route's authentication reads its secrets from.
fn auth_env_names(auth: &RouteAuth) -> Vec<&str> {
    match auth {
        RouteAuth::ApiKey { value_env, .. } => vec![value_env.as_str()],
        RouteAuth::Basic {
            username_env,
            password_env,
        } => vec![username_env.as_str(), password_env.as_str()],
        RouteAuth::Jwt { secret_env, .. } => secret_env.iter().map(String::as_str).collect(),
    }
}

/// Gives the diagnostics of connectors (element `connector.method`, file
/// `connectors/<name>.yaml`) the position of their method in the file. A SQL syntax error,
/// which its parser placed within the method's SQL text, moves to that place in the YAML
/// when the SQL is written as a plain one-line value or a literal block (`sql: |`); other
/// styles fold or unescape the text, so it points at the method's `sql` key instead.
pub fn place_connector_diagnostics(
    diagnostics: &mut [Diagnostic],
    vms: &starweave_model::vms::Vms,
    map: &VmsSourceMap,
    files: &VmsFiles,
) {
    for diagnostic in diagnostics {
        let Some((connector, method)) = diagnostic
            .element
            .as_deref()
            .and_then(|element| element.split_once('.'))
        else {
            continue;
        };
        let file = connector_file(connector);
        if diagnostic.file.as_deref().is_some_and(|f| f != file) {
            continue;
        }
        let Some(index) = vms
            .connectors
            .get(connector)
            .and_then(|c| c.methods().iter().position(|m| m.name == method))
        else {
            continue;
        };
        let inner = diagnostic.pos.take();
        let pos = match inner {
            Some(inner) if diagnostic.code == "sql.syntax" => {
                let key = map
                    .connector(connector, &format!("methods[{index}].sql"))
                    .pos;
                let text = files.get(&file).and_then(|b| std::str::from_utf8(b).ok());
                match (key, text) {
                    (Some(key), Some(text)) => Some(place_in_value(text, key, inner)),
                    (key, _) => key,
                }
            }
            _ => map.connector(connector, &format!("methods[{index}]")).pos,
        };
        diagnostic.file = Some(file);
        diagnostic.pos = pos;
    }
}

/// Where position `inner` of a YAML value is in the file, given the position of its key.
/// Exact for a plain value on the key's line and for a literal block scalar (`|`, `|-`,
/// `|+`, with or without an indentation digit); the key's own position otherwise.
fn place_in_value(text: &str, key: SourcePos, inner: SourcePos) -> SourcePos {
    let lines: Vec<&str> = text.lines().collect();
    let Some(key_line) = lines.get(key.line.saturating_sub(1) as usize) else {
        return key;
    };
    // The text after the key's `:` on its line.
    let from_key: String = key_line
        .chars()
        .skip(key.column.saturating_sub(1) as usize)
        .collect();
    let Some(colon) = from_key.find(':') else {
        return key;
    };
    let after = &from_key[colon + 1..];
    let value = after.trim_start();
    let value_column = key.column
        + from_key[..colon + 1].chars().count() as u32
        + (after.chars().count() - value.chars().count()) as u32;
    let header = value.split(" #").next().unwrap_or("").trim_end();
    if header.starts_with('|')
        && header[1..]
            .chars()
            .all(|c| matches!(c, '-' | '+' | '1'..='9'))
    {
        // A literal block: its lines are the value's lines, each behind the block's indent.
        let first = key.line as usize; // the index of the line after the key's
        let Some(indent) = lines[first.min(lines.len())..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.chars().take_while(|c| *c == ' ').count() as u32)
        else {
            return key;
        };
        return SourcePos {
            line: key.line + inner.line,
            column: indent + inner.column,
        };
    }
    let plain =
        !value.is_empty() && !value.starts_with(['"', '\'', '>', '|', '[', '{', '&', '*', '!']);
    if plain && inner.line == 1 {
        return SourcePos {
            line: key.line,
            column: value_column + inner.column - 1,
        };
    }
    key
}

#[cfg(test)]
mod tests {
    use starweave_model::vms::read_vms;

    use super::*;

    fn vms(files: &[(&str, &str)]) -> VmsFiles {
        files
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn finds_what_a_deploy_finds_where_it_is_and_needs_no_env_values() {
        let db = "kind: database\ndriver: sqlite\nurl_env: DB_URL\nmethods:\n- name: find\n  sql: |\n    SELECT * FROM t\n    WHERE <if test=\"id != null\" when=\"x\">id = #{id}</if>\n  input:\n  - name: id\n    type: integer\n";
        let files = vms(&[
            (
                "vms.yaml",
                "name: shop\nenv:\n- name: DB_URL\n- name: KEY\n",
            ),
            ("connectors/db.yaml", db),
            ("functions/f.rhai", "42\n"),
            (
                "triggers.yaml",
                "- kind: http\n  function: f\n  method: GET\n  path: /x\n  auth:\n    type: api_key\n    header: X-Key\n    value_env: KEY\n- kind: http\n  function: f\n  method: POST\n  path: /y\n  input:\n    a: 1 +\n",
            ),
        ]);
        let doc = read_vms(&files);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        let found = load_diagnostics(&doc, &files, &Scripting::default());
        let codes: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
        // Neither DB_URL nor KEY has a value: no error for either.
        assert_eq!(codes, ["sql.syntax", "engine.route-input"], "{found:?}");

        let sql = &found[0];
        assert_eq!(sql.file.as_deref(), Some("connectors/db.yaml"));
        assert_eq!(sql.element.as_deref(), Some("db.find"));
        let pos = sql.pos.expect("placed");
        let line = db.lines().nth(pos.line as usize - 1).unwrap();
        assert!(
            line[pos.column as usize - 1..].starts_with("when="),
            "{pos:?} in {line:?}"
        );

        let input = &found[1];
        assert_eq!(input.file.as_deref(), Some("triggers.yaml"));
        assert_eq!(input.pos.map(|p| p.line), Some(14), "{input:?}");
        assert!(input.message.contains("trigger 2"), "{}", input.message);
    }

    fn pos(line: u32, column: u32) -> SourcePos {
        SourcePos { line, column }
    }

    #[test]
    fn literal_blocks_keep_their_lines_behind_the_indent() {
        let text = "kind: database\nmethods:\n  - name: find\n    sql: |\n      SELECT *\n        FROM t <where>\n";
        // `sql` is at 4:5; SQL line 2, column 10 is `<where>`.
        assert_eq!(place_in_value(text, pos(4, 5), pos(2, 10)), pos(6, 16));
        assert_eq!(&text.lines().nth(5).unwrap()[15..], "<where>");
        // Chomping and indentation indicators and a comment are still literal blocks.
        let text = "    sql: |-2 # the query\n      SELECT 1\n";
        assert_eq!(place_in_value(text, pos(1, 5), pos(1, 3)), pos(2, 9));
    }

    #[test]
    fn plain_values_map_on_the_key_line() {
        let text = "  - sql:   SELECT <if test=\"x\">1\n";
        assert_eq!(place_in_value(text, pos(1, 5), pos(1, 8)), pos(1, 19));
        assert_eq!(&text[18..], "<if test=\"x\">1\n");
        // A later line of a plain value that spans lines is not placed.
        assert_eq!(place_in_value(text, pos(1, 5), pos(2, 1)), pos(1, 5));
    }

    #[test]
    fn other_styles_and_bad_positions_point_at_the_key() {
        for text in [
            "sql: \"SELECT\\n <if>\"\n",
            "sql: >\n  SELECT\n  <if>\n",
            "sql: |\n",
            "sql\n",
        ] {
            assert_eq!(
                place_in_value(text, pos(1, 1), pos(1, 3)),
                pos(1, 1),
                "{text:?}"
            );
        }
        assert_eq!(place_in_value("", pos(7, 3), pos(1, 1)), pos(7, 3));
        assert_eq!(place_in_value("sql: x", pos(1, 99), pos(1, 1)), pos(1, 99));
    }
}

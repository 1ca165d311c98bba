//! The YAML examples in this module's documentation are read back as what they document, so
//! that a renamed or removed key cannot leave a wrong example behind for users to copy.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::VmsManifest;
use super::connector::{Connector, HttpTls};
use super::env::EnvVar;
use super::function::FunctionSpec;
use super::test_case::TestCase;
use super::trigger::Trigger;

/// The ```` ```yaml ```` block in the doc comment right before the first line of `source`
/// starting with `item`, or in the module's `//!` comment when `item` is `//!`.
fn example_before(source: &str, item: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let (marker, range) = if item == "//!" {
        let end = lines
            .iter()
            .position(|line| !line.starts_with("//!"))
            .unwrap_or(lines.len());
        ("//!", 0..end)
    } else {
        let at = lines
            .iter()
            .position(|line| line.starts_with(item))
            .unwrap_or_else(|| panic!("no `{item}` in the source"));
        let mut start = at;
        while start > 0
            && (lines[start - 1].starts_with("///") || lines[start - 1].starts_with("#["))
        {
            start -= 1;
        }
        ("///", start..at)
    };
    let mut block = Vec::new();
    let mut inside = false;
    for line in &lines[range] {
        let Some(text) = line.strip_prefix(marker) else {
            continue;
        };
        let text = text.strip_prefix(' ').unwrap_or(text);
        if inside {
            if text.trim_end() == "```" {
                return block.join("\n");
            }
            block.push(text);
        } else if text.trim_end() == "```yaml" {
            inside = true;
        }
    }
    panic!("no complete ```yaml example before `{item}`");
}

fn read<T: DeserializeOwned>(source: &str, item: &str) -> T {
    let yaml = example_before(source, item);
    serde_yaml_ng::from_str(&yaml)
        .unwrap_or_else(|e| panic!("the example before `{item}` does not read: {e}\n{yaml}"))
}

#[test]
fn every_connector_example_reads_as_its_kind() {
    let source = include_str!("connector.rs");
    for (item, kind) in [
        ("pub struct HttpConnector", "http"),
        ("pub struct DatabaseConnector", "database"),
        ("pub struct CacheConnector", "cache"),
        ("pub struct MqConnector", "mq"),
        ("pub struct GrpcConnector", "grpc"),
        ("pub struct ConfigConnector", "config"),
    ] {
        let connector: Connector = read(source, item);
        let read_kind = serde_json::to_value(connector.kind()).unwrap();
        assert_eq!(read_kind, kind, "the example before `{item}`");
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct WithTls {
        tls: HttpTls,
    }
    let with: WithTls = read(source, "pub struct HttpTls");
    assert!(with.tls.client_key_env.is_some());
}

#[test]
fn the_manifest_env_function_test_and_trigger_examples_read() {
    let manifest: VmsManifest = read(include_str!("mod.rs"), "pub struct VmsManifest");
    assert_eq!(manifest.name, "shop-bff");
    let env: Vec<EnvVar> = read(include_str!("env.rs"), "pub struct EnvVar");
    assert_eq!(env.len(), 3);
    let spec: FunctionSpec = read(include_str!("function.rs"), "pub struct FunctionSpec");
    assert_eq!(spec.input.len(), 1);
    let case: TestCase = read(include_str!("test_case.rs"), "pub struct TestCase");
    assert!(case.description.is_some());
    let triggers: Vec<Trigger> = read(include_str!("trigger.rs"), "//!");
    assert_eq!(triggers.len(), 4);
}

#[test]
fn a_missing_example_or_key_is_noticed() {
    let source = "/// No example here.\npub struct Plain;\n";
    assert!(std::panic::catch_unwind(|| example_before(source, "pub struct Plain")).is_err());
    let source = "/// ```yaml\n/// nme: typo\n/// ```\npub struct VmsManifest;\n";
    assert!(
        std::panic::catch_unwind(|| read::<VmsManifest>(source, "pub struct VmsManifest")).is_err()
    );
}

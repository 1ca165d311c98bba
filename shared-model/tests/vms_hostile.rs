//! Hostile input: the loader answers every bad file with a clear diagnostic — no panic, no
//! hang, no unbounded allocation — and still loads the rest of the VMS.

use starweave_model::vms::disk::{MAX_YAML_BYTES, check_file};
use starweave_model::vms::{VmsFiles, read_vms, write_vms};

fn vms_with(path: &str, bytes: Vec<u8>) -> VmsFiles {
    let mut files = VmsFiles::new();
    files.insert("vms.yaml".into(), b"name: hostile\n".to_vec());
    files.insert(
        "functions/ok.js".into(),
        b"export default async () => ({});\n".to_vec(),
    );
    files.insert(path.into(), bytes);
    files
}

/// Loads, checks the rest still loaded, and returns the diagnostics as text.
fn diagnostics(path: &str, bytes: Vec<u8>) -> Vec<String> {
    let files = vms_with(path, bytes);
    let doc = read_vms(&files);
    assert_eq!(doc.vms.name, "hostile", "vms.yaml must still load");
    assert!(
        doc.vms.functions.contains_key("ok"),
        "functions must still load"
    );
    // Nothing is lost on save, and save → load is stable even for broken input.
    let saved = write_vms(&doc.vms);
    assert_eq!(
        saved.get(path),
        files.get(path),
        "{path} must be kept verbatim"
    );
    assert_eq!(read_vms(&saved).vms, doc.vms);
    doc.diagnostics.iter().map(ToString::to_string).collect()
}

fn billion_laughs(levels: usize) -> String {
    let mut s = String::from(
        "input:\n  l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..levels {
        let refs = vec![format!("*l{}", i - 1); 10].join(",");
        s.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
    }
    s
}

#[test]
fn yaml_bomb_in_a_test_case_is_refused() {
    let shown = diagnostics("tests/ok/bomb.yaml", billion_laughs(12).into_bytes());
    assert_eq!(
        shown,
        [
            "tests/ok/bomb.yaml:1:1: error[vms.yaml]: YAML aliases expand to too much data (a \"billion laughs\" bomb?); the file is not loaded"
        ]
    );
}

#[test]
fn yaml_bomb_in_triggers_is_refused_item_by_item_too() {
    // A broken list is re-read item by item; the bomb must not get through that way either.
    let mut text = String::from("- kind: cron\n  function: ok\n  schedule: 0 * * * *\n  input:\n");
    for line in billion_laughs(12).lines().skip(1) {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str("- kind: nope\n");
    let shown = diagnostics("triggers.yaml", text.into_bytes());
    insta::assert_snapshot!(shown.join("\n"), @r#"
    triggers.yaml:1:1: error[vms.yaml]: YAML aliases expand to too much data (a "billion laughs" bomb?); the file is not loaded
    triggers.yaml:17:9: error[vms.yaml]: [1].kind: unknown variant `nope`, expected one of `http`, `cron`, `mq`, `grpc`
    "#);
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 10_000;
    let flow = format!("input: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let shown = diagnostics("tests/ok/flow.yaml", flow.into_bytes());
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("nested too deeply"), "{shown:?}");

    let mut block = String::from("input:\n");
    for i in 0..2_000 {
        block.push_str(&" ".repeat(i + 2));
        block.push_str("k:\n");
    }
    let shown = diagnostics("tests/ok/block.yaml", block.into_bytes());
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("nested too deeply"), "{shown:?}");
}

#[test]
fn non_utf8_files_are_reported_at_the_bad_byte() {
    let shown = diagnostics(
        "connectors/c.yaml",
        b"kind: config\ndescription: caf\xe9\n".to_vec(),
    );
    assert_eq!(
        shown,
        [
            "connectors/c.yaml:2:17: error[vms.not-utf8]: the file is not UTF-8 text (bad byte 0xe9 at offset 29); save it as UTF-8"
        ]
    );
    let shown = diagnostics(
        "functions/bad.rhai",
        b"fn main(i, c) {\n  \"\xff\"\n}\n".to_vec(),
    );
    assert_eq!(
        shown,
        [
            "functions/bad.rhai:2:4: error[vms.not-utf8]: the file is not UTF-8 text (bad byte 0xff at offset 19); save it as UTF-8"
        ]
    );
    // A byte-order mark is not an error in YAML.
    assert!(check_file("connectors/c.yaml", b"\xef\xbb\xbfkind: config\n").is_empty());
}

#[test]
fn huge_yaml_is_refused_and_huge_code_is_loaded() {
    let mut big =
        String::from("- kind: cron\n  function: ok\n  schedule: 0 * * * *\n  description: ");
    big.push_str(&"x".repeat(MAX_YAML_BYTES));
    big.push('\n');
    let shown = diagnostics("triggers.yaml", big.into_bytes());
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].starts_with("triggers.yaml: error[vms.file-too-large]"),
        "{shown:?}"
    );

    let mut code = String::from("export default async () => ({});\n");
    code.push_str(&"// padding\n".repeat(2_000_000));
    let files = vms_with("functions/big.js", code.clone().into_bytes());
    let doc = read_vms(&files);
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
    assert_eq!(write_vms(&doc.vms)["functions/big.js"], code.into_bytes());
}

#[test]
fn wrong_shapes_and_types_are_reported_at_their_place() {
    let cases: &[(&str, &str)] = &[
        ("triggers.yaml", "kind: http\nfunction: ok\n"),
        (
            "triggers.yaml",
            "- kind: http\n  function: ok\n  method: GET\n  path: /a\n  status: two hundred\n",
        ),
        ("triggers.yaml", "- function: ok\n  method: GET\n"),
        (
            "connectors/c.yaml",
            "kind: database\ndriver: oracle\nurl_env: DB\n",
        ),
        ("connectors/c.yaml", "kind: http\nbase_url: x\nmethods: 5\n"),
        ("connectors/c.yaml", "description: no kind\n"),
        ("connectors/c.yaml", ""),
        (
            "connectors/c.yaml",
            "kind: cache\nurl_env: R\n---\nkind: cache\n",
        ),
        ("connectors/c.yaml", "kind: config\nvalues: *nowhere\n"),
        ("connectors/c.yaml", "kind: [http]\n"),
        (
            "functions/ok.yaml",
            "input:\n- name: a\n  type: object\n  fields:\n  - name: b\n    required: maybe\n",
        ),
        ("functions/ok.yaml", "- just\n- a list\n"),
        ("tests/ok/t.yaml", "mocks:\n  a.b:\n    calls: {}\n"),
        ("tests/ok/t.yaml", "input: {\"unclosed\": [1, 2}\n"),
        ("tests/ok/t.yaml", "\t- tab: indented\n"),
    ];
    let mut shown = Vec::new();
    for (path, text) in cases {
        shown.push(format!("# {path}: {text:?}"));
        shown.extend(diagnostics(path, text.as_bytes().to_vec()));
    }
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn a_broken_manifest_and_no_manifest_are_reported() {
    let mut files = VmsFiles::new();
    files.insert("vms.yaml".into(), b"name: [1, 2]\n".to_vec());
    let doc = read_vms(&files);
    let shown: Vec<String> = doc.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["vms.yaml:1:7: error[vms.yaml]: name: invalid type: sequence, expected a string"]
    );
    assert_eq!(write_vms(&doc.vms)["vms.yaml"], b"name: [1, 2]\n");

    let doc = read_vms(&VmsFiles::new());
    let shown: Vec<String> = doc.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "vms.yaml: error[vms.no-manifest]: this is not a VMS: `vms.yaml` is missing (it needs at least `name: <vms name>`)"
        ]
    );
}

#[test]
fn unknown_files_are_kept_and_misplaced_ones_warned_about() {
    let mut files = vms_with("README.md", b"# readme\n".to_vec());
    files.insert(
        "node_modules/dayjs/index.js".into(),
        b"export default 1;\n".to_vec(),
    );
    files.insert("functions/helper.ts".into(), b"export {}\n".to_vec());
    files.insert(
        "connectors/nested/x.yaml".into(),
        b"kind: config\n".to_vec(),
    );
    files.insert("trigger.yaml".into(), b"[]\n".to_vec());
    let doc = read_vms(&files);
    let shown: Vec<String> = doc.diagnostics.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(shown.join("\n"), @r"
    connectors/nested/x.yaml: warning[vms.unknown-file]: `connectors/nested/x.yaml` is in a subfolder of `connectors/`, which Starweave does not read; it is kept as is
    functions/helper.ts: warning[vms.unknown-file]: `functions/helper.ts` is not a function file: functions are `.js`, `.rhai` or `.bpmn`, with a `.yaml` spec; it is kept as is
    trigger.yaml: warning[vms.unknown-file]: `trigger.yaml` is not a VMS file; the top-level YAML files are `vms.yaml` and `triggers.yaml`; it is kept as is
    ");
    assert_eq!(write_vms(&doc.vms), files);
}

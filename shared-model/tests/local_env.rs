//! `.env.local`: any values written through `LocalEnv::set` read back exactly, edits keep
//! the rest of a hand-written file, hostile text never panics, and a VMS reports a broken or
//! undeclared entry as a diagnostic at its place.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use starweave_model::vms::local_env::{LOCAL_ENV_FILE, LocalEnv};
use starweave_model::vms::{VmsFiles, read_vms};

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}"
}

/// Values with everything the format has to quote or escape: quotes, `#`, backslashes,
/// line breaks, blanks at either end, `export`, `=`, Unicode.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s)[^\u{0}]{0,30}",
        "[ -~]{0,30}",
        Just(String::new()),
        Just(" padded ".to_owned()),
        Just("a # not a comment".to_owned()),
        Just("it's \"both\"".to_owned()),
        Just("line 1\nline 2\r\n".to_owned()),
        Just("C:\\path\\n".to_owned()),
        Just("-----BEGIN KEY-----\nabc\n-----END KEY-----\n".to_owned()),
        Just("export X=1".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
    ]
}

/// Text shaped like a `.env.local`: lines of entries (plain, quoted either way, with
/// comments and `export`), comments and blanks, with stray quotes, backslashes, `\r` and
/// names set twice mixed in, so that both reading and refusing are exercised.
fn env_text() -> impl Strategy<Value = String> {
    let raw = "[ -~]{0,12}";
    let line = prop_oneof![
        (name(), raw).prop_map(|(n, v)| format!("{n}={v}")),
        (name(), "[^'\u{0}]{0,12}").prop_map(|(n, v)| format!("{n} = '{v}'")),
        (name(), "[^\"\\\\\u{0}]{0,12}").prop_map(|(n, v)| format!("export {n}=\"{v}\" # c")),
        (name(), raw).prop_map(|(n, v)| format!("{n}=\"{v}")),
        "#[ -~]{0,12}",
        Just(String::new()),
        Just("  \t".to_owned()),
        Just("A=1".to_owned()),
        Just("B='x\ny'".to_owned()),
        "[ -~]{0,8}",
    ];
    (vec(line, 0..10), any::<bool>())
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn set_values_read_back(values in btree_map(name(), value(), 0..8), extra in value()) {
        let mut env = LocalEnv::parse("# kept\n\n").expect("comments parse");
        for (name, value) in &values {
            env.set(name, value).expect("set");
        }
        let reread = LocalEnv::parse(env.text()).expect("what set writes parses");
        prop_assert_eq!(reread.values(), values.clone());
        prop_assert!(env.text().starts_with("# kept\n\n"));
        // Setting one again changes only that one, and removing it leaves the rest.
        if let Some(first) = values.keys().next() {
            let mut again = reread.clone();
            again.set(first, &extra).expect("set again");
            let mut expected: BTreeMap<String, String> = values.clone();
            expected.insert(first.clone(), extra.clone());
            prop_assert_eq!(LocalEnv::parse(again.text()).expect("parses").values(), expected.clone());
            again.remove(first).expect("remove");
            expected.remove(first);
            prop_assert_eq!(LocalEnv::parse(again.text()).expect("parses").values(), expected);
        }
    }

    #[test]
    fn any_text_is_read_or_refused_with_a_position(
        text in prop_oneof!["(?s).{0,200}".boxed(), env_text().boxed()]
    ) {
        match LocalEnv::parse(&text) {
            Ok(env) => {
                // Whatever reads, written again value by value, reads the same.
                let mut copy = LocalEnv::default();
                for (name, value) in env.values() {
                    copy.set(&name, &value).expect("a value that was read can be written");
                }
                prop_assert_eq!(LocalEnv::parse(copy.text()).expect("parses").values(), env.values());
            }
            Err(e) => {
                let lines = text.split('\n').count() as u32;
                prop_assert!(e.pos.line >= 1 && e.pos.line <= lines, "{e} in {text:?}");
                prop_assert!(e.pos.column >= 1);
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = LocalEnv::from_bytes(&bytes);
    }
}

#[test]
fn deep_and_long_inputs_are_linear_enough() {
    // 100,000 lines; one value of 500 KiB; an unterminated quote at the start of a big file.
    let many: String = (0..100_000).map(|i| format!("V{i}=x\n")).collect();
    assert_eq!(
        LocalEnv::parse(&many).expect("many").values().len(),
        100_000
    );
    let long = format!("A=\"{}\"\n", "y".repeat(500 * 1024));
    assert_eq!(
        LocalEnv::parse(&long).expect("long").get("A").map(str::len),
        Some(500 * 1024)
    );
    let open = format!("A='{}", "z\n".repeat(200_000));
    let err = LocalEnv::parse(&open).expect_err("never closed");
    assert_eq!((err.pos.line, err.pos.column), (1, 3));
}

fn vms_with_local_env(local: &[u8]) -> VmsFiles {
    let mut files = VmsFiles::new();
    files.insert(
        "vms.yaml".into(),
        b"name: shop\nenv:\n- name: DB_URL\n- name: TOKEN\n  secret: true\n".to_vec(),
    );
    files.insert(LOCAL_ENV_FILE.into(), local.to_vec());
    files
}

#[test]
fn a_vms_reports_its_local_env_file_at_the_place() {
    let doc = read_vms(&vms_with_local_env(b"DB_URL=postgres://x\nTOKEN='abc'\n"));
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
    // Kept verbatim with the VMS's other files (so saving never loses it).
    assert!(doc.vms.other_files.contains_key(LOCAL_ENV_FILE));

    let doc = read_vms(&vms_with_local_env(b"DB_URL=x\n\nOTHER=1\n"));
    let found: Vec<_> = doc
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.file.as_deref(),
                d.pos.map(|p| p.line),
                d.is_error(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![(
            "vms.local-env-undeclared",
            Some(LOCAL_ENV_FILE),
            Some(3),
            false
        )]
    );
    assert!(doc.diagnostics[0].message.contains("`OTHER`"));

    let doc = read_vms(&vms_with_local_env(b"DB_URL=x\nTOKEN=\"open\n"));
    let found: Vec<_> = doc
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.pos.map(|p| (p.line, p.column)),
                d.is_error(),
            )
        })
        .collect();
    assert_eq!(found, vec![("vms.local-env", Some((2, 7)), true)]);
}

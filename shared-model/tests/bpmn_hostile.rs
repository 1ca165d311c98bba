//! Hostile and broken input: every case yields diagnostics (with positions where they mean
//! something) and a model of what could be read — never a panic.

use starweave_model::SourcePos;
use starweave_model::bpmn::{BpmnDocument, FlowElement, read_bpmn, read_bpmn_bytes, write_bpmn};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs">
"#;

fn codes(doc: &BpmnDocument) -> Vec<&str> {
    doc.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

fn find<'a>(doc: &'a BpmnDocument, code: &str) -> &'a starweave_model::Diagnostic {
    doc.diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no `{code}` diagnostic in {:#?}", doc.diagnostics))
}

#[test]
fn truncated_xml_reports_the_end_and_keeps_what_was_read() {
    let text = format!(
        "{HEAD}  <bpmn:process id=\"p\">\n    <bpmn:startEvent id=\"s\"/>\n    <bpmn:task id=\"t\" name=\"Half"
    );
    let doc = read_bpmn(&text);
    let d = find(&doc, "bpmn.xml-syntax");
    assert!(d.is_error());
    assert_eq!(d.pos.map(|p| p.line), Some(5), "{d}");
    // The process and its complete start event were read.
    let process = doc
        .definitions
        .processes()
        .next()
        .expect("process read so far");
    assert_eq!(
        process.flow_elements.first().map(FlowElement::id),
        Some("s")
    );

    let text = format!("{HEAD}  <bpmn:process id=\"p\">\n    <bpmn:startEvent id=\"s\"/>\n");
    let doc = read_bpmn(&text);
    let d = find(&doc, "bpmn.xml-syntax");
    assert!(d.message.contains("`bpmn:process` is not closed"), "{d}");
    assert_eq!(d.pos, Some(SourcePos { line: 5, column: 1 }));
    assert_eq!(doc.definitions.processes().count(), 1);
}

#[test]
fn mismatched_end_tag_has_a_position() {
    let text =
        format!("{HEAD}  <bpmn:process id=\"p\">\n  </bpmn:collaboration>\n</bpmn:definitions>\n");
    let doc = read_bpmn(&text);
    let d = find(&doc, "bpmn.xml-syntax");
    assert_eq!(d.pos.map(|p| p.line), Some(4), "{d}");
}

#[test]
fn wrong_namespace_and_wrong_root() {
    let doc = read_bpmn("<definitions xmlns=\"http://schema.omg.org/spec/BPMN/2.0\" id=\"x\"/>");
    let d = find(&doc, "bpmn.wrong-namespace");
    assert_eq!(d.pos, Some(SourcePos { line: 1, column: 1 }));
    assert!(doc.definitions.root_elements.is_empty());

    let doc = read_bpmn("<?xml version=\"1.0\"?>\n<html><body/></html>");
    assert_eq!(
        find(&doc, "bpmn.wrong-root").pos,
        Some(SourcePos { line: 2, column: 1 })
    );

    let doc = read_bpmn("");
    assert_eq!(codes(&doc), ["bpmn.empty"]);
}

#[test]
fn duplicate_ids_point_at_the_second_element() {
    let text = format!(
        "{HEAD}  <bpmn:process id=\"p\">\n    <bpmn:task id=\"a\"/>\n    <bpmn:task id=\"a\"/>\n  </bpmn:process>\n</bpmn:definitions>\n"
    );
    let doc = read_bpmn(&text);
    let d = find(&doc, "bpmn.duplicate-id");
    assert_eq!(d.element.as_deref(), Some("a"));
    assert_eq!(d.pos, Some(SourcePos { line: 5, column: 5 }));
    assert_eq!(
        doc.source_map.pos("a"),
        Some(SourcePos { line: 4, column: 5 })
    );
    // Both tasks stay in the model; validation decides what to do with them.
    assert_eq!(
        doc.definitions
            .processes()
            .next()
            .map(|p| p.flow_elements.len()),
        Some(2)
    );
}

#[test]
fn missing_attributes_and_bad_numbers() {
    let text = format!(
        "{HEAD}  <bpmn:process id=\"p\">\n    <bpmn:sequenceFlow id=\"f\" sourceRef=\"a\"/>\n    <bpmn:boundaryEvent id=\"b\"/>\n  </bpmn:process>\n  <bpmndi:BPMNDiagram xmlns:bpmndi=\"http://www.omg.org/spec/BPMN/20100524/DI\" xmlns:dc=\"http://www.omg.org/spec/DD/20100524/DC\">\n    <bpmndi:BPMNPlane>\n      <bpmndi:BPMNShape id=\"s\" bpmnElement=\"b\"><dc:Bounds x=\"1e999\" y=\"abc\" width=\"NaN\"/></bpmndi:BPMNShape>\n    </bpmndi:BPMNPlane>\n  </bpmndi:BPMNDiagram>\n</bpmn:definitions>\n"
    );
    let doc = read_bpmn(&text);
    let missing: Vec<_> = doc
        .diagnostics
        .iter()
        .filter(|d| d.code == "bpmn.missing-attribute")
        .collect();
    assert!(
        missing
            .iter()
            .any(|d| d.message.contains("targetRef") && d.element.as_deref() == Some("f"))
    );
    assert!(
        missing
            .iter()
            .any(|d| d.message.contains("attachedToRef") && d.pos.map(|p| p.line) == Some(5))
    );
    assert!(missing.iter().any(|d| d.message.contains("height")));
    let numbers: Vec<_> = doc
        .diagnostics
        .iter()
        .filter(|d| d.code == "bpmn.invalid-number")
        .collect();
    assert_eq!(numbers.len(), 3, "{numbers:#?}");
    assert!(numbers.iter().all(|d| d.pos.map(|p| p.line) == Some(9)));
}

#[test]
fn deep_nesting_is_cut_without_overflowing_the_stack() {
    for depth in [10_000usize, 70_000] {
        let mut text = String::from(HEAD);
        text.push_str("<bpmn:process id=\"p\"><bpmn:extensionElements>");
        text.push_str("<x:a xmlns:x=\"urn:x\">");
        text.push_str(&"<x:a>".repeat(depth));
        text.push_str(&"</x:a>".repeat(depth + 1));
        text.push_str("</bpmn:extensionElements></bpmn:process></bpmn:definitions>");
        let doc = read_bpmn(&text);
        assert!(
            codes(&doc).contains(&"bpmn.too-deep") || codes(&doc).contains(&"bpmn.xml-syntax"),
            "{depth}: {:?}",
            codes(&doc)
        );
        if depth == 10_000 {
            let d = find(&doc, "bpmn.too-deep");
            assert_eq!(d.pos.map(|p| p.line), Some(3));
            assert_eq!(doc.definitions.processes().count(), 1);
            // What was kept writes and reads back.
            let again = read_bpmn(&write_bpmn(&doc.definitions));
            assert_eq!(again.definitions, doc.definitions);
        }
    }
}

#[test]
fn non_utf8_bytes_are_decoded_lossily_with_a_position() {
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(
        b"  <bpmn:process id=\"p\" name=\"caf\xE9\xFF\"/>\n</bpmn:definitions>\n",
    );
    let doc = read_bpmn_bytes(&bytes);
    let d = find(&doc, "bpmn.invalid-utf8");
    assert_eq!(
        d.pos,
        Some(SourcePos {
            line: 3,
            column: 33
        })
    );
    let name = doc
        .definitions
        .processes()
        .next()
        .and_then(|p| p.name.clone());
    assert_eq!(name.as_deref(), Some("caf\u{FFFD}\u{FFFD}"));

    // Declared ISO-8859-1 is decoded properly.
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"p\" name=\"caf\xE9\"/></definitions>";
    let doc = read_bpmn_bytes(latin1);
    assert_eq!(codes(&doc), ["bpmn.encoding"]);
    assert_eq!(
        doc.definitions
            .processes()
            .next()
            .and_then(|p| p.name.as_deref()),
        Some("café")
    );

    // UTF-16 with a byte order mark.
    let text = "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"ü\"/></definitions>";
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let doc = read_bpmn_bytes(&utf16);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    assert_eq!(
        doc.definitions.processes().next().map(|p| p.base.id()),
        Some("ü")
    );
}

#[test]
fn entities_are_never_expanded() {
    let text = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p"><documentation>&lol2; &amp; &#65;&#x42;</documentation></process>
</definitions>"#;
    let doc = read_bpmn(text);
    assert!(codes(&doc).contains(&"bpmn.doctype"));
    let entity = find(&doc, "bpmn.xml-entity");
    assert_eq!(entity.pos.map(|p| p.line), Some(4));
    let docs = &doc
        .definitions
        .processes()
        .next()
        .expect("process")
        .base
        .documentation;
    assert_eq!(docs[0].text, "&lol2; & AB");
    assert!(!doc.has_errors());
}

/// A ~50 MB model: one process with many tasks and flows, all on few lines.
#[test]
fn a_fifty_megabyte_file_is_read() {
    let mut text = String::with_capacity(52 << 20);
    text.push_str(HEAD);
    text.push_str("<bpmn:process id=\"big\" isExecutable=\"true\">");
    let mut n = 0;
    while text.len() < 50 << 20 {
        text.push_str(&format!(
            "<bpmn:task id=\"t{n}\" name=\"Task number {n}\"><bpmn:incoming>f{n}</bpmn:incoming></bpmn:task><bpmn:sequenceFlow id=\"f{n}\" sourceRef=\"t{n}\" targetRef=\"t{}\"><bpmn:conditionExpression>x &gt; {n}</bpmn:conditionExpression></bpmn:sequenceFlow>",
            n + 1
        ));
        n += 1;
    }
    text.push_str("</bpmn:process></bpmn:definitions>");
    let doc = read_bpmn(&text);
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics.first());
    let process = doc.definitions.process("big").expect("process");
    assert_eq!(process.flow_elements.len(), 2 * n);
    // Columns on a 50 MB line are counted, not guessed.
    let last = doc
        .source_map
        .pos(&format!("t{}", n - 1))
        .expect("position");
    assert_eq!(last.line, 3);
    assert!(last.column > 50_000_000 - 1_000, "{last:?}");
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn random_garbage_and_mutations_never_panic() {
    let mut rng = Lcg(0x5eed);
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/bpmn/tools/camunda.bpmn"
    ))
    .expect("seed file");
    let alphabet = b"<>/=\"' &;:!?[]-abcxyzbpmn\n\t#x0123456789\xc3\xa9\xff";
    for round in 0..400 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            let len = (rng.next() % 300) as usize;
            (0..len)
                .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                .collect()
        } else {
            let mut bytes = seed.clone();
            for _ in 0..1 + rng.next() % 8 {
                if bytes.is_empty() {
                    break;
                }
                let i = (rng.next() as usize) % bytes.len();
                match rng.next() % 3 {
                    0 => bytes[i] = alphabet[(rng.next() as usize) % alphabet.len()],
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.truncate(i),
                }
            }
            bytes
        };
        let doc = read_bpmn_bytes(&bytes);
        if !doc.has_errors() {
            let written = write_bpmn(&doc.definitions);
            let again = read_bpmn(&written);
            assert_eq!(
                again.definitions,
                doc.definitions,
                "round {round}:\n{}",
                String::from_utf8_lossy(&bytes)
            );
        } else {
            assert!(doc.diagnostics.iter().all(|d| !d.message.is_empty()));
        }
    }
}

/// Found by fuzzing: a namespace URI with a raw newline was resolved unnormalised for names
/// but normalised for the declaration, so the model changed on the second read.
#[test]
fn namespace_uris_with_whitespace_and_entities_round_trip() {
    let text = "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" xmlns:c=\"urn:a\nb&amp;c\">\n<process id=\"p\" c:x=\"1\"><c:y/></process></definitions>";
    let doc = read_bpmn(text);
    assert!(doc.diagnostics.is_empty(), "{:#?}", doc.diagnostics);
    let process = doc.definitions.processes().next().expect("process");
    assert_eq!(
        process.base.unknown.attributes[0].namespace.as_deref(),
        Some("urn:a b&c")
    );
    let again = read_bpmn(&write_bpmn(&doc.definitions));
    assert_eq!(again.definitions, doc.definitions);
}

/// Found by fuzzing: stray text on both sides of a typed child became two text nodes that
/// the writer printed side by side, so the re-read model had one.
#[test]
fn stray_text_around_typed_children_round_trips() {
    let text = "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"p\">a<task id=\"t\"/>b</process></definitions>";
    let doc = read_bpmn(text);
    let again = read_bpmn(&write_bpmn(&doc.definitions));
    assert_eq!(again.definitions, doc.definitions);
}

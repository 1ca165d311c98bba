//! Files as other modelling tools write them (default namespace, `bpmn2:` prefix, missing
//! `incoming`/`outgoing`, vendor extensions, `xsi:type` spellings, comments, CDATA scripts):
//! each imports cleanly, round-trips, and its unknown parts are present in the output.

use std::path::Path;

use starweave_model::bpmn::{
    ActivityKind, BpmnDocument, FlowElement, StarweaveTarget, read_bpmn, write_bpmn,
};

fn load(name: &str) -> (String, BpmnDocument) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/bpmn/tools")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = read_bpmn(&text);
    (text, doc)
}

/// Reads, checks there are no diagnostics, writes, re-reads and compares; returns the export.
fn round_trip(name: &str) -> (BpmnDocument, String) {
    let (_, doc) = load(name);
    assert!(doc.diagnostics.is_empty(), "{name}: {:#?}", doc.diagnostics);
    let written = write_bpmn(&doc.definitions);
    let again = read_bpmn(&written);
    assert!(
        again.diagnostics.is_empty(),
        "{name} re-read: {:#?}\n{written}",
        again.diagnostics
    );
    assert_eq!(
        doc.definitions, again.definitions,
        "{name}: model changed\n{written}"
    );
    assert_eq!(
        write_bpmn(&again.definitions),
        written,
        "{name}: export not idempotent"
    );
    (doc, written)
}

fn assert_contains(written: &str, parts: &[&str]) {
    for part in parts {
        assert!(written.contains(part), "export lacks {part:?}:\n{written}");
    }
}

fn flow<'a>(doc: &'a BpmnDocument, id: &str) -> &'a FlowElement {
    doc.definitions
        .processes()
        .flat_map(|p| p.all_flow_elements())
        .find(|f| f.id() == id)
        .unwrap_or_else(|| panic!("no flow element `{id}`"))
}

#[test]
fn default_namespace_without_incoming_outgoing() {
    let (doc, written) = round_trip("default_namespace.bpmn");
    // The document's prefixes are reused: BPMN stays the default namespace.
    assert_contains(
        &written,
        &[
            "<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"",
            "<process id=\"order\"",
            "<omgdc:Bounds",
            "<omgdi:waypoint x=\"136\"",
        ],
    );
    let FlowElement::SequenceFlow(flow) = flow(&doc, "to_accept") else {
        panic!("not a flow")
    };
    let cond = flow.condition_expression.as_ref().expect("condition");
    assert_eq!(cond.body, "order.total < 100 && order.ok");
    assert_eq!(cond.language.as_deref(), Some("rhai"));
    assert_eq!(cond.xsi_type.as_deref(), Some("tFormalExpression"));
    let FlowElement::Gateway(gw) = flow_of(&doc, "check") else {
        panic!("not a gateway")
    };
    assert_eq!(gw.default.as_deref(), Some("to_reject"));
    assert!(gw.incoming.is_empty() && gw.outgoing.is_empty());
    assert_eq!(
        doc.source_map.pos("accept").map(|p| (p.line, p.column)),
        Some((12, 5))
    );
}

fn flow_of<'a>(doc: &'a BpmnDocument, id: &str) -> &'a FlowElement {
    flow(doc, id)
}

#[test]
fn bpmn2_prefix_with_cdata_script_and_io_specification() {
    let (doc, written) = round_trip("bpmn2_prefix.bpmn");
    assert_contains(
        &written,
        &[
            "<bpmn2:definitions",
            "drools:packageName=\"com.example\"",
            "drools:priority=\"1\"",
            "<bpmn2:ioSpecification>",
            "<bpmn2:dataInputRefs>script_in</bpmn2:dataInputRefs>",
            "<drools:metaValue><![CDATA[Count]]></drools:metaValue>",
            "<bpmn2:property id=\"count\"",
            "processType=\"Public\"",
            "xsi:type=\"bpmn2:tFormalExpression\"",
        ],
    );
    let FlowElement::Activity(task) = flow(&doc, "script") else {
        panic!("not an activity")
    };
    let ActivityKind::ScriptTask {
        script_format,
        script,
    } = &task.kind
    else {
        panic!("not a script task")
    };
    assert_eq!(script_format.as_deref(), Some("http://www.java.com/java"));
    let script = script.as_ref().expect("inline script");
    assert!(
        script.text.starts_with("if (count < 10 && ok) {\n"),
        "{:?}",
        script.text
    );
    assert!(written.contains("<![CDATA[if (count < 10 && ok) {"));
    // DI numbers written as "48.0" read as the same f64.
    assert_contains(&written, &["height=\"48\""]);
}

#[test]
fn camunda_extensions_colors_and_comments() {
    let (doc, written) = round_trip("camunda.bpmn");
    assert_contains(
        &written,
        &[
            "modeler:executionPlatform=\"Camunda Platform\"",
            "camunda:historyTimeToLive=\"180\"",
            "<!-- the happy path -->",
            "camunda:asyncBefore=\"true\"",
            "<camunda:inputParameter name=\"invoice\">${invoice}</camunda:inputParameter>",
            "<camunda:script scriptFormat=\"groovy\"><![CDATA[result < 3]]></camunda:script>",
            "<camunda:failedJobRetryTimeCycle>R3/PT5M</camunda:failedJobRetryTimeCycle>",
            "bioc:stroke=\"#831311\"",
            "color:background-color=\"#ffcdd2\"",
            "<bpmndi:BPMNLabel/>",
        ],
    );
    // xsi was declared on an inner element only: kept there, and declared at the root so
    // the typed `xsi:type` is always bound.
    assert_contains(
        &written,
        &[
            "xsi:type=\"bpmn:tFormalExpression\"",
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
        ],
    );
    let FlowElement::Event(timer) = flow(&doc, "Timer_1") else {
        panic!("not an event")
    };
    assert_eq!(timer.cancel_activity, Some(false));
    assert_eq!(timer.attached_to_ref.as_deref(), Some("Task_archive"));
}

#[test]
fn zeebe_extensions() {
    let (doc, written) = round_trip("zeebe.bpmn");
    assert_contains(
        &written,
        &[
            "<zeebe:taskDefinition type=\"charge-card\" retries=\"5\"/>",
            "<zeebe:input source=\"=order.total\" target=\"amount\"/>",
            "<zeebe:header key=\"region\" value=\"eu\"/>",
            "<zeebe:loopCharacteristics inputCollection=\"=items\" inputElement=\"item\"/>",
            "<zeebe:calledElement processId=\"shipping\" propagateAllChildVariables=\"false\"/>",
            "modeler:executionPlatformVersion=\"8.5.0\"",
        ],
    );
    let FlowElement::Activity(charge) = flow(&doc, "charge") else {
        panic!("not an activity")
    };
    assert!(charge.loop_characteristics.is_some());
}

#[test]
fn signavio_metadata_and_other_xsi_prefix() {
    let (doc, written) = round_trip("signavio.bpmn");
    assert_contains(
        &written,
        &[
            "<signavio:signavioDiagramMetaData metaKey=\"revisionid\" metaValue=\"4ef6\"/>",
            "<signavio:signavioMetaData metaKey=\"bgcolor\" metaValue=\"#ffffff\"/>",
            "xs:type=\"tFormalExpression\"",
            "isClosed=\"false\"",
            "gatewayDirection=\"Diverging\"",
            "<text><![CDATA[Check & decide]]></text>",
        ],
    );
    let FlowElement::SequenceFlow(f) = flow(&doc, "sid-f1") else {
        panic!("not a flow")
    };
    assert_eq!(
        f.condition_expression
            .as_ref()
            .and_then(|c| c.xsi_type.as_deref()),
        Some("tFormalExpression")
    );
}

#[test]
fn starweave_bindings_are_typed() {
    let (doc, written) = round_trip("starweave.bpmn");
    let FlowElement::Activity(load) = flow(&doc, "load") else {
        panic!("not an activity")
    };
    let sw = load.starweave().expect("sw:task");
    assert_eq!(
        sw.target(),
        Some(StarweaveTarget::ConnectorMethod {
            connector: "users",
            method: "get"
        })
    );
    assert_eq!(sw.timeout.as_deref(), Some("5s"));
    assert_eq!(sw.retries, Some(2));
    assert_eq!(sw.retry_backoff.as_deref(), Some("200ms"));
    assert_eq!(sw.inputs[0].name, "id");
    assert_eq!(sw.inputs[0].expr, "user_id");
    assert_eq!(sw.outputs[0].expr, "result.body");
    let FlowElement::Activity(prices) = flow(&doc, "prices") else {
        panic!("not an activity")
    };
    let mi = prices
        .starweave()
        .and_then(|s| s.multi_instance.as_ref())
        .expect("sw:multiInstance");
    assert_eq!(mi.collection.as_deref(), Some("order.items"));
    assert_eq!(mi.output_element.as_deref(), Some("result.price"));
    let FlowElement::Activity(notify) = flow(&doc, "notify") else {
        panic!("not an activity")
    };
    assert_eq!(
        notify.starweave().and_then(|s| s.target()),
        Some(StarweaveTarget::BpmnFunction("notify_user"))
    );
    assert_contains(
        &written,
        &[
            "<sw:task connector=\"users\" method=\"get\" timeout=\"5s\" retries=\"2\" retryBackoff=\"200ms\">",
        ],
    );
}

#[test]
fn models_built_in_code_get_conventional_prefixes() {
    let (_, doc) = load("starweave.bpmn");
    let mut defs = doc.definitions.clone();
    defs.namespaces.clear();
    let written = write_bpmn(&defs);
    assert_contains(
        &written,
        &[
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" xmlns:bpmndi=",
            "xmlns:sw=\"https://starweave.dev/schema/bpmn/1.0\"",
        ],
    );
    let again = read_bpmn(&written);
    assert!(again.diagnostics.is_empty(), "{:#?}", again.diagnostics);
    assert_eq!(
        again.definitions.root_elements,
        doc.definitions.root_elements
    );
}

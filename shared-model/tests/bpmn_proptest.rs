//! Property: for generated models, `read(write(m)) == m` with no diagnostics, and writing
//! is idempotent.

use proptest::prelude::*;
use starweave_model::bpmn::*;

const X_NS: &str = "urn:example:vendor";

fn namespaces() -> Vec<NamespaceDecl> {
    [
        ("bpmn", BPMN_NS),
        ("bpmndi", BPMNDI_NS),
        ("dc", DC_NS),
        ("di", DI_NS),
        ("xsi", XSI_NS),
        ("sw", STARWEAVE_NS),
        ("x", X_NS),
    ]
    .into_iter()
    .map(|(p, u)| NamespaceDecl {
        prefix: p.to_owned(),
        uri: u.to_owned(),
    })
    .collect()
}

fn name() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-zA-Z0-9 _.<>&\"'é\n\t-]{0,12}")
}

fn reference() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

/// Text content: anything printable, including markup characters and `]]>`.
fn body() -> impl Strategy<Value = String> {
    "[ -~\n\té\r]{0,30}"
}

fn unknown_attributes() -> impl Strategy<Value = Vec<XmlAttribute>> {
    proptest::option::of(("[a-z]{1,6}", "[a-z0-9 <&>\"]{0,8}")).prop_map(|a| {
        a.into_iter()
            .map(|(local, value)| XmlAttribute {
                namespace: Some(X_NS.into()),
                prefix: "x".into(),
                local_name: local.into(),
                value: value.into(),
            })
            .collect()
    })
}

fn xml_element() -> impl Strategy<Value = XmlElement> {
    let leaf = (
        "[a-z]{1,6}",
        unknown_attributes(),
        proptest::option::of("[a-z<&>][a-z <&>]{0,8}"),
    )
        .prop_map(|(local, attributes, text)| XmlElement {
            namespace: Some(X_NS.into()),
            prefix: "x".into(),
            local_name: local.into(),
            attributes,
            children: text.into_iter().map(XmlNode::Text).collect(),
        });
    leaf.prop_recursive(2, 6, 3, |inner| {
        (
            "[a-z]{1,6}",
            prop::collection::vec(
                prop_oneof![
                    inner.prop_map(XmlNode::Element),
                    "[a-z ]{0,8}[a-z]".prop_map(XmlNode::Comment),
                ],
                0..3,
            ),
        )
            .prop_map(|(local, children)| XmlElement {
                namespace: Some(X_NS.into()),
                prefix: "x".into(),
                local_name: local.into(),
                attributes: Vec::new(),
                children,
            })
    })
}

fn unknown() -> impl Strategy<Value = Unknown> {
    (
        unknown_attributes(),
        prop::collection::vec(xml_element().prop_map(XmlNode::Element), 0..2),
    )
        .prop_map(|(attributes, children)| Unknown {
            attributes,
            children,
        })
}

fn mapping() -> impl Strategy<Value = Mapping> {
    ("[a-z_]{0,8}", "[ -~]{0,16}").prop_map(|(name, expr)| Mapping {
        name,
        expr,
        unknown: Unknown::default(),
    })
}

fn starweave_task() -> impl Strategy<Value = StarweaveTask> {
    (
        (
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of("[a-z]{1,8}"),
        ),
        (
            proptest::option::of("[0-9]{1,3}(ms|s|m)"),
            proptest::option::of(0u32..10),
            proptest::option::of("[0-9]{1,3}ms"),
        ),
        prop::collection::vec(mapping(), 0..3),
        prop::collection::vec(mapping(), 0..3),
        proptest::option::of((name(), name(), name(), name())),
    )
        .prop_map(
            |(
                (connector, method, function, component),
                (timeout, retries, retry_backoff),
                inputs,
                outputs,
                mi,
            )| StarweaveTask {
                connector,
                method,
                function,
                bpmn_function: None,
                component,
                timeout,
                retries,
                retry_backoff,
                inputs,
                outputs,
                multi_instance: mi.map(
                    |(collection, element_variable, output_collection, output_element)| {
                        StarweaveMultiInstance {
                            collection,
                            element_variable,
                            output_collection,
                            output_element,
                            unknown: Unknown::default(),
                        }
                    },
                ),
                unknown: Unknown::default(),
            },
        )
}

fn base() -> impl Strategy<Value = BaseElement> {
    (
        prop::collection::vec(
            body().prop_map(|text| Documentation {
                id: None,
                text_format: None,
                text,
                unknown: Unknown::default(),
            }),
            0..2,
        ),
        proptest::option::of((
            proptest::option::of(starweave_task()),
            prop::collection::vec(xml_element().prop_map(XmlNode::Element), 0..2),
        )),
        unknown(),
    )
        .prop_map(|(documentation, ext, unknown)| BaseElement {
            id: None,
            documentation,
            extension_elements: ext.map(|(starweave, children)| ExtensionElements {
                starweave,
                unknown: Unknown {
                    attributes: Vec::new(),
                    children,
                },
            }),
            unknown,
        })
}

fn expression() -> impl Strategy<Value = Expression> {
    (
        proptest::option::of(prop_oneof![
            Just("bpmn:tFormalExpression".to_owned()),
            Just("tFormalExpression".to_owned())
        ]),
        proptest::option::of("rhai|javascript|http://x"),
        body(),
    )
        .prop_map(|(xsi_type, language, body)| Expression {
            base: BaseElement::default(),
            xsi_type,
            language,
            body,
        })
}

fn event_definition() -> impl Strategy<Value = EventDefinition> {
    let kind = prop_oneof![
        Just(EventDefinitionKind::Terminate),
        Just(EventDefinitionKind::Cancel),
        proptest::option::of(reference())
            .prop_map(|error_ref| EventDefinitionKind::Error { error_ref }),
        proptest::option::of(reference()).prop_map(|message_ref| EventDefinitionKind::Message {
            message_ref,
            operation_ref: None
        }),
        proptest::option::of(reference())
            .prop_map(|signal_ref| EventDefinitionKind::Signal { signal_ref }),
        (
            proptest::option::of(expression()),
            proptest::option::of(expression()),
            proptest::option::of(expression())
        )
            .prop_map(|(time_date, time_duration, time_cycle)| {
                EventDefinitionKind::Timer {
                    time_date,
                    time_duration,
                    time_cycle,
                }
            }),
        proptest::option::of(expression())
            .prop_map(|condition| EventDefinitionKind::Conditional { condition }),
        (
            name(),
            prop::collection::vec(reference(), 0..2),
            proptest::option::of(reference())
        )
            .prop_map(|(name, sources, target)| EventDefinitionKind::Link {
                name,
                sources,
                target
            }),
        (proptest::option::of(reference()), any::<Option<bool>>()).prop_map(
            |(activity_ref, wait_for_completion)| EventDefinitionKind::Compensate {
                activity_ref,
                wait_for_completion
            }
        ),
    ];
    kind.prop_map(|kind| EventDefinition {
        base: BaseElement::default(),
        kind,
    })
}

fn refs() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(reference(), 0..3)
}

fn event() -> impl Strategy<Value = FlowElement> {
    (
        prop_oneof![
            Just(EventKind::Start),
            Just(EventKind::End),
            Just(EventKind::IntermediateCatch),
            Just(EventKind::IntermediateThrow),
            Just(EventKind::Boundary)
        ],
        base(),
        name(),
        (refs(), refs()),
        prop::collection::vec(event_definition(), 0..2),
        (
            any::<Option<bool>>(),
            proptest::option::of(reference()),
            any::<Option<bool>>(),
        ),
    )
        .prop_map(
            |(kind, base, name, (incoming, outgoing), defs, (interrupting, attached, cancel))| {
                let mut e = Event::new(kind, "");
                e.base = base;
                e.name = name;
                e.incoming = incoming;
                e.outgoing = outgoing;
                e.event_definitions = defs;
                e.is_interrupting = interrupting;
                e.attached_to_ref = if kind == EventKind::Boundary {
                    Some(attached.unwrap_or_default())
                } else {
                    attached
                };
                e.cancel_activity = cancel;
                FlowElement::Event(e)
            },
        )
}

fn multi_instance() -> impl Strategy<Value = LoopCharacteristics> {
    prop_oneof![
        (any::<Option<bool>>(), proptest::option::of(expression())).prop_map(
            |(test_before, loop_condition)| {
                LoopCharacteristics::Standard(StandardLoop {
                    base: BaseElement::default(),
                    test_before,
                    loop_condition,
                })
            }
        ),
        (
            any::<Option<bool>>(),
            proptest::option::of(expression()),
            proptest::option::of(expression()),
            proptest::option::of(reference()),
            proptest::option::of(name())
        )
            .prop_map(
                |(
                    is_sequential,
                    loop_cardinality,
                    completion_condition,
                    loop_data_input_ref,
                    item,
                )| {
                    LoopCharacteristics::MultiInstance(MultiInstance {
                        is_sequential,
                        loop_cardinality,
                        completion_condition,
                        loop_data_input_ref,
                        input_data_item: item.map(|name| DataItem {
                            name,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                }
            ),
    ]
}

fn activity_kind() -> impl Strategy<Value = ActivityKind> {
    prop_oneof![
        Just(ActivityKind::Task),
        Just(ActivityKind::ServiceTask),
        Just(ActivityKind::UserTask),
        Just(ActivityKind::ManualTask),
        Just(ActivityKind::BusinessRuleTask),
        (
            proptest::option::of("rhai|javascript"),
            proptest::option::of(body())
        )
            .prop_map(|(script_format, text)| ActivityKind::ScriptTask {
                script_format,
                script: text.map(|text| Script {
                    text,
                    unknown: Unknown::default()
                })
            }),
        proptest::option::of(reference())
            .prop_map(|message_ref| ActivityKind::SendTask { message_ref }),
        (proptest::option::of(reference()), any::<Option<bool>>()).prop_map(
            |(message_ref, instantiate)| ActivityKind::ReceiveTask {
                message_ref,
                instantiate
            }
        ),
        proptest::option::of(reference())
            .prop_map(|called_element| ActivityKind::CallActivity { called_element }),
    ]
}

fn leaf_flow_element() -> impl Strategy<Value = FlowElement> {
    prop_oneof![
        event(),
        (
            activity_kind(),
            base(),
            name(),
            (refs(), refs()),
            proptest::option::of(reference()),
            proptest::option::of(multi_instance())
        )
            .prop_map(
                |(kind, base, name, (incoming, outgoing), default, loop_characteristics)| {
                    let mut a = Activity::new(kind, "");
                    a.base = base;
                    a.name = name;
                    a.incoming = incoming;
                    a.outgoing = outgoing;
                    a.default = default;
                    a.loop_characteristics = loop_characteristics;
                    a.data_input_associations = vec![DataAssociation {
                        source_refs: vec!["d".into()],
                        target_ref: Some("t".into()),
                        ..Default::default()
                    }];
                    FlowElement::Activity(a)
                }
            ),
        (
            prop_oneof![
                Just(GatewayKind::Exclusive),
                Just(GatewayKind::Parallel),
                Just(GatewayKind::Inclusive),
                Just(GatewayKind::EventBased),
                Just(GatewayKind::Complex)
            ],
            base(),
            name(),
            (refs(), refs()),
            proptest::option::of(reference())
        )
            .prop_map(|(kind, base, name, (incoming, outgoing), default)| {
                let mut g = Gateway::new(kind, "");
                g.base = base;
                g.name = name;
                g.incoming = incoming;
                g.outgoing = outgoing;
                g.default = default;
                FlowElement::Gateway(g)
            }),
        (
            base(),
            name(),
            reference(),
            reference(),
            any::<Option<bool>>(),
            proptest::option::of(expression())
        )
            .prop_map(
                |(base, name, source_ref, target_ref, is_immediate, condition_expression)| {
                    FlowElement::SequenceFlow(SequenceFlow {
                        base,
                        name,
                        source_ref,
                        target_ref,
                        is_immediate,
                        condition_expression,
                    })
                }
            ),
        (name(), any::<Option<bool>>()).prop_map(|(name, is_collection)| FlowElement::DataObject(
            DataObject {
                name,
                is_collection,
                ..Default::default()
            }
        )),
        (name(), proptest::option::of(reference())).prop_map(|(name, data_object_ref)| {
            FlowElement::DataObjectReference(DataObjectReference {
                name,
                data_object_ref,
                ..Default::default()
            })
        }),
    ]
}

fn flow_element() -> impl Strategy<Value = FlowElement> {
    leaf_flow_element().prop_recursive(2, 24, 6, |inner| {
        (
            0..3u8,
            any::<Option<bool>>(),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(kind, triggered_by_event, flow_elements)| {
                let sub = SubProcess {
                    triggered_by_event,
                    flow_elements,
                    ..Default::default()
                };
                let kind = match kind {
                    0 => ActivityKind::SubProcess(sub),
                    1 => ActivityKind::Transaction(sub),
                    _ => ActivityKind::AdHocSubProcess(SubProcess {
                        ordering: Some("Parallel".into()),
                        ..sub
                    }),
                };
                FlowElement::Activity(Activity::new(kind, ""))
            })
    })
}

fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-100_000i32..100_000).prop_map(|v| f64::from(v) / 8.0),
        prop::num::f64::NORMAL,
        Just(0.0),
        Just(-0.0)
    ]
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (coordinate(), coordinate(), coordinate(), coordinate()).prop_map(|(x, y, width, height)| {
        Bounds {
            x,
            y,
            width,
            height,
        }
    })
}

fn diagram_element() -> impl Strategy<Value = DiagramElement> {
    prop_oneof![
        (
            reference(),
            bounds(),
            any::<Option<bool>>(),
            any::<Option<bool>>(),
            proptest::option::of(proptest::option::of(bounds())),
            unknown_attributes()
        )
            .prop_map(
                |(bpmn_element, b, is_expanded, is_marker_visible, label, attributes)| {
                    DiagramElement::Shape(Shape {
                        bpmn_element: Some(bpmn_element),
                        bounds: Some(b),
                        is_expanded,
                        is_marker_visible,
                        label: label.map(|bounds| Label {
                            bounds,
                            ..Default::default()
                        }),
                        unknown: Unknown {
                            attributes,
                            children: Vec::new(),
                        },
                        ..Default::default()
                    })
                }
            ),
        (
            reference(),
            prop::collection::vec(
                (coordinate(), coordinate()).prop_map(|(x, y)| Point { x, y }),
                0..5
            ),
            proptest::option::of(bounds())
        )
            .prop_map(|(bpmn_element, waypoints, label)| {
                DiagramElement::Edge(Edge {
                    bpmn_element: Some(bpmn_element),
                    waypoints,
                    label: label.map(|b| Label {
                        bounds: Some(b),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
    ]
}

/// Gives every element that needs one a unique id, so no duplicate-id diagnostic fires.
fn number_ids(elements: &mut [FlowElement], next: &mut usize) {
    for element in elements {
        *next += 1;
        let id = Some(format!("n{next}"));
        match element {
            FlowElement::Event(x) => x.base.id = id,
            FlowElement::Activity(x) => {
                x.base.id = id;
                if let ActivityKind::SubProcess(s)
                | ActivityKind::Transaction(s)
                | ActivityKind::AdHocSubProcess(s) = &mut x.kind
                {
                    number_ids(&mut s.flow_elements, next);
                }
            }
            FlowElement::Gateway(x) => x.base.id = id,
            FlowElement::SequenceFlow(x) => x.base.id = id,
            FlowElement::DataObject(x) => x.base.id = id,
            FlowElement::DataObjectReference(x) => x.base.id = id,
            FlowElement::DataStoreReference(x) => x.base.id = id,
        }
    }
}

fn definitions() -> impl Strategy<Value = Definitions> {
    (
        prop::collection::vec(
            (
                base(),
                name(),
                any::<Option<bool>>(),
                prop::collection::vec(flow_element(), 0..8),
            ),
            1..3,
        ),
        prop::collection::vec(diagram_element(), 0..8),
        name(),
        unknown(),
    )
        .prop_map(|(processes, elements, defs_name, defs_unknown)| {
            let mut next = 0;
            let mut root_elements = Vec::new();
            for (base, name, is_executable, mut flow_elements) in processes {
                number_ids(&mut flow_elements, &mut next);
                next += 1;
                root_elements.push(RootElement::Process(Process {
                    base: BaseElement {
                        id: Some(format!("p{next}")),
                        ..base
                    },
                    name,
                    is_executable,
                    flow_elements,
                    ..Default::default()
                }));
            }
            root_elements.push(RootElement::Message(Message {
                base: BaseElement::with_id("msg"),
                name: Some("m".into()),
                item_ref: None,
            }));
            let elements = elements
                .into_iter()
                .enumerate()
                .map(|(i, mut e)| {
                    match &mut e {
                        DiagramElement::Shape(s) => s.id = Some(format!("di{i}")),
                        DiagramElement::Edge(s) => s.id = Some(format!("di{i}")),
                    }
                    e
                })
                .collect();
            Definitions {
                base: BaseElement {
                    id: Some("defs".into()),
                    unknown: defs_unknown,
                    ..Default::default()
                },
                name: defs_name,
                target_namespace: Some("https://starweave.dev/test".into()),
                namespaces: namespaces(),
                root_elements,
                diagrams: vec![Diagram {
                    id: Some("diagram".into()),
                    plane: Some(Plane {
                        id: Some("plane".into()),
                        bpmn_element: Some("p1".into()),
                        elements,
                        unknown: Unknown::default(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
}

/// The generated models are large nested values; debug builds need more stack than the
/// test harness's default thread has, so the runner gets its own thread.
#[test]
fn write_then_read_gives_the_same_model() {
    let run = || {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 256,
            ..ProptestConfig::default()
        });
        let result = runner.run(&definitions(), |model| {
            let written = write_bpmn(&model);
            let doc = read_bpmn(&written);
            prop_assert!(
                doc.diagnostics.is_empty(),
                "{:#?}\n{}",
                doc.diagnostics,
                written
            );
            prop_assert_eq!(&doc.definitions, &model, "{}", written);
            prop_assert_eq!(write_bpmn(&doc.definitions), written);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    };
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(run)
        .expect("spawn")
        .join()
        .expect("property holds");
}

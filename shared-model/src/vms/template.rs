//! Starting points for `starweave new <dir> --template NAME`.

use serde_json::json;

use super::Vms;
use super::connector::HttpVerb;
use super::env::EnvVar;
use super::function::{CodeLanguage, ErrorDecl, Function, FunctionSpec};
use super::local_env::LOCAL_ENV_FILE;
use super::params::{ParamType, Parameter};
use super::test_case::{ExpectedError, TestCase};
use super::trigger::{HttpTrigger, Trigger};

/// A template for a new VMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// Only `vms.yaml`.
    Empty,
    /// An HTTP route calling a JavaScript function, with tests.
    HttpJs,
    /// An HTTP route calling a Rhai function, with tests.
    Rhai,
}

impl Template {
    /// Every template, in the order `--help` lists them.
    pub const ALL: [Template; 3] = [Template::Empty, Template::HttpJs, Template::Rhai];

    /// The name given to `--template`.
    pub fn name(self) -> &'static str {
        match self {
            Template::Empty => "empty",
            Template::HttpJs => "http-js",
            Template::Rhai => "rhai",
        }
    }

    /// A one-line description for help text.
    pub fn description(self) -> &'static str {
        match self {
            Template::Empty => "an empty VMS: just vms.yaml",
            Template::HttpJs => "GET /hello/{name} answered by a JavaScript function, with tests",
            Template::Rhai => "POST /add answered by a Rhai function, with tests",
        }
    }

    /// The template called `name`.
    pub fn parse(name: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.name() == name)
    }
}

const HELLO_JS: &str = r#"// Answers GET /hello/{name}.
export default async function (input, ctx) {
  const greeting = ctx.env.GREETING ?? "Hello";
  if (input.name.trim() === "") {
    throw new BpmnError("EMPTY_NAME", "name must not be blank");
  }
  // Shown in the Run panel, and on the engines in the Logs panel and `starweave logs`.
  ctx.log.info("greeting", input.name);
  return { message: `${greeting}, ${input.name}!` };
}
"#;

const ADD_RHAI: &str = r#"// Answers POST /add with the sum of two numbers.
fn main(input, ctx) {
    if input.a < 0 || input.b < 0 {
        throw_bpmn_error("NEGATIVE", "only non-negative numbers are added");
    }
    #{ sum: input.a + input.b }
}
"#;

/// A new VMS called `name` from a template. Every template is valid as it is.
pub fn template_vms(name: &str, template: Template) -> Vms {
    let mut vms = Vms {
        name: name.to_owned(),
        description: Some(format!("{name}: a Starweave VMS.")),
        ..Vms::default()
    };
    // This machine's own env values stay out of Git (`local_env`).
    vms.other_files.insert(
        ".gitignore".to_owned(),
        format!("# This machine's own env values: never committed.\n/{LOCAL_ENV_FILE}\n")
            .into_bytes(),
    );
    match template {
        Template::Empty => {}
        Template::HttpJs => {
            vms.env.push(EnvVar {
                name: "GREETING".to_owned(),
                default: Some(json!("Hello")),
                description: Some("The word the greeting starts with.".to_owned()),
                ..EnvVar::default()
            });
            let spec = FunctionSpec {
                description: Some("Greets someone by name.".to_owned()),
                input: vec![
                    Parameter::new("name", ParamType::String)
                        .required()
                        .describe("Who to greet."),
                ],
                output: vec![Parameter::new("message", ParamType::String).required()],
                errors: vec![ErrorDecl {
                    code: "EMPTY_NAME".to_owned(),
                    description: Some("The name is blank.".to_owned()),
                }],
                ..FunctionSpec::default()
            };
            vms.functions.insert(
                "hello".to_owned(),
                Function {
                    spec,
                    ..Function::code(CodeLanguage::JavaScript, HELLO_JS)
                },
            );
            vms.triggers.push(Trigger::Http(HttpTrigger {
                function: "hello".to_owned(),
                method: HttpVerb::Get,
                path: "/hello/{name}".to_owned(),
                error_statuses: [("EMPTY_NAME".to_owned(), 400)].into_iter().collect(),
                ..HttpTrigger::default()
            }));
            let cases = vms.tests.entry("hello".to_owned()).or_default();
            cases.insert(
                "greets".to_owned(),
                TestCase {
                    description: Some("Greets Ada.".to_owned()),
                    input: json!({ "name": "Ada" }),
                    output: Some(json!({ "message": "Hello, Ada!" })),
                    ..TestCase::default()
                },
            );
            cases.insert(
                "blank_name".to_owned(),
                TestCase {
                    description: Some("A blank name is refused.".to_owned()),
                    input: json!({ "name": " " }),
                    error: Some(ExpectedError {
                        code: "EMPTY_NAME".to_owned(),
                        message: None,
                    }),
                    ..TestCase::default()
                },
            );
        }
        Template::Rhai => {
            let number = |n: &str| {
                Parameter {
                    minimum: Some(0.0),
                    ..Parameter::new(n, ParamType::Integer)
                }
                .required()
            };
            let spec = FunctionSpec {
                description: Some("Adds two non-negative integers.".to_owned()),
                input: vec![number("a"), number("b")],
                output: vec![Parameter::new("sum", ParamType::Integer).required()],
                errors: vec![ErrorDecl {
                    code: "NEGATIVE".to_owned(),
                    description: Some("A number is negative.".to_owned()),
                }],
                ..FunctionSpec::default()
            };
            vms.functions.insert(
                "add".to_owned(),
                Function {
                    spec,
                    ..Function::code(CodeLanguage::Rhai, ADD_RHAI)
                },
            );
            vms.triggers.push(Trigger::Http(HttpTrigger {
                function: "add".to_owned(),
                method: HttpVerb::Post,
                path: "/add".to_owned(),
                error_statuses: [("NEGATIVE".to_owned(), 422)].into_iter().collect(),
                ..HttpTrigger::default()
            }));
            vms.tests.entry("add".to_owned()).or_default().insert(
                "adds".to_owned(),
                TestCase {
                    input: json!({ "a": 2, "b": 40 }),
                    output: Some(json!({ "sum": 42 })),
                    ..TestCase::default()
                },
            );
        }
    }
    vms
}

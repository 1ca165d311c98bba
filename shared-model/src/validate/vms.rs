//! VMS rules: references between functions, connectors, triggers, env vars and tests.

use std::collections::{BTreeSet, HashMap};

use crate::{
    Diagnostic,
    bpmn::{Activity, ActivityKind, FlowElement, RootElement, StarweaveTarget, parse_duration_ms},
    vms::{
        Connector, Trigger, Vms, VmsDocument,
        connector::{HttpAuth, MethodSignature, MqBroker, MqConnector, RetryPolicy},
        disk::{VmsSourceMap, function_body_file},
        function::FunctionBody,
        params::Parameter,
        trigger::MqTrigger,
    },
};

use super::graph::{Executability, validate_definitions};

/// Validates a loaded VMS: each BPMN function's graph and every reference across the VMS.
///
/// Reader diagnostics (`doc.diagnostics`) are not repeated; callers show both.
pub fn validate_vms(doc: &VmsDocument) -> Vec<Diagnostic> {
    let vms = &doc.vms;
    let map = &doc.source_map;
    let mut diags = Vec::new();

    // The name a deployment carries, in engine URLs (`/<vms>/…`) and admin paths.
    if !vms.name.is_empty() && !crate::vms::disk::is_valid_name(&vms.name) {
        diags.push(
            map.locate(crate::vms::disk::MANIFEST_FILE, "name")
                .attach(Diagnostic::error(
                    "vms.bad-vms-name",
                    format!(
                        "the VMS name `{}` may use only letters, digits, `_` and `-`: engines refuse any other",
                        vms.name
                    ),
                )),
        );
    }

    for (name, function) in &vms.functions {
        if let FunctionBody::Bpmn { definitions } = &function.body {
            let file = function_body_file(name, "bpmn");
            let empty = crate::bpmn::SourceMap::default();
            let source_map = map.bpmn.get(&file).unwrap_or(&empty);
            for d in validate_definitions(definitions, source_map, Executability::UnlessDeclaredNot)
            {
                diags.push(d.in_file(file.clone()));
            }
            let processes: Vec<&str> = definitions
                .root_elements
                .iter()
                .filter_map(|r| match r {
                    RootElement::Process(p) => Some(p.base.id()),
                    _ => None,
                })
                .collect();
            let mut bindings = BindingChecker {
                vms,
                map,
                function: name,
                local_processes: &processes,
                diags: &mut diags,
            };
            for root in &definitions.root_elements {
                if let RootElement::Process(p) = root
                    && p.is_executable != Some(false)
                {
                    for element in p.all_flow_elements() {
                        if let FlowElement::Activity(activity) = element {
                            bindings.check(activity);
                        }
                    }
                }
            }
        }
    }

    check_triggers(vms, map, &mut diags);
    check_connectors(vms, map, &mut diags);
    check_tests(vms, map, &mut diags);
    diags
}

/// Checks what BPMN tasks are bound to.
struct BindingChecker<'a> {
    vms: &'a Vms,
    map: &'a VmsSourceMap,
    function: &'a str,
    local_processes: &'a [&'a str],
    diags: &'a mut Vec<Diagnostic>,
}

impl BindingChecker<'_> {
    fn report(&mut self, id: &str, diag: Diagnostic) {
        let location = self.map.bpmn_element(self.function, id);
        self.diags.push(location.attach(diag.on(id)));
    }

    fn check(&mut self, activity: &Activity) {
        let id = activity.base.id();
        let Some(task) = activity.starweave() else {
            match &activity.kind {
                ActivityKind::ServiceTask | ActivityKind::SendTask { .. } => self.report(
                    id,
                    Diagnostic::error(
                        "vms.unbound-task",
                        "this task is not bound to a connector method, function or component; \
                         choose one in its properties (sw:task)",
                    ),
                ),
                ActivityKind::CallActivity { called_element } => {
                    let called = called_element.as_deref().unwrap_or("");
                    let known = self.local_processes.contains(&called)
                        || self
                            .vms
                            .functions
                            .get(called)
                            .is_some_and(|f| matches!(f.body, FunctionBody::Bpmn { .. }));
                    if !known {
                        self.report(
                            id,
                            Diagnostic::error(
                                "vms.unknown-function",
                                if called.is_empty() {
                                    "this call activity calls nothing: set calledElement to a BPMN function".to_owned()
                                } else {
                                    format!("this call activity calls `{called}`, which is not a BPMN function of this VMS")
                                },
                            ),
                        );
                    }
                }
                _ => {}
            }
            return;
        };
        for (attr, value) in [
            ("timeout", &task.timeout),
            ("retryBackoff", &task.retry_backoff),
        ] {
            if let Some(text) = value
                && parse_duration_ms(text).is_none()
            {
                self.report(
                    id,
                    Diagnostic::error(
                        "vms.bad-duration",
                        format!(
                            "{attr} `{text}` is not a duration such as `250ms`, `5s` or `1m30s`"
                        ),
                    ),
                );
            }
        }
        let inputs: Option<(String, Vec<&Parameter>)> = match task.target() {
            None => {
                self.report(
                    id,
                    Diagnostic::error(
                        "vms.unbound-task",
                        "sw:task names no target: set connector + method, function, bpmnFunction or component",
                    ),
                );
                None
            }
            Some(StarweaveTarget::ConnectorMethod { connector, method }) => {
                match self.vms.connectors.get(connector) {
                    None => {
                        let known = list(self.vms.connectors.keys().map(String::as_str));
                        self.report(
                            id,
                            Diagnostic::error(
                                "vms.unknown-connector",
                                format!(
                                    "connector `{connector}` does not exist in this VMS ({known})"
                                ),
                            ),
                        );
                        None
                    }
                    Some(c) => match c.method(method) {
                        None => {
                            let methods = c.methods();
                            let known = list(methods.iter().map(|m| m.name));
                            self.report(
                                id,
                                Diagnostic::error(
                                    "vms.unknown-method",
                                    if method.is_empty() {
                                        format!("sw:task names connector `{connector}` but no method ({known})")
                                    } else {
                                        format!("connector `{connector}` has no method `{method}` ({known})")
                                    },
                                ),
                            );
                            None
                        }
                        Some(MethodSignature { input, .. }) => {
                            Some((format!("{connector}.{method}"), input.iter().collect()))
                        }
                    },
                }
            }
            Some(StarweaveTarget::Function(name)) => match self.vms.functions.get(name) {
                None => {
                    let known = list(self.vms.functions.keys().map(String::as_str));
                    self.report(
                        id,
                        Diagnostic::error(
                            "vms.unknown-function",
                            format!("function `{name}` does not exist in this VMS ({known})"),
                        ),
                    );
                    None
                }
                Some(f) => Some((format!("function `{name}`"), f.spec.input.iter().collect())),
            },
            Some(StarweaveTarget::BpmnFunction(name)) => match self.vms.functions.get(name) {
                Some(f) if matches!(f.body, FunctionBody::Bpmn { .. }) => {
                    Some((format!("function `{name}`"), f.spec.input.iter().collect()))
                }
                Some(_) => {
                    self.report(
                        id,
                        Diagnostic::error(
                            "vms.unknown-function",
                            format!("`{name}` is a code function, not a BPMN function; bind it with `function=` instead"),
                        ),
                    );
                    None
                }
                None => {
                    self.report(
                        id,
                        Diagnostic::error(
                            "vms.unknown-function",
                            format!("BPMN function `{name}` does not exist in this VMS"),
                        ),
                    );
                    None
                }
            },
            // Components live in team and public libraries, outside the VMS.
            Some(StarweaveTarget::Component(_)) => None,
        };
        if let Some((callee, params)) = inputs
            && !params.is_empty()
        {
            for mapping in &task.inputs {
                if !params.iter().any(|p| p.name == mapping.name) {
                    let known = list(params.iter().map(|p| p.name.as_str()));
                    self.report(
                        id,
                        Diagnostic::error(
                            "vms.unknown-parameter",
                            format!(
                                "input mapping `{}` names no input parameter of {callee} ({known})",
                                mapping.name
                            ),
                        ),
                    );
                }
            }
        }
    }
}

/// `a, b, c`, or `it has none` — for "did you mean" lists in messages.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "there are none".to_owned()
    } else {
        format!("known: {}", names.join(", "))
    }
}

fn check_triggers(vms: &Vms, map: &VmsSourceMap, diags: &mut Vec<Diagnostic>) {
    let mut routes: HashMap<(String, String), usize> = HashMap::new();
    for (i, trigger) in vms.triggers.iter().enumerate() {
        let function = trigger.function();
        if !vms.functions.contains_key(function) {
            let known = list(vms.functions.keys().map(String::as_str));
            diags.push(map.trigger(i, Some("function")).attach(Diagnostic::error(
                "vms.trigger-unknown-function",
                format!(
                    "this {} trigger calls function `{function}`, which does not exist ({known})",
                    trigger.kind().as_str()
                ),
            )));
        }
        match trigger {
            Trigger::Cron(cron) => {
                if let Err(err) = cron.schedule.parse::<croner::Cron>() {
                    diags.push(map.trigger(i, Some("schedule")).attach(Diagnostic::error(
                        "vms.cron-invalid",
                        format!("cron schedule `{}` does not parse: {err}", cron.schedule),
                    )));
                }
                if let Some(tz) = &cron.timezone
                    && tz.parse::<chrono_tz::Tz>().is_err()
                {
                    diags.push(map.trigger(i, Some("timezone")).attach(Diagnostic::error(
                        "vms.unknown-timezone",
                        format!("`{tz}` is not an IANA time zone such as `Europe/Berlin` or `UTC`"),
                    )));
                }
            }
            Trigger::Http(http) => {
                if !http.path.starts_with('/') {
                    diags.push(map.trigger(i, Some("path")).attach(Diagnostic::error(
                        "vms.bad-route",
                        format!("route path `{}` must start with `/`", http.path),
                    )));
                }
                let shape = route_shape(&http.path);
                let key = (format!("{:?}", http.method), shape);
                if let Some(first) = routes.insert(key, i) {
                    diags.push(map.trigger(i, Some("path")).attach(Diagnostic::error(
                        "vms.duplicate-route",
                        format!(
                            "route {:?} {} is already served by trigger {} of triggers.yaml",
                            http.method,
                            http.path,
                            first + 1
                        ),
                    )));
                }
                for (code, status) in &http.error_statuses {
                    if !(100..=599).contains(status) {
                        diags.push(map.trigger(i, Some("error_statuses")).attach(Diagnostic::error(
                            "vms.bad-status",
                            format!("error `{code}` maps to {status}, which is not an HTTP status"),
                        )));
                    }
                }
            }
            Trigger::Mq(mq) => match vms.connectors.get(&mq.connector) {
                Some(Connector::Mq(connector)) => {
                    check_mq_trigger(&vms.name, mq, connector, i, map, diags);
                }
                Some(other) => diags.push(map.trigger(i, Some("connector")).attach(Diagnostic::error(
                    "vms.unknown-connector",
                    format!("connector `{}` is a {} connector; an MQ subscription needs an mq connector", mq.connector, other.kind().as_str()),
                ))),
                None => diags.push(map.trigger(i, Some("connector")).attach(Diagnostic::error(
                    "vms.unknown-connector",
                    format!("connector `{}` does not exist in this VMS", mq.connector),
                ))),
            },
            Trigger::Grpc(_) => {}
        }
    }
}

/// What an MQ subscription needs from its trigger, by broker.
fn check_mq_trigger(
    vms_name: &str,
    mq: &MqTrigger,
    connector: &MqConnector,
    i: usize,
    map: &VmsSourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    if matches!(connector.broker, MqBroker::Amqp) {
        check_amqp_names(vms_name, mq, i, map, diags);
    }
    let (broker, subject_is) = match connector.broker {
        MqBroker::Nats => ("NATS JetStream", "subject"),
        MqBroker::Amqp => ("AMQP", "queue"),
        MqBroker::RedisStreams => ("Redis Streams", "stream key"),
    };
    if mq.subject.trim().is_empty() {
        diags.push(map.trigger(i, Some("subject")).attach(Diagnostic::error(
            "vms.mq-subject",
            format!("the subscription needs a `subject`: the {subject_is} it reads"),
        )));
    }
    match connector.broker {
        MqBroker::Nats => {
            if mq.stream.is_none() && connector.stream.is_none() {
                diags.push(map.trigger(i, Some("connector")).attach(Diagnostic::error(
                    "vms.mq-stream",
                    format!(
                        "no JetStream stream: set `stream` on the trigger or on connector `{}`",
                        mq.connector
                    ),
                )));
            }
        }
        MqBroker::Amqp | MqBroker::RedisStreams => {
            if mq.stream.is_some() {
                diags.push(map.trigger(i, Some("stream")).attach(Diagnostic::error(
                    "vms.mq-stream",
                    format!(
                        "`stream` is for NATS JetStream; on {broker} the subscription reads the {subject_is} in `subject`"
                    ),
                )));
            }
        }
    }
    if let Some(dead_letter) = mq.dead_letter.as_deref()
        && !mq.subject.is_empty()
    {
        let message = if dead_letter == mq.subject {
            Some(format!(
                "`dead_letter` is the {subject_is} the subscription reads: failed messages would come back"
            ))
        } else if matches!(connector.broker, MqBroker::Nats)
            && nats_subject_matches(&mq.subject, dead_letter)
        {
            // AMQP queues and Redis stream keys are names, not patterns: there only the
            // exact match above reads the dead letters back.
            Some(format!(
                "`dead_letter` `{dead_letter}` matches the subject `{}` the subscription reads: failed messages would come back; pick a dead-letter subject outside it",
                mq.subject
            ))
        } else {
            None
        };
        if let Some(message) = message {
            diags.push(
                map.trigger(i, Some("dead_letter"))
                    .attach(Diagnostic::error("vms.mq-dead-letter", message)),
            );
        }
    }
}

/// AMQP queue names and consumer tags are at most 255 bytes: the queue, its delay queue,
/// the dead-letter queue and the consumer tag made of the durable name must fit.
fn check_amqp_names(
    vms_name: &str,
    mq: &MqTrigger,
    i: usize,
    map: &VmsSourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    use crate::vms::trigger::{AMQP_MAX_NAME, AMQP_RETRY_SUFFIX, AMQP_TAG_SUFFIX_LEN};
    let mut too_long = |key: &str, what: String, len: usize| {
        if len > AMQP_MAX_NAME {
            diags.push(map.trigger(i, Some(key)).attach(Diagnostic::error(
                "vms.mq-name-too-long",
                format!("{what} is {len} bytes; AMQP names are at most {AMQP_MAX_NAME}"),
            )));
        }
    };
    too_long(
        "subject",
        "the queue's delay queue (the queue and `.starweave-retry`)".to_owned(),
        mq.subject.len() + AMQP_RETRY_SUFFIX.len(),
    );
    if let Some(dead_letter) = mq.dead_letter.as_deref() {
        too_long(
            "dead_letter",
            "the dead-letter queue".to_owned(),
            dead_letter.len(),
        );
    }
    let (key, durable_len) = match mq.durable.as_deref().filter(|d| !d.is_empty()) {
        Some(durable) => ("durable", durable.len()),
        None => ("function", vms_name.len() + 1 + mq.function.len()),
    };
    too_long(
        key,
        "the consumer tag (the durable name, `-` and 8 characters)".to_owned(),
        durable_len + 1 + AMQP_TAG_SUFFIX_LEN,
    );
}

/// Whether the NATS subject pattern `pattern` matches the subject `subject`: tokens are
/// separated by `.`, a `*` token matches any one token and a final `>` token matches one or
/// more tokens.
fn nats_subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    let mut pattern_tokens = pattern.split('.').peekable();
    while let Some(token) = pattern_tokens.next() {
        if token == ">" && pattern_tokens.peek().is_none() {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(actual) if token == "*" || token == actual => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// `/users/{id}/x` and `/users/{user}/x` are the same route.
fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The most attempts a retry policy may make: more only piles load on a failing server
/// (and multiplies the call's timeout).
pub const MAX_RETRY_ATTEMPTS: u32 = 10;

/// What is wrong with an HTTP connector's retry policy, by field.
fn retry_problems(retry: &RetryPolicy) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !(1..=MAX_RETRY_ATTEMPTS).contains(&retry.max_attempts) {
        problems.push((
            "max_attempts",
            format!(
                "`max_attempts` is {}: it counts the first attempt too, from 1 (no retry) to {MAX_RETRY_ATTEMPTS}",
                retry.max_attempts
            ),
        ));
    }
    if let Some(backoff) = &retry.backoff {
        if let Some(multiplier) = backoff.multiplier
            && !(1.0..=10.0).contains(&multiplier)
        {
            problems.push((
                "backoff.multiplier",
                format!(
                    "`backoff.multiplier` is {multiplier}: waits grow by a factor from 1 to 10"
                ),
            ));
        }
        if let Some(max) = backoff.max_ms
            && max < backoff.initial_ms
        {
            problems.push((
                "backoff.max_ms",
                format!(
                    "`backoff.max_ms` ({max}) is below `backoff.initial_ms` ({}): the longest wait cannot be shorter than the first",
                    backoff.initial_ms
                ),
            ));
        }
    }
    problems
}

fn check_connectors(vms: &Vms, map: &VmsSourceMap, diags: &mut Vec<Diagnostic>) {
    let declared: BTreeSet<&str> = vms.env.iter().map(|e| e.name.as_str()).collect();
    for (name, connector) in &vms.connectors {
        let mut env_refs: Vec<(&str, &str)> = Vec::new();
        match connector {
            Connector::Http(http) => {
                if let Some(auth) = &http.auth {
                    match auth {
                        HttpAuth::Bearer { token_env } => {
                            env_refs.push(("auth.token_env", token_env))
                        }
                        HttpAuth::Basic {
                            username_env,
                            password_env,
                        } => {
                            env_refs.push(("auth.username_env", username_env));
                            env_refs.push(("auth.password_env", password_env));
                        }
                        HttpAuth::ApiKey { value_env, .. } => {
                            env_refs.push(("auth.value_env", value_env))
                        }
                        HttpAuth::OAuth2ClientCredentials {
                            client_id_env,
                            client_secret_env,
                            ..
                        } => {
                            env_refs.push(("auth.client_id_env", client_id_env));
                            env_refs.push(("auth.client_secret_env", client_secret_env));
                        }
                    }
                }
                if let Some(retry) = &http.retry {
                    for (field, problem) in retry_problems(retry) {
                        diags.push(
                            map.connector(name, &format!("retry.{field}"))
                                .attach(Diagnostic::error("vms.http-retry", problem)),
                        );
                    }
                }
                if let Some(tls) = &http.tls {
                    let fields = [
                        ("tls.ca_env", &tls.ca_env),
                        ("tls.client_cert_env", &tls.client_cert_env),
                        ("tls.client_key_env", &tls.client_key_env),
                    ];
                    for (field, var) in fields {
                        if let Some(var) = var {
                            env_refs.push((field, var));
                        }
                    }
                    let (missing, present) = match (&tls.client_cert_env, &tls.client_key_env) {
                        (Some(_), None) => (Some("client_key_env"), "client_cert_env"),
                        (None, Some(_)) => (Some("client_cert_env"), "client_key_env"),
                        _ => (None, ""),
                    };
                    if let Some(missing) = missing {
                        diags.push(map.connector(name, &format!("tls.{present}")).attach(
                            Diagnostic::error(
                                "vms.http-tls-incomplete",
                                format!("`tls.{present}` needs `tls.{missing}`: a client certificate is presented with its private key"),
                            ),
                        ));
                    }
                }
            }
            Connector::Database(db) => {
                env_refs.push(("url_env", &db.url_env));
                for (i, method) in db.methods.iter().enumerate() {
                    for ident in dollar_placeholders(&method.sql) {
                        // An empty allow-list accepts nothing: as unsafe as none.
                        if method.identifiers.get(ident).is_none_or(Vec::is_empty) {
                            diags.push(map.connector(name, &format!("methods[{i}].sql")).attach(
                                Diagnostic::error(
                                    "vms.sql-unsafe-substitution",
                                    format!(
                                        "`${{{ident}}}` in method `{}` pastes text into SQL; declare the identifiers it may take under `identifiers.{ident}`, or bind a value with `#{{{ident}}}`",
                                        method.name
                                    ),
                                ),
                            ));
                        }
                    }
                }
            }
            Connector::Cache(c) => env_refs.push(("url_env", &c.url_env)),
            Connector::Mq(c) => env_refs.push(("url_env", &c.url_env)),
            Connector::Grpc(_) => {}
            Connector::Config(c) => {
                for (i, value) in c.values.iter().enumerate() {
                    if !declared.contains(value.env.as_str()) {
                        diags.push(map.connector(name, &format!("values[{i}].env")).attach(
                            Diagnostic::warning(
                                "vms.undeclared-env",
                                format!("env var `{}` is not declared in vms.yaml, so deployments will not be asked for it", value.env),
                            ),
                        ));
                    }
                }
            }
        }
        for (field, var) in env_refs {
            if !declared.contains(var) {
                diags.push(map.connector(name, field).attach(Diagnostic::warning(
                    "vms.undeclared-env",
                    format!("env var `{var}` is not declared in vms.yaml, so deployments will not be asked for it"),
                )));
            }
        }
    }
}

/// The names inside `${…}` in SQL text.
fn dollar_placeholders(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].trim();
        // `${name,javaType=...}`-style options are not part of the name.
        let name = name.split(',').next().unwrap_or("").trim();
        if !name.is_empty() {
            out.push(name);
        }
        rest = &after[end + 1..];
    }
    out
}

fn check_tests(vms: &Vms, map: &VmsSourceMap, diags: &mut Vec<Diagnostic>) {
    for (function, cases) in &vms.tests {
        if !vms.functions.contains_key(function) {
            for case in cases.keys() {
                diags.push(map.test_case(function, case, "").attach(Diagnostic::error(
                    "vms.test-unknown-function",
                    format!("these tests are for function `{function}`, which does not exist (the folder name under tests/ names the function)"),
                )));
            }
            continue;
        }
        for (case_name, case) in cases {
            for target in case.mocks.keys() {
                let known = match target.split_once('.') {
                    Some((connector, method)) => vms
                        .connectors
                        .get(connector)
                        .is_some_and(|c| c.method(method).is_some()),
                    None => vms.functions.contains_key(target),
                };
                if !known {
                    diags.push(
                        map.test_case(function, case_name, &format!("mocks.{target}"))
                            .attach(Diagnostic::error(
                                "vms.mock-unknown-target",
                                format!("mock `{target}` names neither a connector method (`connector.method`) nor a function of this VMS"),
                            )),
                    );
                }
            }
            if case.output.is_some() && case.error.is_some() {
                diags.push(
                    map.test_case(function, case_name, "error")
                        .attach(Diagnostic::error(
                            "vms.test-expectation",
                            "a test case expects either an output or an error, not both",
                        )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_placeholders_are_found() {
        assert_eq!(
            dollar_placeholders("select * from ${table} order by ${ col } where a = #{a}"),
            vec!["table", "col"]
        );
        assert!(dollar_placeholders("select '${' ").is_empty());
    }

    /// The diagnostics `keep` selects of the VMS of these files, as `code: message`.
    fn diagnostics_of(files: Vec<(&str, String)>, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let files: crate::vms::disk::VmsFiles = files
            .into_iter()
            .map(|(path, text)| (path.to_owned(), text.into_bytes()))
            .collect();
        let doc = crate::vms::disk::read_vms(&files);
        assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
        validate_vms(&doc)
            .iter()
            .filter(|d| keep(&d.code))
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect()
    }

    #[test]
    fn a_vms_name_engines_refuse_is_an_error() {
        let named = |name: &str| {
            diagnostics_of(vec![("vms.yaml", format!("name: {name}\n"))], |code| {
                code == "vms.bad-vms-name"
            })
        };
        assert!(named("order-service_2").is_empty());
        assert_eq!(
            named("order.service"),
            [
                "vms.bad-vms-name: the VMS name `order.service` may use only letters, digits, `_` and `-`: engines refuse any other"
            ]
        );
    }

    fn mq_diagnostics(connector: &str, trigger: &str) -> Vec<String> {
        diagnostics_of(
            vec![
                (
                    "vms.yaml",
                    "name: events\nenv:\n- name: MQ_URL\n".to_owned(),
                ),
                (
                    "functions/handle.rhai",
                    "fn main(input, ctx) { #{} }\n".to_owned(),
                ),
                ("connectors/events.yaml", connector.to_owned()),
                (
                    "triggers.yaml",
                    format!("- kind: mq\n  function: handle\n  connector: events\n{trigger}"),
                ),
            ],
            |code| code.starts_with("vms.mq-"),
        )
    }

    #[test]
    fn mq_triggers_are_checked_for_their_broker() {
        let nats = "kind: mq\nbroker: nats\nurl_env: MQ_URL\n";
        let amqp = "kind: mq\nbroker: amqp\nurl_env: MQ_URL\n";
        let redis = "kind: mq\nbroker: redis-streams\nurl_env: MQ_URL\n";
        assert_eq!(
            mq_diagnostics(nats, "  subject: orders.created\n"),
            [
                "vms.mq-stream: no JetStream stream: set `stream` on the trigger or on connector `events`"
            ]
        );
        assert!(mq_diagnostics(nats, "  subject: orders.created\n  stream: ORDERS\n").is_empty());
        assert!(
            mq_diagnostics(
                &format!("{nats}stream: ORDERS\n"),
                "  subject: orders.created\n"
            )
            .is_empty()
        );
        assert_eq!(
            mq_diagnostics(amqp, "  subject: orders\n  stream: ORDERS\n"),
            [
                "vms.mq-stream: `stream` is for NATS JetStream; on AMQP the subscription reads the queue in `subject`"
            ]
        );
        assert!(mq_diagnostics(amqp, "  subject: orders\n  dead_letter: orders.dead\n").is_empty());
        assert_eq!(
            mq_diagnostics(redis, "  subject: orders\n  dead_letter: orders\n"),
            [
                "vms.mq-dead-letter: `dead_letter` is the stream key the subscription reads: failed messages would come back"
            ]
        );
        assert_eq!(
            mq_diagnostics(redis, "  subject: \"  \"\n"),
            ["vms.mq-subject: the subscription needs a `subject`: the stream key it reads"]
        );
    }

    #[test]
    fn amqp_names_must_fit_a_short_string() {
        let amqp = "kind: mq\nbroker: amqp\nurl_env: MQ_URL\n";
        // 239 + 16 (`.starweave-retry`) = 255 fits; the durable 246 + 9 = 255 fits.
        let fits = format!(
            "  subject: {}\n  durable: {}\n  dead_letter: {}\n",
            "q".repeat(239),
            "d".repeat(246),
            "x".repeat(255)
        );
        assert!(
            mq_diagnostics(amqp, &fits).is_empty(),
            "{:?}",
            mq_diagnostics(amqp, &fits)
        );
        let over = format!(
            "  subject: {}\n  durable: {}\n  dead_letter: {}\n",
            "q".repeat(240),
            "d".repeat(247),
            "x".repeat(256)
        );
        assert_eq!(
            mq_diagnostics(amqp, &over),
            [
                "vms.mq-name-too-long: the queue's delay queue (the queue and `.starweave-retry`) is 256 bytes; AMQP names are at most 255",
                "vms.mq-name-too-long: the dead-letter queue is 256 bytes; AMQP names are at most 255",
                "vms.mq-name-too-long: the consumer tag (the durable name, `-` and 8 characters) is 256 bytes; AMQP names are at most 255",
            ]
        );
        // Without a durable, the tag is made of the VMS's and the function's names.
        let nats = "kind: mq\nbroker: nats\nurl_env: MQ_URL\nstream: S\n";
        assert!(
            mq_diagnostics(nats, &over)
                .iter()
                .all(|d| !d.contains("too-long"))
        );
    }

    #[test]
    fn nats_subject_patterns_match_by_token() {
        assert!(nats_subject_matches("orders.dead", "orders.dead"));
        assert!(nats_subject_matches("orders.*", "orders.dead"));
        assert!(nats_subject_matches("*.dead", "orders.dead"));
        assert!(nats_subject_matches("orders.>", "orders.dead"));
        assert!(nats_subject_matches("orders.>", "orders.dead.letters"));
        assert!(nats_subject_matches(">", "orders"));
        // `*` is one token exactly, `>` at least one.
        assert!(!nats_subject_matches("orders.*", "orders.dead.letters"));
        assert!(!nats_subject_matches("orders.*", "orders"));
        assert!(!nats_subject_matches("orders.>", "orders"));
        // Tokens, not text.
        assert!(!nats_subject_matches(
            "orders.created",
            "orders.created.dead"
        ));
        assert!(!nats_subject_matches("orders.*", "ordersx.dead"));
        assert!(!nats_subject_matches("orders.>", "dead.orders"));
    }

    #[test]
    fn a_dead_letter_subject_the_nats_subscription_matches_is_refused() {
        let nats = "kind: mq\nbroker: nats\nurl_env: MQ_URL\nstream: ORDERS\n";
        let trigger = |subject: &str, dead: &str| {
            format!("  subject: \"{subject}\"\n  dead_letter: {dead}\n")
        };
        assert_eq!(
            mq_diagnostics(nats, &trigger("orders.dead", "orders.dead")),
            [
                "vms.mq-dead-letter: `dead_letter` is the subject the subscription reads: failed messages would come back"
            ]
        );
        assert_eq!(
            mq_diagnostics(nats, &trigger("orders.>", "orders.dead")),
            [
                "vms.mq-dead-letter: `dead_letter` `orders.dead` matches the subject `orders.>` the subscription reads: failed messages would come back; pick a dead-letter subject outside it"
            ]
        );
        assert_eq!(
            mq_diagnostics(nats, &trigger("*.dead", "orders.dead")),
            [
                "vms.mq-dead-letter: `dead_letter` `orders.dead` matches the subject `*.dead` the subscription reads: failed messages would come back; pick a dead-letter subject outside it"
            ]
        );
        assert!(mq_diagnostics(nats, &trigger("orders.*", "orders.dead.letters")).is_empty());
        assert!(mq_diagnostics(nats, &trigger("orders.>", "dead.orders")).is_empty());
        assert!(mq_diagnostics(nats, &trigger("orders.created", "orders.dead")).is_empty());
    }

    #[test]
    fn a_matching_dead_letter_is_reported_where_the_exact_one_is() {
        let place = |subject: &str| {
            let files: crate::vms::disk::VmsFiles = [
                ("vms.yaml", "name: events\nenv:\n- name: MQ_URL\n".to_owned()),
                ("functions/handle.rhai", "fn main(input, ctx) { #{} }\n".to_owned()),
                (
                    "connectors/events.yaml",
                    "kind: mq\nbroker: nats\nurl_env: MQ_URL\nstream: ORDERS\n".to_owned(),
                ),
                (
                    "triggers.yaml",
                    format!(
                        "- kind: mq\n  function: handle\n  connector: events\n  subject: \"{subject}\"\n  dead_letter: orders.dead\n"
                    ),
                ),
            ]
            .into_iter()
            .map(|(path, text)| (path.to_owned(), text.into_bytes()))
            .collect();
            let doc = crate::vms::disk::read_vms(&files);
            let diagnostics: Vec<_> = validate_vms(&doc)
                .into_iter()
                .filter(|d| d.code == "vms.mq-dead-letter")
                .map(|d| (d.severity, d.file, d.pos))
                .collect();
            assert_eq!(diagnostics.len(), 1, "{subject}: {diagnostics:?}");
            diagnostics[0].clone()
        };
        let exact = place("orders.dead");
        assert_eq!(exact.0, crate::diagnostic::Severity::Error);
        assert_eq!(exact.1.as_deref(), Some("triggers.yaml"));
        assert!(exact.2.is_some(), "the exact match has a position");
        assert_eq!(place("orders.>"), exact);
        assert_eq!(place("orders.*"), exact);
    }

    fn http_diagnostics(tls: &str) -> Vec<String> {
        diagnostics_of(
            vec![
                (
                    "vms.yaml",
                    "name: pay\nenv:\n- name: PAY_URL\n- name: PAY_CA\n- name: PAY_CERT\n"
                        .to_owned(),
                ),
                (
                    "connectors/pay.yaml",
                    format!("kind: http\nbase_url: \"{{{{ env.PAY_URL }}}}\"\ntls:\n{tls}"),
                ),
            ],
            |code| code.starts_with("vms.http-tls") || code == "vms.undeclared-env",
        )
    }

    #[test]
    fn http_tls_settings_are_checked() {
        assert!(http_diagnostics("  ca_env: PAY_CA\n").is_empty());
        assert_eq!(
            http_diagnostics("  client_cert_env: PAY_CERT\n"),
            [
                "vms.http-tls-incomplete: `tls.client_cert_env` needs `tls.client_key_env`: a client certificate is presented with its private key"
            ]
        );
        assert_eq!(
            http_diagnostics("  client_cert_env: PAY_CERT\n  client_key_env: PAY_KEY\n"),
            [
                "vms.undeclared-env: env var `PAY_KEY` is not declared in vms.yaml, so deployments will not be asked for it"
            ]
        );
    }

    fn retry_diagnostics(retry: &str) -> Vec<String> {
        diagnostics_of(
            vec![
                ("vms.yaml", "name: pay\n".to_owned()),
                (
                    "connectors/pay.yaml",
                    format!("kind: http\nbase_url: http://127.0.0.1:9\nretry:\n{retry}"),
                ),
            ],
            |code| code == "vms.http-retry",
        )
    }

    #[test]
    fn http_retry_policies_are_bounded() {
        assert!(retry_diagnostics("  max_attempts: 3\n").is_empty());
        assert!(
            retry_diagnostics(
                "  max_attempts: 10\n  backoff: { initial_ms: 100, max_ms: 100, multiplier: 1 }\n"
            )
            .is_empty()
        );
        assert_eq!(
            retry_diagnostics("  max_attempts: 0\n"),
            [
                "vms.http-retry: `max_attempts` is 0: it counts the first attempt too, from 1 (no retry) to 10"
            ]
        );
        assert_eq!(
            retry_diagnostics(
                "  max_attempts: 1000\n  backoff: { initial_ms: 500, max_ms: 50, multiplier: 0.5 }\n"
            ),
            [
                "vms.http-retry: `max_attempts` is 1000: it counts the first attempt too, from 1 (no retry) to 10",
                "vms.http-retry: `backoff.multiplier` is 0.5: waits grow by a factor from 1 to 10",
                "vms.http-retry: `backoff.max_ms` (50) is below `backoff.initial_ms` (500): the longest wait cannot be shorter than the first"
            ]
        );
    }

    fn sql_diagnostics(identifiers: &str) -> Vec<String> {
        diagnostics_of(
            vec![
                ("vms.yaml", "name: db\nenv:\n- name: DB_URL\n".to_owned()),
                (
                    "connectors/db.yaml",
                    format!(
                        "kind: database\ndriver: sqlite\nurl_env: DB_URL\nmethods:\n- name: list\n  sql: |\n    SELECT * FROM ${{table}} WHERE id = #{{id}}\n{identifiers}"
                    ),
                ),
            ],
            |code| code == "vms.sql-unsafe-substitution",
        )
    }

    #[test]
    fn sql_substitutions_need_a_non_empty_allow_list() {
        let unsafe_table = "vms.sql-unsafe-substitution: `${table}` in method `list` pastes text into SQL; declare the identifiers it may take under `identifiers.table`, or bind a value with `#{table}`";
        assert_eq!(sql_diagnostics(""), [unsafe_table]);
        assert_eq!(
            sql_diagnostics("  identifiers:\n    table: []\n"),
            [unsafe_table]
        );
        assert_eq!(
            sql_diagnostics("  identifiers:\n    other: [orders]\n"),
            [unsafe_table]
        );
        assert!(
            sql_diagnostics("  identifiers:\n    table: [orders, archive.orders]\n").is_empty()
        );
    }

    #[test]
    fn route_shapes_ignore_parameter_names() {
        assert_eq!(route_shape("/users/{id}/x"), route_shape("/users/{user}/x"));
        assert_ne!(route_shape("/users/{id}"), route_shape("/users/me"));
    }
}

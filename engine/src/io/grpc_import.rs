//! gRPC connector methods from the connector's descriptor set: what services and methods it
//! describes ([`list_services`]), and methods whose input and output parameters are the
//! request and response messages' fields ([`import_methods`]) — what the IDE's "Import
//! methods" does, like the OpenAPI import for HTTP connectors.
//!
//! Parameters follow the JSON the connector exchanges (`io::grpc`): proto field names
//! (`snake_case`), enums by value name, 64-bit integers as numbers, `bytes` as base64 text.
//! The well-known types map to what their JSON is: `Timestamp` a `date-time` string,
//! `Duration` and `FieldMask` strings, wrappers their primitive (nullable), `Struct` an object,
//! `ListValue` an array, `Value` anything. A message that contains itself is described once:
//! where it recurs, it is an object without fields (as is anything nested deeper than
//! [`MAX_DEPTH`]). proto3 has no required fields, so no parameter is required, and a
//! singular message field is nullable (unset).

pub use prost_reflect::DescriptorPool;
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use serde::Serialize;
use serde_json::Value;
use starweave_model::vms::connector::{GrpcConnector, GrpcMethod};
use starweave_model::vms::params::{ParamType, Parameter};

/// How deep nested messages are described.
pub const MAX_DEPTH: usize = 8;

/// One service of a descriptor set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceInfo {
    /// `package.Service`.
    pub name: String,
    /// Its methods, in declaration order.
    pub methods: Vec<MethodInfo>,
}

/// One method of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodInfo {
    /// `package.Service/Method`, as a connector method's `method` names it.
    pub method: String,
    /// The request message, `package.Message`.
    pub input_type: String,
    /// The response message.
    pub output_type: String,
    /// A streaming method (client, server or both): connectors call unary methods only.
    pub streaming: bool,
}

/// Decodes a descriptor set (`protoc --descriptor_set_out`, `buf build -o`).
pub fn decode(bytes: &[u8]) -> Result<DescriptorPool, String> {
    DescriptorPool::decode(bytes).map_err(|e| format!("not a valid FileDescriptorSet: {e}"))
}

fn full_name(method: &MethodDescriptor) -> String {
    format!("{}/{}", method.parent_service().full_name(), method.name())
}

/// Every service and method the descriptor set describes, sorted by service name.
pub fn list_services(pool: &DescriptorPool) -> Vec<ServiceInfo> {
    let mut services: Vec<ServiceInfo> = pool
        .services()
        .map(|service| ServiceInfo {
            name: service.full_name().to_owned(),
            methods: service
                .methods()
                .map(|m| MethodInfo {
                    method: full_name(&m),
                    input_type: m.input().full_name().to_owned(),
                    output_type: m.output().full_name().to_owned(),
                    streaming: m.is_client_streaming() || m.is_server_streaming(),
                })
                .collect(),
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    services
}

/// What [`import_methods`] did.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ImportReport {
    /// Connector method names added.
    pub added: Vec<String>,
    /// Connector method names whose parameters were replaced (their name, description and
    /// metadata stay).
    pub updated: Vec<String>,
}

/// Adds to `connector` a method for each of `methods` (`package.Service/Method`; every unary
/// method of the descriptor set when `None`), or refreshes the parameters of the method that
/// calls it already. New methods are named after the gRPC method in lower camel case
/// (`SayHello` → `sayHello`), with a number added when that name is taken.
pub fn import_methods(
    connector: &mut GrpcConnector,
    pool: &DescriptorPool,
    methods: Option<&[String]>,
) -> Result<ImportReport, String> {
    let chosen: Vec<MethodDescriptor> = match methods {
        None => pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .filter(|m| !m.is_client_streaming() && !m.is_server_streaming())
            .collect(),
        Some(names) => names
            .iter()
            .map(|name| super::grpc::find_method(pool, name.trim_start_matches('/')))
            .collect::<Result<_, _>>()?,
    };
    if chosen.is_empty() {
        return Err("the descriptor set has no unary method to import".into());
    }
    let mut report = ImportReport::default();
    for method in chosen {
        let full = full_name(&method);
        let input = message_params(&method.input(), &mut Vec::new());
        let output = message_params(&method.output(), &mut Vec::new());
        if let Some(existing) = connector
            .methods
            .iter_mut()
            .find(|m| m.method.trim_start_matches('/') == full)
        {
            existing.input = input;
            existing.output = output;
            report.updated.push(existing.name.clone());
            continue;
        }
        let base = lower_camel(method.name());
        let mut name = base.clone();
        let mut n = 2;
        while connector.methods.iter().any(|m| m.name == name) {
            name = format!("{base}{n}");
            n += 1;
        }
        connector.methods.push(GrpcMethod {
            name: name.clone(),
            method: full,
            input,
            output,
            ..GrpcMethod::default()
        });
        report.added.push(name);
    }
    Ok(report)
}

/// `SayHello` → `sayHello`; `URLFetch` → `uRLFetch` is avoided: a leading run of capitals
/// is lowered up to the last one (`urlFetch`).
fn lower_camel(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let upper_run = chars.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let lower = match upper_run {
        0 => 0,
        n if n == chars.len() => n,
        1 => 1,
        n => n - 1,
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < lower {
                c.to_ascii_lowercase()
            } else {
                *c
            }
        })
        .collect()
}

/// The fields of a message as parameters; `path` holds the messages being described around
/// it.
fn message_params(message: &MessageDescriptor, path: &mut Vec<String>) -> Vec<Parameter> {
    path.push(message.full_name().to_owned());
    let params = message
        .fields()
        .map(|field| {
            let mut param = field_param(&field, path);
            param.name = field.name().to_owned();
            param
        })
        .collect();
    path.pop();
    params
}

fn field_param(field: &FieldDescriptor, path: &mut Vec<String>) -> Parameter {
    if field.is_map() {
        let mut map = Parameter::new("", ParamType::Object);
        map.description = Some("a map: any keys".into());
        return map;
    }
    let mut element = kind_param(&field.kind(), path);
    if field.cardinality() == Cardinality::Repeated {
        let mut list = Parameter::new("", ParamType::Array);
        list.items = Some(Box::new(element));
        list
    } else {
        // A singular message field can be unset, which its JSON shows as `null`.
        if matches!(field.kind(), Kind::Message(_)) {
            element.nullable = true;
        }
        element
    }
}

fn kind_param(kind: &Kind, path: &mut Vec<String>) -> Parameter {
    let ty = match kind {
        Kind::Double | Kind::Float => ParamType::Number,
        Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Fixed32
        | Kind::Fixed64
        | Kind::Sfixed32
        | Kind::Sfixed64 => ParamType::Integer,
        Kind::Bool => ParamType::Boolean,
        Kind::String => ParamType::String,
        Kind::Bytes => {
            let mut p = Parameter::new("", ParamType::String);
            p.format = Some("byte".into());
            return p;
        }
        Kind::Enum(e) => {
            let mut p = Parameter::new("", ParamType::String);
            p.enum_values = e
                .values()
                .map(|v| Value::String(v.name().to_owned()))
                .collect();
            return p;
        }
        Kind::Message(m) => return message_param(m, path),
    };
    Parameter::new("", ty)
}

fn message_param(message: &MessageDescriptor, path: &mut Vec<String>) -> Parameter {
    let primitive = |ty: ParamType| {
        let mut p = Parameter::new("", ty);
        p.nullable = true;
        p
    };
    match message.full_name() {
        "google.protobuf.Timestamp" => {
            let mut p = Parameter::new("", ParamType::String);
            p.format = Some("date-time".into());
            p
        }
        "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
            Parameter::new("", ParamType::String)
        }
        "google.protobuf.StringValue" => primitive(ParamType::String),
        "google.protobuf.BytesValue" => {
            let mut p = primitive(ParamType::String);
            p.format = Some("byte".into());
            p
        }
        "google.protobuf.BoolValue" => primitive(ParamType::Boolean),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            primitive(ParamType::Number)
        }
        "google.protobuf.Int32Value"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.UInt64Value" => primitive(ParamType::Integer),
        "google.protobuf.Struct" | "google.protobuf.Any" => Parameter::new("", ParamType::Object),
        "google.protobuf.ListValue" => Parameter::new("", ParamType::Array),
        "google.protobuf.Value" => Parameter::new("", ParamType::Any),
        _ => {
            let mut p = Parameter::new("", ParamType::Object);
            let recurs = path.iter().any(|m| m == message.full_name());
            if !recurs && path.len() < MAX_DEPTH {
                p.fields = message_params(message, path);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lower_camel;

    #[test]
    fn method_names_in_lower_camel_case() {
        for (from, to) in [
            ("SayHello", "sayHello"),
            ("URLFetch", "urlFetch"),
            ("Get", "get"),
            ("ID", "id"),
            ("already", "already"),
            ("", ""),
        ] {
            assert_eq!(lower_camel(from), to, "{from}");
        }
    }
}

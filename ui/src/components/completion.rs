//! What the editors complete: expression built-ins, env vars, connector methods and
//! functions of the open VMS, and a TypeScript declaration of `ctx` for JavaScript.

use serde_json::{Value, json};
use starweave_model::vms::{ParamType, Parameter};

use crate::api::{BuiltinInfo, VmsDetail};

/// The data the Rhai/YAML/SQL completion provider reads.
pub fn completion_data(detail: &VmsDetail, builtins: &[BuiltinInfo]) -> Value {
    json!({
        "builtins": builtins,
        "env": detail.env.iter().map(|e| json!({
            "name": e.name,
            "detail": format!("env var ({}){}", if e.ty.is_empty() { "string" } else { &e.ty }, if e.secret { ", secret" } else { "" }),
        })).collect::<Vec<_>>(),
        "connectors": detail.connectors.iter().map(|c| json!({
            "name": c.name,
            "methods": c.methods.iter().map(|m| json!({
                "name": m.name,
                "detail": format!("{} method ({}) → ({})", c.kind, names(&m.input), names(&m.output)),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "functions": detail.functions.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
    })
}

fn names(params: &[Parameter]) -> String {
    params
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TypeScript type for a parameter list (an object type with one member per parameter).
pub fn ts_type(params: &[Parameter]) -> String {
    if params.is_empty() {
        return "any".into();
    }
    let members: Vec<String> = params
        .iter()
        .map(|p| {
            format!(
                "{}{}: {}",
                ts_name(&p.name),
                if p.required { "" } else { "?" },
                ts_param(p)
            )
        })
        .collect();
    format!("{{ {} }}", members.join("; "))
}

fn ts_name(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

fn ts_param(p: &Parameter) -> String {
    match p.ty {
        ParamType::String => "string".into(),
        ParamType::Integer | ParamType::Number => "number".into(),
        ParamType::Boolean => "boolean".into(),
        ParamType::Object => ts_type(&p.fields),
        ParamType::Array => format!(
            "Array<{}>",
            p.items
                .as_deref()
                .map(ts_param)
                .unwrap_or_else(|| "any".into())
        ),
        ParamType::Any => "any".into(),
    }
}

/// A declaration of `ctx` built from the VMS detail, used when the server offers none.
pub fn ctx_dts(detail: &VmsDetail) -> String {
    let mut out = String::from("/** Starweave function context. */\ndeclare const ctx: {\n");
    out.push_str("  /** The deployment's env vars. */\n  env: {\n");
    for e in &detail.env {
        // Env values reach code as strings, whatever their declared type.
        let doc = e
            .description
            .as_deref()
            .unwrap_or("env var")
            .replace("*/", "");
        out.push_str(&format!(
            "    /** {doc} */\n    {}: string;\n",
            ts_name(&e.name)
        ));
    }
    out.push_str("  };\n  /** Connectors of the VMS, each method returns a promise of its output. */\n  connectors: {\n");
    for c in &detail.connectors {
        out.push_str(&format!("    {}: {{\n", ts_name(&c.name)));
        for m in &c.methods {
            out.push_str(&format!(
                "      /** {} method of `{}`. */\n      {}(input: {}): Promise<{}>;\n",
                c.kind,
                c.name,
                ts_name(&m.name),
                ts_type(&m.input),
                ts_type(&m.output)
            ));
        }
        out.push_str("    };\n");
    }
    out.push_str("  };\n  /** Calls another function of the VMS. */\n  call(name: string, input?: any): Promise<any>;\n");
    out.push_str("  /** Log lines of the run. */\n  log: { info(...args: any[]): void; warn(...args: any[]): void; error(...args: any[]): void; debug(...args: any[]): void };\n};\n");
    out
}

//! Builds arbitrary VMS files the way a deploy does, without loading anything: reading,
//! validating, compiling the functions and the load checks (connector templates, SQL,
//! gRPC descriptor sets, routes) must never panic, and neither may rendering each SQL
//! method's dynamic SQL for a sample input.
//!
//! The input is files separated by 0xFF bytes (never part of UTF-8 text); each is its path
//! relative to the VMS, a newline, and its content. `cargo xtask fuzz vms_check` seeds the
//! corpus with the examples written this way.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use starweave_engine::compile::{Scripting, compile_vms};
use starweave_engine::io::dynsql::{Placeholder, SqlTemplate};
use starweave_engine::server::check::load_diagnostics;
use starweave_model::validate::validate_vms;
use starweave_model::vms::{Connector, VmsFiles, read_vms};

fn scripting() -> &'static Scripting {
    static SCRIPTING: OnceLock<Scripting> = OnceLock::new();
    SCRIPTING.get_or_init(Scripting::default)
}

fuzz_target!(|data: &[u8]| {
    let mut files = VmsFiles::new();
    for part in data.split(|b| *b == 0xff).take(32) {
        let Some(newline) = part.iter().position(|b| *b == b'\n') else {
            continue;
        };
        let Ok(path) = std::str::from_utf8(&part[..newline]) else {
            continue;
        };
        files.insert(path.to_owned(), part[newline + 1..].to_vec());
    }
    files
        .entry("vms.yaml".to_owned())
        .or_insert_with(|| b"name: fuzz\n".to_vec());
    let doc = read_vms(&files);
    validate_vms(&doc);
    compile_vms(&doc.vms, scripting());
    load_diagnostics(&doc, &files, scripting());

    let input = json!({
        "id": 7, "name": "x'; DROP TABLE t; --", "ids": [1, 2, 3], "warehouseId": null,
        "items": [{ "sku": "a", "quantity": 2 }], "flag": true, "filter": { "status": "OPEN" },
    });
    for connector in doc.vms.connectors.values() {
        let Connector::Database(db) = connector else {
            continue;
        };
        for method in &db.methods {
            let (template, _) = SqlTemplate::parse(&method.sql);
            for placeholder in [Placeholder::Dollar, Placeholder::Question] {
                let _ = template.render(&input, placeholder, &method.identifiers);
                let _ = template.render(&json!({}), placeholder, &method.identifiers);
            }
        }
    }
});

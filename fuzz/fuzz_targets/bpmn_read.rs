//! Reads arbitrary bytes as BPMN: the reader must never panic, and whatever it reads
//! without errors must survive write → read unchanged, with idempotent output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starweave_model::bpmn::{read_bpmn, read_bpmn_bytes, write_bpmn};

fuzz_target!(|data: &[u8]| {
    let first = read_bpmn_bytes(data);
    if first.has_errors() {
        return;
    }
    let written = write_bpmn(&first.definitions);
    let second = read_bpmn(&written);
    assert!(
        !second.has_errors(),
        "re-reading the export failed: {:?}\n{written}",
        second.diagnostics
    );
    assert_eq!(
        first.definitions, second.definitions,
        "export → import changed the model:\n{written}"
    );
    assert_eq!(
        write_bpmn(&second.definitions),
        written,
        "export is not idempotent"
    );
});

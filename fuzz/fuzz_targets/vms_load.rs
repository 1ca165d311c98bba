//! Loads arbitrary bytes as a VMS directory: the loader must never panic, and a VMS it loads
//! without errors must survive save → load unchanged, with stable output.
//!
//! The input is split at 0xFF bytes (never part of UTF-8 text) into the files below, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starweave_model::vms::disk::check_file;
use starweave_model::vms::params::params_from_csv;
use starweave_model::vms::{VmsFiles, read_vms, write_vms};

const NAMES: [&str; 8] = [
    "vms.yaml",
    "triggers.yaml",
    "connectors/a.yaml",
    "functions/f.yaml",
    "tests/f/a.yaml",
    "functions/f.js",
    "connectors/b.yaml",
    ".env.local",
];

fuzz_target!(|data: &[u8]| {
    let mut files = VmsFiles::new();
    for (name, part) in NAMES.iter().zip(data.split(|b| *b == 0xff)) {
        files.insert((*name).to_owned(), part.to_vec());
    }
    for (path, bytes) in &files {
        check_file(path, bytes);
    }
    // The CSV view of parameters reads user text too.
    params_from_csv(&String::from_utf8_lossy(data));

    let first = read_vms(&files);
    if first.has_errors() {
        return;
    }
    let saved = write_vms(&first.vms);
    let second = read_vms(&saved);
    assert!(
        !second.has_errors(),
        "re-reading the saved VMS failed: {:?}",
        second.diagnostics
    );
    assert_eq!(first.vms, second.vms, "save → load changed the model");
    assert_eq!(write_vms(&second.vms), saved, "saving is not stable");
});

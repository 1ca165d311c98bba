//! Writes the SVG export of every diagram of a BPMN file next to it (or into a folder):
//! `cargo run -p starweave-diagram --example bpmn_to_svg -- file.bpmn [out-dir] [--layout]`.
//! With `--layout`, the file's DI is dropped and the model is laid out automatically first.

use std::path::PathBuf;

use starweave_diagram::{auto_layout, diagram_names, export_svg};
use starweave_model::bpmn::read_bpmn_bytes;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let layout = args.iter().any(|a| a == "--layout");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(input) = paths.first() else {
        eprintln!("usage: bpmn_to_svg FILE.bpmn [OUT_DIR] [--layout]");
        std::process::exit(2);
    };
    let input = PathBuf::from(input);
    let bytes = std::fs::read(&input).unwrap_or_else(|e| {
        eprintln!("{}: {e}", input.display());
        std::process::exit(1);
    });
    let mut defs = read_bpmn_bytes(&bytes).definitions;
    if layout {
        defs.diagrams.clear();
        auto_layout(&mut defs);
    }
    let out_dir = paths
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| input.parent().map(PathBuf::from).unwrap_or_default());
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("diagram");
    for (i, name) in diagram_names(&defs).iter().enumerate() {
        let out = out_dir.join(format!("{stem}.{i}.svg"));
        if let Err(e) = std::fs::write(&out, export_svg(&defs, i)) {
            eprintln!("{}: {e}", out.display());
            std::process::exit(1);
        }
        println!("{name} → {}", out.display());
    }
}

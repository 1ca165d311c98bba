//! Fixed-count import + validate loop over one BPMN file, for instruction-count profiling
//! (`valgrind --tool=callgrind`), where criterion's time-based loop would vary the count.
//!
//! `cargo run --release -p starweave-model --example bpmn_profile -- <file.bpmn> [iterations] [tokenize]`
//!
//! With `tokenize`, runs the bench's baseline instead: a bare quick-xml pass over the bytes.

use starweave_model::{bpmn, validate};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: bpmn_profile <file.bpmn> [iterations]");
    let iterations: usize = args.next().map_or(1, |n| n.parse().expect("a count"));
    let text = std::fs::read_to_string(&path).expect("a readable UTF-8 file");
    if args.next().as_deref() == Some("tokenize") {
        let mut events = 0;
        for _ in 0..iterations {
            let mut reader = quick_xml::Reader::from_str(std::hint::black_box(&text));
            while let Ok(event) = reader.read_event() {
                if matches!(event, quick_xml::events::Event::Eof) {
                    break;
                }
                events += 1;
            }
        }
        println!("{iterations} iterations, {events} events");
        return;
    }
    let mut diagnostics = 0;
    for _ in 0..iterations {
        let doc = bpmn::read_bpmn(std::hint::black_box(&text));
        diagnostics += validate::validate_bpmn(&doc).len() + doc.diagnostics.len();
    }
    println!("{iterations} iterations, {diagnostics} diagnostics");
}

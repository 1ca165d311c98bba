//! Import + validate of the largest MIWG reference model, against a baseline in the same run:
//! a bare quick-xml pass over the same bytes (tokenise only, no model), the floor any reader pays.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use quick_xml::{Reader, events::Event};
use starweave_model::{bpmn, validate};

fn largest_miwg_file() -> (String, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bpmn-miwg");
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    for sub in ["reference", "bpmn-io-18.6.1"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("the MIWG corpus is in testdata") {
            let path = entry.expect("readable directory").path();
            if path.extension().is_some_and(|e| e == "bpmn") {
                let len = path.metadata().expect("readable file").len();
                if best.as_ref().is_none_or(|(l, _)| len > *l) {
                    best = Some((len, path));
                }
            }
        }
    }
    let (_, path) = best.expect("the corpus has .bpmn files");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    (name, std::fs::read_to_string(&path).expect("UTF-8 BPMN"))
}

fn tokenize_only(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => events += 1,
        }
    }
    events
}

fn bench(c: &mut Criterion) {
    let (name, text) = largest_miwg_file();
    let mut group = c.benchmark_group(format!("bpmn/{name} ({} KB)", text.len() / 1024));
    group.bench_function("baseline: quick-xml tokenise only", |b| {
        b.iter(|| tokenize_only(std::hint::black_box(&text)))
    });
    group.bench_function("import", |b| {
        b.iter(|| bpmn::read_bpmn(std::hint::black_box(&text)))
    });
    group.bench_function("import + validate", |b| {
        b.iter(|| {
            let doc = bpmn::read_bpmn(std::hint::black_box(&text));
            let diags = validate::validate_bpmn(&doc);
            (doc, diags)
        })
    });
    let doc = bpmn::read_bpmn(&text);
    group.bench_function("export", |b| {
        b.iter(|| bpmn::write_bpmn(std::hint::black_box(&doc.definitions)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

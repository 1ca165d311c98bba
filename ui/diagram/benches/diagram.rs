//! Diagram operations on a generated 300-node process, each next to the cost of cloning the
//! model (the floor every edit with a snapshot history pays) in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use starweave_diagram::{
    PaletteKind, append, auto_layout, export_svg, generate_process, move_nodes, scene,
};

fn diagram_300(c: &mut Criterion) {
    let defs = generate_process(300);
    let sc = scene(&defs, 0);
    let node = sc.nodes[sc.nodes.len() / 2].id.clone();
    let mut g = c.benchmark_group("diagram-300");
    g.bench_function("baseline: clone the model", |b| {
        b.iter(|| black_box(defs.clone()))
    });
    g.bench_function("scene", |b| b.iter(|| black_box(scene(&defs, 0))));
    g.bench_function("export_svg", |b| b.iter(|| black_box(export_svg(&defs, 0))));
    g.bench_function("move_nodes (clone + move)", |b| {
        b.iter(|| {
            let mut d = defs.clone();
            move_nodes(&mut d, 0, std::slice::from_ref(&node), 10.0, 10.0);
            black_box(d)
        })
    });
    g.bench_function("append (clone + append)", |b| {
        b.iter(|| {
            let mut d = defs.clone();
            black_box(append(&mut d, 0, &node, PaletteKind::Task).ok());
            black_box(d)
        })
    });
    g.bench_function("auto_layout (clone + layout)", |b| {
        let mut stripped = defs.clone();
        stripped.diagrams.clear();
        b.iter(|| {
            let mut d = stripped.clone();
            auto_layout(&mut d);
            black_box(d)
        })
    });
    g.finish();
}

criterion_group!(benches, diagram_300);
criterion_main!(benches);

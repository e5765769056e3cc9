//! Pipeline benches: being written (see benches/conn.rs and benches/sched.rs
//! for the per-stage benches that exist).

use criterion::{criterion_group, criterion_main, Criterion};

fn frame_parse(c: &mut Criterion) {
    let frame = [0u8; 64];
    c.bench_function("frame_window", |b| {
        b.iter(|| {
            let mut buf = dataplane::frame::FrameBuf::with_default_room(&frame);
            buf.with_frame(|f| f.len())
        })
    });
}

criterion_group!(benches, frame_parse);
criterion_main!(benches);

//! Hot path: page JSON to an Arrow `RecordBatch` (one Parser's work), for the page sizes the
//! listings use: 100 (v1 scroll) and 150 (v2 cursor). Inputs are generated pages; throughput in
//! records (the JSON bytes a group decodes are printed alongside).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use intercom_dump::schema::PageDecoder;
use intercom_sim::Workspace;

/// One parse group: the pages that make a batch of about 4,096 rows.
fn pages(ws: &Workspace, per_page: u64) -> Vec<Vec<u8>> {
    (0..4_096 / per_page)
        .map(|p| {
            let mut page = Vec::new();
            ws.write_contacts_json(p * per_page, (p + 1) * per_page, &mut page);
            page
        })
        .collect()
}

fn parse(c: &mut Criterion) {
    let ws = Workspace::new(42, 10_000);
    let mut group = c.benchmark_group("parse");
    for per_page in [100u64, 150] {
        let pages = pages(&ws, per_page);
        let rows = (pages.len() as u64) * per_page;
        let bytes: usize = pages.iter().map(Vec::len).sum();
        eprintln!("parse/{per_page}: {} pages, {rows} rows, {:.1} MB of JSON a group", pages.len(), bytes as f64 / 1e6);
        group.throughput(Throughput::Elements(rows));
        group.bench_with_input(BenchmarkId::new("contacts_v2_per_page", per_page), &pages, |b, pages| {
            let mut decoder = PageDecoder::contacts_v2(4_096 + 150);
            b.iter(|| decoder.decode(pages.iter().map(Vec::as_slice)).expect("generated pages decode"))
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);

//! Hot path: `RecordBatch` to files (the Writer's work): Parquet with zstd, snappy or no
//! compression, and Arrow IPC. Input: 40,960 distinct generated contacts decoded once, in
//! batches of 4,096 (the same batch written ten times would flatter the encoders); throughput
//! in rows.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use intercom_dump::config::{Compression, FileFormat, OutputConfig};
use intercom_dump::schema::PageDecoder;
use intercom_dump::sink::RollingWriter;
use intercom_sim::Workspace;

fn write(c: &mut Criterion) {
    let ws = Workspace::new(42, 40_960);
    let mut decoder = PageDecoder::contacts_v2(8_192);
    let batches: Vec<_> = (0..10u64)
        .map(|b| {
            let mut json = Vec::new();
            ws.write_contacts_json(b * 4_096, (b + 1) * 4_096, &mut json);
            decoder.decode([json.as_slice()]).expect("generated contacts decode")
        })
        .collect();
    let schema = Arc::clone(decoder.schema());
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(batches.iter().map(|b| b.num_rows() as u64).sum()));
    let cases = [
        ("parquet_zstd1", FileFormat::Parquet, Compression::Zstd(1)),
        ("parquet_snappy", FileFormat::Parquet, Compression::Snappy),
        ("parquet_none", FileFormat::Parquet, Compression::None),
        ("arrow_ipc", FileFormat::Arrow, Compression::None),
    ];
    for (name, format, compression) in cases {
        let mut config = OutputConfig::new(dir.path());
        config.compression = compression;
        group.bench_function(BenchmarkId::new("40960_rows", name), |b| {
            b.iter(|| {
                // Ten batches into one part, closed: what a part of 40,960 rows costs.
                let mut writer = RollingWriter::new(&dir.path().join(name), schema.clone(), format, &config).unwrap();
                for batch in &batches {
                    writer.write(batch).unwrap();
                }
                writer.finish().unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, write);
criterion_main!(benches);

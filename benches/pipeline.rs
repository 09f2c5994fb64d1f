//! The whole pipeline: a dump of 200,000 v2 contacts from the in-process simulator (serving
//! records it rendered beforehand, so that it takes little of the machine), actors and all,
//! into Parquet. Throughput in contacts.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use intercom_dump::config::{ApiConfig, Config, OutputConfig, Token};
use intercom_dump::progress::Progress;
use intercom_dump::run_dump;
use intercom_sim::{Prerender, RecordShape, SimConfig, SimHandle};

const CONTACTS: u64 = 200_000;

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let rendered = tempfile::tempdir().expect("a temp dir");
    let mut sim_config = SimConfig::new(42, CONTACTS, "bench-token");
    sim_config.limit_per_window = u32::MAX;
    sim_config.prerender = Some(Prerender::new(rendered.path(), vec![RecordShape::ContactV2]));
    let sim = SimHandle::spawn(sim_config, 0).expect("the simulator starts");
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10).measurement_time(Duration::from_secs(40)).throughput(Throughput::Elements(CONTACTS));
    group.bench_function("dump_200k_contacts_cursor_parquet", |b| {
        b.iter(|| {
            let api = ApiConfig::new(&sim.base_url(), Token::new("bench-token").unwrap(), false).unwrap();
            let mut output = OutputConfig::new(dir.path());
            output.overwrite = true;
            let mut config = Config::new(api, output);
            config.api.rate_limit_per_minute = u32::MAX / 2;
            let summary = run_dump(config, Arc::new(Progress::default())).expect("the dump succeeds");
            assert_eq!(summary.records, CONTACTS);
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

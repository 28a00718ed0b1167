//! The whole default run: every style × feature of matrix/azure-openai.yaml with the
//! rust driver, the replica's start-up included. Target: well under 1 s on 2 cores.

use criterion::{criterion_group, criterion_main, Criterion};
use hh_compat::matrix;
use hh_compat::runner::{self, RunOptions};
use hh_compat::vocab::{DriverKind, Provider};
use std::time::Duration;

fn default_run(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let m = matrix::load_file(&matrix::default_matrix_path(Provider::AzureOpenAi)).expect("matrix");
    let mut group = c.benchmark_group("run");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("azure-openai default matrix (18 cells)", |b| {
        b.to_async(&runtime).iter(|| async {
            let results = runner::run(
                &m,
                "matrix/azure-openai.yaml",
                rust_cells(&m),
                &RunOptions::default(),
                |_| {},
            )
            .await
            .expect("run");
            assert_eq!(results.summary.pass, results.summary.total);
        })
    });
    group.finish();
}

/// The default run's cells: the rust reference driver only.
fn rust_cells(m: &matrix::Matrix) -> Vec<matrix::Cell> {
    m.cells()
        .into_iter()
        .filter(|c| c.driver == DriverKind::Rust)
        .collect()
}

criterion_group!(benches, default_run);
criterion_main!(benches);

//! Snapshots of the normalized spans every style × feature of the shipped Azure matrix
//! produces end to end (rust driver → replica → reference emitter). Any change in an
//! emitter's output, or in what the replica answers, shows up as a reviewable diff.
//! Ids are per-cell ordinals and timings are zeroed, so the snapshots are stable.

use hh_compat::matrix;
use hh_compat::report::CellStatus;
use hh_compat::runner::{self, RunOptions};
use hh_compat::vocab::{DriverKind, Feature, Provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_every_cell() {
    let path = matrix::default_matrix_path(Provider::AzureOpenAi);
    let m = matrix::load_file(&path).expect("the shipped matrix loads");
    let cells: Vec<_> = m
        .cells()
        .into_iter()
        .filter(|c| c.driver == DriverKind::Rust)
        .collect();
    let mut results = runner::run(
        &m,
        "matrix/azure-openai.yaml",
        cells,
        &RunOptions::default(),
        |_| {},
    )
    .await
    .expect("the run starts");
    results.stabilize();
    assert_eq!(results.cells.len(), 45);
    // async-openai has no raw-response API: those cells are skipped, with nothing to snapshot.
    let (skipped, ran): (Vec<_>, Vec<_>) = results
        .cells
        .iter()
        .partition(|c| c.status == CellStatus::Skip);
    assert!(
        skipped.len() == 3 && skipped.iter().all(|c| c.feature == Feature::RawResponse),
        "skipped: {:?}",
        skipped.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    for cell in ran {
        let name = format!("run__{}__{}", cell.style, cell.feature);
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            description => cell.id.clone(),
        }, {
            insta::assert_json_snapshot!(name, cell.spans);
        });
    }
}

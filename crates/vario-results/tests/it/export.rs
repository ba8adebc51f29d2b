//! Exports: conversions with their attributed variation, the per-visitor table, CSV and
//! Parquet.

use vario_results::export::{Format, export_events};
use vario_results::{Engine, ResultsRequest, find_config};

use crate::support::{T0, data_dir, decision, purchase};

#[test]
fn csv_export_marks_which_conversions_count_and_for_which_variation() {
    let dir = data_dir(&[vec![
        purchase("u1", T0 - 1, None, None),
        decision("u1", "40012", T0),
        purchase("u1", T0 + 1, Some(250), Some(2.5)),
        purchase("stranger", T0 + 1, None, None),
    ]]);
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    let req = ResultsRequest::new("ab_exp");
    let attribution = Engine::new(dir.path()).attribute(&config, &req, &|_| {}).unwrap();
    let out = tempfile::tempdir().unwrap();
    let files = export_events(dir.path(), &attribution, &req, Format::Csv, out.path()).unwrap();
    assert_eq!(files.len(), 2);
    let conversions = std::fs::read_to_string(out.path().join("conversions.csv")).unwrap();
    let mut rows: Vec<&str> = conversions.lines().skip(1).collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        vec![
            format!("stranger,purchase,{},,,false,", T0 + 1),
            format!("u1,purchase,{},,,false,", T0 - 1),
            format!("u1,purchase,{},250,2.5,true,treatment", T0 + 1),
        ]
    );
    let visitors = std::fs::read_to_string(out.path().join("visitors.csv")).unwrap();
    assert_eq!(
        visitors,
        format!(
            "visitor_id,variation_key,first_decision,multiple_exposures,in_segment,purchase_conversions,purchase_revenue,purchase_value\n\
             u1,treatment,{T0},false,true,1,250,2.5\n"
        )
    );
}

#[test]
fn parquet_export_reads_back_with_the_same_rows() {
    let dir = data_dir(&[vec![decision("u1", "40011", T0), purchase("u1", T0 + 1, Some(5), None)]]);
    let config = find_config(dir.path(), "ab_exp", None, None).unwrap();
    let req = ResultsRequest::new("ab_exp");
    let attribution = Engine::new(dir.path()).attribute(&config, &req, &|_| {}).unwrap();
    let out = tempfile::tempdir().unwrap();
    export_events(dir.path(), &attribution, &req, Format::Parquet, out.path()).unwrap();
    let file = std::fs::File::open(out.path().join("visitors.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 1);
    let file = std::fs::File::open(out.path().join("conversions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 1);
}

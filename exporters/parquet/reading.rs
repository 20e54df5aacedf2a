//! Reading the files back, for the unit tests and the end-to-end test
//! (`tests/parquet_exporter.rs` includes this file): the rows with the parquet crate's reader
//! and cells by column name. Only external crates, so that it compiles in both.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn read(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    array.is_valid(row).then(|| array.value(row).to_string())
}

/// A map cell's entries, in their order in the file.
pub fn map(batch: &RecordBatch, column: &str, row: usize) -> Vec<(String, String)> {
    let entries = batch.column_by_name(column).unwrap().as_map().value(row);
    let (keys, values) = (
        entries.column(0).as_string::<i32>(),
        entries.column(1).as_string::<i32>(),
    );
    (0..entries.len())
        .map(|i| (keys.value(i).to_string(), values.value(i).to_string()))
        .collect()
}

/// A UTC timestamp cell in its column's unit (milliseconds or microseconds).
pub fn time(batch: &RecordBatch, column: &str, row: usize) -> i64 {
    let array = batch.column_by_name(column).unwrap();
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, Some(zone)) if &**zone == "UTC" => {
            array.as_primitive::<TimestampMillisecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) if &**zone == "UTC" => {
            array.as_primitive::<TimestampMicrosecondType>().value(row)
        }
        other => panic!("{column} is {other:?}, not a UTC timestamp"),
    }
}

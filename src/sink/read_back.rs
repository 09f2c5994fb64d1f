//! Published parts read back from a local folder, a few columns of them: what `--reconcile`
//! needs of a table (its ids and their versions), without reading the rest. Object storage
//! reads its Parquet parts by ranges (`crate::store::object`).

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;

use super::SinkError;

/// The positions in `schema` of the top-level columns named `columns`: a projection.
pub(crate) fn projection(schema: &Schema, columns: &[&str]) -> Vec<usize> {
    schema.fields().iter().enumerate().filter(|(_, f)| columns.contains(&f.name().as_str())).map(|(i, _)| i).collect()
}

/// The columns named `columns` (those it has) of the part at `path`, Parquet or Arrow IPC.
pub(crate) fn local_columns(path: &Path, parquet: bool, columns: &[&str]) -> Result<Vec<RecordBatch>, SinkError> {
    let failed = |e: &dyn std::fmt::Display| SinkError::write(path, format!("cannot read it back: {e}"));
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    if parquet {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| failed(&e))?;
        let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), projection(builder.schema(), columns));
        let reader = builder.with_projection(mask).build().map_err(|e| failed(&e))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))
    } else {
        let schema = arrow::ipc::reader::FileReader::try_new(&file, None).map_err(|e| failed(&e))?.schema();
        let reader = arrow::ipc::reader::FileReader::try_new(file, Some(projection(&schema, columns))).map_err(|e| failed(&e))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileFormat, OutputConfig};
    use std::sync::Arc;

    #[test]
    fn a_part_is_read_back_in_the_columns_asked_for_in_either_format() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("email", arrow::datatypes::DataType::Utf8, true),
        ]));
        let ids = Arc::new(arrow::array::StringArray::from(vec!["a", "b"]));
        let emails = Arc::new(arrow::array::StringArray::from(vec![Some("x@y"), None]));
        let batch = RecordBatch::try_new(schema.clone(), vec![ids, emails]).unwrap();
        for (format, parquet) in [(FileFormat::Parquet, true), (FileFormat::Arrow, false)] {
            let mut output = OutputConfig::new(dir.path());
            output.format = format;
            let mut writer = super::super::RollingWriter::new(dir.path(), schema.clone(), format, &output).unwrap();
            writer.write(&batch).unwrap();
            let file = writer.finish().unwrap().remove(0);
            let read = local_columns(&file.path, parquet, &["id", "updated_at"]).unwrap();
            assert_eq!(read[0].num_columns(), 1, "{format:?}: the id alone (there is no updated_at)");
            assert_eq!(read[0].num_rows(), 2);
        }
    }
}

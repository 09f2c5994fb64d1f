//! The rolling Parquet writer: opens its first file on the first batch, rolls to the next part
//! at the row limit, writes each part under a temporary name and renames it when complete, so
//! a part under its final name is always whole. An unfinished part is removed on drop.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{SinkError, WrittenFile};
use crate::config::{Compression, OutputConfig};

pub struct RollingParquetWriter {
    dir: PathBuf,
    schema: SchemaRef,
    properties: WriterProperties,
    max_file_rows: usize,
    current: Option<OpenPart>,
    next_part: u32,
    finished: Vec<WrittenFile>,
}

struct OpenPart {
    writer: ArrowWriter<File>,
    temp_path: PathBuf,
    final_path: PathBuf,
    rows: usize,
}

impl RollingParquetWriter {
    /// A writer of `schema` batches into `dir` (created if missing).
    pub fn new(dir: &Path, schema: SchemaRef, config: &OutputConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::CreateDir { path: dir.to_path_buf(), reason: e.to_string() })?;
        let compression = match config.compression {
            Compression::Zstd(level) => {
                ParquetCompression::ZSTD(ZstdLevel::try_new(level).map_err(|e| SinkError::write(dir, e))?)
            }
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::None => ParquetCompression::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .set_created_by(concat!("intercom-dump ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        Ok(RollingParquetWriter {
            dir: dir.to_path_buf(),
            schema,
            properties,
            max_file_rows: config.max_file_rows,
            current: None,
            next_part: 0,
            finished: Vec::new(),
        })
    }

    /// Appends a batch, splitting it across parts where the row limit falls inside it.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.current = Some(self.open_part()?);
            }
            let part = self.current.as_mut().expect("opened above");
            let take = (self.max_file_rows - part.rows).min(batch.num_rows() - offset);
            part.writer.write(&batch.slice(offset, take)).map_err(|e| SinkError::write(&part.temp_path, e))?;
            part.rows += take;
            offset += take;
            if part.rows >= self.max_file_rows {
                self.close_part()?;
            }
        }
        Ok(())
    }

    /// Closes the open part and returns every part written, in order.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        self.close_part()?;
        Ok(std::mem::take(&mut self.finished))
    }

    /// Rows written so far, open part included.
    pub fn rows(&self) -> u64 {
        self.finished.iter().map(|f| f.rows).sum::<u64>() + self.current.as_ref().map_or(0, |p| p.rows as u64)
    }

    fn open_part(&mut self) -> Result<OpenPart, SinkError> {
        let name = format!("part-{:05}.parquet", self.next_part);
        self.next_part += 1;
        let final_path = self.dir.join(&name);
        let temp_path = self.dir.join(format!(".{name}.inprogress"));
        let file = File::create(&temp_path).map_err(|e| SinkError::write(&temp_path, e))?;
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.properties.clone()))
            .map_err(|e| SinkError::write(&temp_path, e))?;
        Ok(OpenPart { writer, temp_path, final_path, rows: 0 })
    }

    fn close_part(&mut self) -> Result<(), SinkError> {
        let Some(part) = self.current.take() else { return Ok(()) };
        let OpenPart { writer, temp_path, final_path, rows } = part;
        let file = writer.into_inner().map_err(|e| SinkError::write(&temp_path, e))?;
        file.sync_all().map_err(|e| SinkError::write(&temp_path, e))?;
        let bytes = file.metadata().map_err(|e| SinkError::write(&temp_path, e))?.len();
        drop(file);
        std::fs::rename(&temp_path, &final_path).map_err(|e| SinkError::write(&final_path, e))?;
        self.finished.push(WrittenFile { path: final_path, rows: rows as u64, bytes });
        Ok(())
    }
}

impl Drop for RollingParquetWriter {
    fn drop(&mut self) {
        if let Some(part) = self.current.take() {
            let _ = std::fs::remove_file(&part.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(schema: &SchemaRef, start: i64, n: i64) -> RecordBatch {
        let ids = Int64Array::from_iter_values(start..start + n);
        let names = StringArray::from_iter_values((start..start + n).map(|i| format!("n{i}")));
        RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(names)]).unwrap()
    }

    #[test]
    fn rolls_at_the_row_limit_and_publishes_whole_parts() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("n", DataType::Utf8, true)]));
        let mut config = OutputConfig::new(dir.path());
        config.max_file_rows = 250;
        let mut writer = RollingParquetWriter::new(dir.path(), schema.clone(), &config).unwrap();
        for b in 0..6 {
            writer.write(&batch(&schema, b * 100, 100)).unwrap();
        }
        let files = writer.finish().unwrap();
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![250, 250, 100]);
        let mut ids = Vec::new();
        for f in &files {
            assert!(f.path.file_name().unwrap().to_str().unwrap().starts_with("part-"));
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap()).unwrap().build().unwrap();
            for b in reader {
                let b = b.unwrap();
                ids.extend(b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().iter().copied());
            }
        }
        assert_eq!(ids, (0..600).collect::<Vec<i64>>());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".inprogress"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn an_unfinished_part_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("n", DataType::Utf8, true)]));
        let mut writer = RollingParquetWriter::new(dir.path(), schema.clone(), &OutputConfig::new(dir.path())).unwrap();
        writer.write(&batch(&schema, 0, 10)).unwrap();
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

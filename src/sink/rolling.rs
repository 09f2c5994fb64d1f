//! The rolling part writer: opens its first part on the first batch, rolls to the next at a
//! row limit or at an estimated size, and writes every part through a store (`crate::store`): created,
//! appended to, committed when complete (so a part under its final name is always whole),
//! aborted when the writer is dropped unfinished. Parts are Parquet or Arrow IPC (the file
//! format). [`Sink`] fans batches out to one rolling writer per partition and format.
//!
//! JSON text columns (Arrow's `arrow.json` extension in memory, which picks their decoders) are
//! plain UTF-8 in the files, where readers' string functions take them; Parquet parts also
//! annotate them with Parquet's JSON logical type, which DuckDB and Spark read as JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{SinkError, WrittenFile};
use crate::config::{Compression, FileFormat, OutputConfig};
use crate::store::{Committed, LocalStore, Part, Store};
use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::writer::FileWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;

enum PartWriter {
    /// Parquet has no second unit: an Arrow `Timestamp(Second)` would land as a bare INT64 that
    /// DuckDB, Spark and Trino read as a number. Such columns are widened to milliseconds, which
    /// Parquet annotates as `TIMESTAMP(MILLIS, isAdjustedToUTC)`.
    Parquet { writer: ArrowWriter<Box<dyn Part>>, schema: SchemaRef },
    /// Batches are written under `schema`, the run's without extension types.
    Arrow { writer: FileWriter<Box<dyn Part>>, schema: SchemaRef },
}

/// `schema` without Arrow extension types: what the files' embedded schemas say, so that a reader
/// sees a plain string where it has no JSON type.
pub(crate) fn without_extensions(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut metadata = f.metadata().clone();
            metadata.remove("ARROW:extension:name");
            metadata.remove("ARROW:extension:metadata");
            f.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The schema Parquet parts carry: second timestamps as milliseconds, everything else as is.
pub fn parquet_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Second, tz) => {
                f.as_ref().clone().with_data_type(DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

impl PartWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        match self {
            PartWriter::Parquet { writer, schema } => {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| {
                        if column.data_type() == field.data_type() { Ok(column.clone()) } else { cast(column, field.data_type()) }
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
                writer.write(&batch).map_err(|e| e.to_string())
            }
            PartWriter::Arrow { writer, schema } => {
                let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(|e| e.to_string())?;
                writer.write(&batch).map_err(|e| e.to_string())
            }
        }
    }

    /// Bytes the part will take if closed now: written, plus buffered (Parquet's estimate).
    fn estimated_bytes(&self) -> u64 {
        match self {
            PartWriter::Parquet { writer, .. } => (writer.bytes_written() + writer.in_progress_size()) as u64,
            PartWriter::Arrow { writer, .. } => writer.get_ref().bytes(),
        }
    }

    fn close(self) -> Result<Box<dyn Part>, String> {
        match self {
            PartWriter::Parquet { writer, .. } => writer.into_inner().map_err(|e| e.to_string()),
            PartWriter::Arrow { mut writer, .. } => {
                writer.finish().map_err(|e| e.to_string())?;
                writer.into_inner().map_err(|e| e.to_string())
            }
        }
    }
}

pub struct RollingWriter {
    store: Arc<dyn Store>,
    dir: PathBuf,
    schema: SchemaRef,
    format: FileFormat,
    properties: WriterProperties,
    max_file_rows: usize,
    max_file_bytes: u64,
    current: Option<OpenPart>,
    next_part: u32,
    finished: Vec<WrittenFile>,
}

struct OpenPart {
    writer: PartWriter,
    path: PathBuf,
    rows: usize,
    max_updated_at: Option<i64>,
}

/// The newest `updated_at` (a timestamp in seconds) of `batch`; `None` without one.
fn max_updated_at(batch: &RecordBatch) -> Option<i64> {
    let column = batch.column_by_name("updated_at")?;
    let seconds = column.as_any().downcast_ref::<arrow::array::TimestampSecondArray>()?;
    arrow::compute::max(seconds)
}

impl RollingWriter {
    /// A writer of `schema` batches into `dir` on the local filesystem, as `format` (Parquet or
    /// Arrow; not both: a run keeps one writer a format).
    pub fn new(dir: &Path, schema: SchemaRef, format: FileFormat, config: &OutputConfig) -> Result<Self, SinkError> {
        RollingWriter::with_store(Arc::new(LocalStore), dir, schema, format, config)
    }

    /// [`RollingWriter::new`], writing through `store`.
    pub(crate) fn with_store(
        store: Arc<dyn Store>,
        dir: &Path,
        schema: SchemaRef,
        format: FileFormat,
        config: &OutputConfig,
    ) -> Result<Self, SinkError> {
        let compression = match config.compression {
            Compression::Zstd(level) => {
                ParquetCompression::ZSTD(ZstdLevel::try_new(level).map_err(|e| SinkError::write(dir, e))?)
            }
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::None => ParquetCompression::UNCOMPRESSED,
        };
        // No dictionaries: most columns of a contact are near-unique (ids, emails, timestamps,
        // JSON text), where a dictionary is built only to be abandoned. Without them the writer
        // is a quarter faster and the zstd files are smaller (BENCHMARKS.md).
        let properties = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_compression(compression)
            .set_max_row_group_row_count(Some(config.row_group_rows))
            .set_created_by(concat!("intercom-dump ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        Ok(RollingWriter {
            store,
            dir: dir.to_path_buf(),
            schema,
            format,
            properties,
            max_file_rows: config.max_file_rows,
            max_file_bytes: config.max_file_bytes,
            current: None,
            next_part: 0,
            finished: Vec::new(),
        })
    }

    /// Appends a batch, splitting it across parts where the row limit falls inside it. The size
    /// limit is checked between batches, on the writer's estimate.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.current = Some(self.open_part()?);
            }
            let part = self.current.as_mut().expect("opened above");
            let take = (self.max_file_rows - part.rows).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, take);
            part.writer.write(&slice).map_err(|e| SinkError::write(&part.path, e))?;
            part.rows += take;
            part.max_updated_at = part.max_updated_at.max(max_updated_at(&slice));
            offset += take;
            if part.rows >= self.max_file_rows || part.writer.estimated_bytes() >= self.max_file_bytes {
                self.close_part()?;
            }
        }
        Ok(())
    }

    /// Closes the open part, so that everything written so far is in finished parts.
    pub fn roll(&mut self) -> Result<(), SinkError> {
        self.close_part()
    }

    /// Parts finished so far, in order.
    pub fn finished(&self) -> &[WrittenFile] {
        &self.finished
    }

    /// Numbers the next part `next_part` (a resumed run goes on after its earlier parts).
    pub fn continue_numbering(&mut self, next_part: u32) {
        self.next_part = next_part;
    }

    /// Closes the open part and returns every part written, in order.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        self.close_part()?;
        Ok(std::mem::take(&mut self.finished))
    }

    fn open_part(&mut self) -> Result<OpenPart, SinkError> {
        let extension = self.format.extension();
        let name = format!("part-{:05}.{extension}", self.next_part);
        self.next_part += 1;
        let path = self.dir.join(&name);
        let file = self.store.create(&path)?;
        let writer = match self.format {
            FileFormat::Arrow => {
                let schema = without_extensions(&self.schema);
                let writer = FileWriter::try_new(file, &schema).map_err(|e| SinkError::write(&path, e))?;
                PartWriter::Arrow { writer, schema }
            }
            _ => {
                // The Parquet schema from the run's (JSON columns get the JSON logical type), the
                // embedded Arrow schema without extension types.
                let annotated = parquet_schema(&self.schema);
                let descriptor = ArrowSchemaConverter::new().convert(&annotated).map_err(|e| SinkError::write(&path, e))?;
                let schema = without_extensions(&annotated);
                let options = ArrowWriterOptions::new().with_properties(self.properties.clone()).with_parquet_schema(descriptor);
                let writer =
                    ArrowWriter::try_new_with_options(file, schema.clone(), options).map_err(|e| SinkError::write(&path, e))?;
                PartWriter::Parquet { writer, schema }
            }
        };
        Ok(OpenPart { writer, path, rows: 0, max_updated_at: None })
    }

    fn close_part(&mut self) -> Result<(), SinkError> {
        let Some(part) = self.current.take() else { return Ok(()) };
        let OpenPart { writer, path, rows, max_updated_at } = part;
        let file = writer.close().map_err(|e| SinkError::write(&path, e))?;
        let Committed { bytes, sha256 } = file.commit()?;
        self.finished.push(WrittenFile { path, rows: rows as u64, bytes, sha256, max_updated_at });
        Ok(())
    }
}

/// How rows are split into Hive-style partition directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partitioning {
    /// One directory for everything.
    None,
    /// `name=value/` by the value of a text column.
    ByColumn(String),
    /// Every row in `name=value/` (a listing that holds one value only, e.g. v1 users).
    Fixed { name: String, value: String },
}

/// Where batches go: one rolling writer a format (`--format both` writes every batch twice), a
/// set of them a partition. A partition's column is in its path only (`role=user/`), not in its
/// files, as Hive lays it out: a reader that takes the folder (pyarrow, pandas, Spark) adds it from
/// the path, and a column in both would clash.
pub struct Sink {
    store: Arc<dyn Store>,
    dir: PathBuf,
    schema: SchemaRef,
    config: OutputConfig,
    partitioning: Partitioning,
    partitions: std::collections::BTreeMap<String, Vec<RollingWriter>>,
    /// Parts of the run this one resumes: kept, and numbered after.
    resumed: Vec<WrittenFile>,
}

/// The column a partitioning takes its directories from.
fn partition_column(partitioning: &Partitioning) -> Option<&str> {
    match partitioning {
        Partitioning::None => None,
        Partitioning::ByColumn(name) | Partitioning::Fixed { name, .. } => Some(name),
    }
}

/// `batch` without its column `name` (as it is when it has none).
fn without_column(batch: &RecordBatch, name: &str) -> RecordBatch {
    let mut batch = batch.clone();
    if let Ok(index) = batch.schema().index_of(name) {
        batch.remove_column(index);
    }
    batch
}

/// `part-00012.parquet` is part 12.
fn part_number(path: &Path) -> Option<u32> {
    path.file_stem()?.to_str()?.strip_prefix("part-")?.parse().ok()
}

/// The directory name of a partition value, escaped as Hive does; null is Hive's default.
pub fn partition_dir(name: &str, value: Option<&str>) -> String {
    let Some(value) = value else { return format!("{name}=__HIVE_DEFAULT_PARTITION__") };
    let mut escaped = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            escaped.push(b as char);
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{name}={escaped}")
}

impl Sink {
    /// A sink into `dir` on the local filesystem.
    pub fn new(dir: &Path, schema: SchemaRef, config: &OutputConfig, partitioning: Partitioning) -> Result<Sink, SinkError> {
        Ok(Sink::with_store(Arc::new(LocalStore), dir, schema, config, partitioning))
    }

    /// [`Sink::new`], writing through `store`.
    pub(crate) fn with_store(
        store: Arc<dyn Store>,
        dir: &Path,
        schema: SchemaRef,
        config: &OutputConfig,
        partitioning: Partitioning,
    ) -> Sink {
        let schema = match partition_column(&partitioning).and_then(|name| schema.index_of(name).ok()) {
            Some(index) => {
                let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
                fields.remove(index);
                Arc::new(arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()))
            }
            None => schema,
        };
        Sink {
            store,
            dir: dir.to_path_buf(),
            schema,
            config: config.clone(),
            partitioning,
            partitions: Default::default(),
            resumed: Vec::new(),
        }
    }

    /// Keeps the parts a resumed run had finished; new parts are numbered after them.
    pub fn resume(&mut self, files: Vec<WrittenFile>) {
        self.resumed = files;
    }

    /// The writers of `partition`, one a format. With both formats each has a folder of its own
    /// (`parquet/`, `arrow/`), so that a reader reads either as a folder.
    fn writers(&mut self, partition: String) -> Result<&mut Vec<RollingWriter>, SinkError> {
        if !self.partitions.contains_key(&partition) {
            let formats: &[FileFormat] = match self.config.format {
                FileFormat::Both => &[FileFormat::Parquet, FileFormat::Arrow],
                FileFormat::Parquet => &[FileFormat::Parquet],
                FileFormat::Arrow => &[FileFormat::Arrow],
            };
            let mut writers = Vec::with_capacity(formats.len());
            for &format in formats {
                let base = match self.config.format {
                    FileFormat::Both => self.dir.join(format.extension()),
                    _ => self.dir.clone(),
                };
                let dir = if partition.is_empty() { base } else { base.join(&partition) };
                let mut writer = RollingWriter::with_store(self.store.clone(), &dir, self.schema.clone(), format, &self.config)?;
                let earlier = self
                    .resumed
                    .iter()
                    .filter(|f| {
                        f.path.parent() == Some(dir.as_path()) && f.path.extension().is_some_and(|e| e == format.extension())
                    })
                    .filter_map(|f| part_number(&f.path))
                    .max();
                if let Some(last) = earlier {
                    writer.continue_numbering(last + 1);
                }
                writers.push(writer);
            }
            self.partitions.insert(partition.clone(), writers);
        }
        Ok(self.partitions.get_mut(&partition).expect("inserted above"))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        match &self.partitioning {
            Partitioning::None => self.writers(String::new())?.iter_mut().try_for_each(|w| w.write(batch)),
            Partitioning::Fixed { name, value } => {
                let partition = partition_dir(name, Some(value));
                let rows = without_column(batch, name);
                self.writers(partition)?.iter_mut().try_for_each(|w| w.write(&rows))
            }
            Partitioning::ByColumn(name) => {
                let name = name.clone();
                let column = batch
                    .column_by_name(&name)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| SinkError::write(&self.dir, format!("no text column {name} to partition by")))?
                    .clone();
                let mut values: Vec<Option<&str>> = column.iter().collect();
                values.sort_unstable();
                values.dedup();
                for value in values {
                    let mask: BooleanArray = column.iter().map(|v| Some(v == value)).collect();
                    let rows = filter_record_batch(batch, &mask).map_err(|e| SinkError::write(&self.dir, e))?;
                    let rows = without_column(&rows, &name);
                    let partition = partition_dir(&name, value);
                    self.writers(partition)?.iter_mut().try_for_each(|w| w.write(&rows))?;
                }
                Ok(())
            }
        }
    }

    /// Closes every open part and returns every part finished so far, resumed ones first.
    pub fn checkpoint(&mut self) -> Result<Vec<WrittenFile>, SinkError> {
        let mut files = self.resumed.clone();
        for writer in self.partitions.values_mut().flatten() {
            writer.roll()?;
            files.extend(writer.finished().iter().cloned());
        }
        Ok(files)
    }

    /// Every part of every partition and format: resumed parts first, then partitions in name
    /// order, Parquet first.
    pub fn finish(self) -> Result<Vec<WrittenFile>, SinkError> {
        let mut files = self.resumed;
        for writers in self.partitions.into_values() {
            for writer in writers {
                files.extend(writer.finish()?);
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use sha2::{Digest, Sha256};

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
        let mut writer = RollingWriter::new(dir.path(), schema.clone(), FileFormat::Parquet, &config).unwrap();
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
    fn arrow_parts_roll_on_size_and_carry_their_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("n", DataType::Utf8, true)]));
        let mut config = OutputConfig::new(dir.path());
        config.max_file_bytes = 4_000;
        let mut writer = RollingWriter::new(dir.path(), schema.clone(), FileFormat::Arrow, &config).unwrap();
        for b in 0..10 {
            writer.write(&batch(&schema, b * 100, 100)).unwrap();
        }
        let files = writer.finish().unwrap();
        assert!(files.len() > 1, "rolled on size: {files:?}");
        let mut ids = Vec::new();
        for f in &files {
            let bytes = std::fs::read(&f.path).unwrap();
            assert_eq!(bytes.len() as u64, f.bytes);
            let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digest, f.sha256);
            let reader = arrow::ipc::reader::FileReader::try_new(File::open(&f.path).unwrap(), None).unwrap();
            for b in reader {
                ids.extend(b.unwrap().column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().iter().copied());
            }
        }
        assert_eq!(ids, (0..1_000).collect::<Vec<i64>>());
    }

    #[test]
    fn an_unfinished_part_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("n", DataType::Utf8, true)]));
        let mut writer =
            RollingWriter::new(dir.path(), schema.clone(), FileFormat::Arrow, &OutputConfig::new(dir.path())).unwrap();
        writer.write(&batch(&schema, 0, 10)).unwrap();
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

"""Reads a published intercom-dump folder as a folder, the way each reader's users do: pyarrow,
pandas (with pyarrow types), polars and DuckDB, with Hive partitions when there are some.

    python check_folders.py FOLDER ROWS FORMAT [PARTITION=VALUE,VALUE...]

FORMAT is parquet or arrow (Arrow parts: pyarrow and polars only). Exits non-zero with one line
per failed check.
"""

import json
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def main():
    folder, rows, fmt = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    partition, values = (sys.argv[4].split("=", 1) + [""])[:2] if len(sys.argv) > 4 else (None, "")
    values = sorted(v for v in values.split(",") if v)

    def check_partition(what, got):
        if partition:
            check(sorted(set(got)) == values, f"{what}: {partition} values {sorted(set(got))}, not {values}")

    if fmt == "arrow":
        table = ds.dataset(folder, format="arrow", partitioning="hive" if partition else None).to_table()
        check(table.num_rows == rows, f"pyarrow.dataset reads {table.num_rows} rows of {rows}")
        frame = pl.scan_ipc(folder / "**" / "*.arrow", hive_partitioning=bool(partition)).collect()
        check(frame.height == rows, f"polars reads {frame.height} rows of {rows}")
        finish()
        return

    table = pq.read_table(folder)
    check(table.num_rows == rows, f"pyarrow.parquet.read_table reads {table.num_rows} rows of {rows}")
    if partition:
        check_partition("pyarrow", [str(v) for v in table.column(partition).to_pylist()])

    frame = pd.read_parquet(folder, dtype_backend="pyarrow")
    check(len(frame) == rows, f"pandas reads {len(frame)} rows of {rows}")
    # Nullable integers and booleans stay what they are (not float64 and object).
    for column, kind in [("owner_id", pa.int64()), ("has_hard_bounced", pa.bool_())]:
        if column in frame:
            dtype = frame[column].dtype
            check(getattr(dtype, "pyarrow_dtype", None) == kind, f"pandas: {column} is {dtype}, not {kind}")
    if partition:
        check_partition("pandas", [str(v) for v in frame[partition]])

    frame = pl.scan_parquet(folder / "**" / "*.parquet", hive_partitioning=bool(partition)).collect()
    check(frame.height == rows, f"polars reads {frame.height} rows of {rows}")
    if partition:
        check_partition("polars", [str(v) for v in frame[partition].to_list()])

    hive = str(bool(partition)).lower()
    # The manifest names the table's key (a relation's is two columns, `contact_id, tag_id`):
    # beside the parts, or one level up with --format both.
    manifest = next(p / "_manifest.json" for p in (folder, folder.parent) if (p / "_manifest.json").exists())
    key = json.loads(manifest.read_text())["key"]
    count, distinct = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT ({key})) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = {hive})")
        .fetchone()
    )
    check((count, distinct) == (rows, rows), f"DuckDB reads {count} rows ({distinct} distinct {key}s) of {rows}")
    finish()


def finish():
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"ok with pyarrow {pa.__version__}, pandas {pd.__version__}, polars {pl.__version__}, DuckDB {duckdb.__version__}")


if __name__ == "__main__":
    main()

"""Reads a dump whose custom attributes' names collide (`plan`, `Plan`, `attributes`...) with
pyarrow, DuckDB and polars, and checks every typed column holds its own attribute's values.

    python check_columns.py PARQUET_DIR EXPECT_JSON

EXPECT_JSON: {"ids": [...], "columns": {"custom_plan": [values in id order], ...}}.
Exits non-zero with one line per failed check.
"""

import json
import sys

import duckdb
import polars as pl
import pyarrow.parquet as pq

directory, expect_path = sys.argv[1], sys.argv[2]
expect = json.load(open(expect_path))
failures = []


def check(reader, rows):
    """rows: a list of dicts, one a record."""
    by_id = {row["id"]: row for row in rows}
    for column, values in expect["columns"].items():
        got = [by_id[i].get(column) for i in expect["ids"]]
        if got != values:
            failures.append(f"{reader}: {column} holds {got}, expected {values}")


table = pq.read_table(directory)
names = table.column_names
if len(set(n.lower() for n in names)) != len(names):
    failures.append(f"pyarrow: column names collide without case: {names}")
check("pyarrow", table.to_pylist())

connection = duckdb.connect()
result = connection.execute(f"SELECT * FROM read_parquet('{directory}/*.parquet')")
columns = [d[0] for d in result.description]
check("duckdb", [dict(zip(columns, row)) for row in result.fetchall()])
for column in expect["columns"]:
    # By name, as SQL users write it: case-insensitive in DuckDB.
    connection.execute(f"SELECT {column} FROM read_parquet('{directory}/*.parquet')").fetchall()

check("polars", pl.read_parquet(f"{directory}/*.parquet").to_dicts())

if failures:
    print("\n".join(failures))
    sys.exit(1)

"""Reads a published intercom-dump output the way its users do, with pyarrow and DuckDB, and
checks it against what the simulator's generator says it holds.

    python check_output.py OUT SOURCE EXPECT_JSON

EXPECT_JSON (written by the Rust test that ran the dump): {"rows": N, "ids_sha256": H,
"sample": [{"id", "email", "created_at", "tag_count", "custom_attributes"}...]}.
Exits non-zero with one line per failed check.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def ids_digest(ids):
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def check_types(schema, source, what, unit, json_type=False):
    # Arrow parts keep seconds; Parquet has no second unit and stores milliseconds.
    ts = pa.timestamp(unit, tz="UTC")
    check(schema.field("created_at").type == ts, f"{what}: created_at is {schema.field('created_at').type}, not {ts}")
    check(schema.field("id").type == pa.string(), f"{what}: id is {schema.field('id').type}")
    flag = "has_hard_bounced"
    check(schema.field(flag).type == pa.bool_(), f"{what}: {flag} is {schema.field(flag).type}")
    check(schema.field("owner_id").type == pa.int64(), f"{what}: owner_id is {schema.field('owner_id').type}")
    tags = schema.field("tags").type
    check(pa.types.is_struct(tags), f"{what}: tags is {tags}")
    inner = "data" if source == "contacts" else "tags"
    check(pa.types.is_list(tags.field(inner).type), f"{what}: tags.{inner} is {tags.field(inner).type}")
    # JSON text columns: Parquet annotates them as JSON, which pyarrow reads as its JSON type
    # (and DuckDB as JSON, checked there); elsewhere they are plain strings.
    for name in ["_extra", "custom_attributes"]:
        kind = schema.field(name).type
        if json_type:
            check(getattr(kind, "extension_name", None) == "arrow.json", f"{what}: {name} is {kind}, not JSON")
            check(getattr(kind, "storage_type", None) == pa.string(), f"{what}: {name} is stored as {kind}")
        else:
            check(kind == pa.string(), f"{what}: {name} is {kind}, not a plain string")


def check_duckdb(con, relation, source, expect, what):
    rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {relation}").fetchone()
    check(rows == expect["rows"], f"{what}: DuckDB counts {rows} rows, expected {expect['rows']}")
    check(distinct == rows, f"{what}: DuckDB sees {rows - distinct} repeated ids")
    types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    check(types["created_at"] == "TIMESTAMP WITH TIME ZONE", f"{what}: DuckDB created_at is {types['created_at']}")
    check(types["has_hard_bounced"] == "BOOLEAN", f"{what}: DuckDB has_hard_bounced is {types['has_hard_bounced']}")
    if "parquet" in what:
        for name in ["_extra", "custom_attributes"]:
            check(types[name] == "JSON", f"{what}: DuckDB {name} is {types[name]}, not JSON")
    check(types["tags"].startswith("STRUCT("), f"{what}: DuckDB tags is {types['tags']}")
    check("[]" in types["tags"], f"{what}: DuckDB tags holds no LIST: {types['tags']}")
    ids = [r[0] for r in con.execute(f"SELECT id FROM {relation}").fetchall()]
    check(ids_digest(ids) == expect["ids_sha256"], f"{what}: the id set differs from the generator's")
    inner = "data" if source == "contacts" else "tags"
    for record in expect["sample"]:
        got = con.execute(
            f"SELECT email, epoch(created_at)::BIGINT, len(struct_extract(tags, '{inner}')), custom_attributes "
            f"FROM {relation} WHERE id = ?",
            [record["id"]],
        ).fetchall()
        check(len(got) == 1, f"{what}: id {record['id']} found {len(got)} times")
        if len(got) == 1:
            email, created, tag_count, custom = got[0]
            check(email == record["email"], f"{what}: {record['id']} email {email!r} != {record['email']!r}")
            check(created == record["created_at"], f"{what}: {record['id']} created_at {created} != {record['created_at']}")
            check(tag_count == record["tag_count"], f"{what}: {record['id']} has {tag_count} tags, not {record['tag_count']}")
            attributes = None if custom is None else json.loads(custom)
            check(attributes == record["custom_attributes"], f"{what}: {record['id']} custom_attributes differ")


def main():
    out, source, expect_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    expect = json.loads(expect_path.read_text())
    data = out / source
    # Both formats: a folder each, holding nothing else, so that a reader takes either as a folder.
    parquet_files = sorted((data / "parquet").glob("part-*.parquet"))
    arrow_files = sorted((data / "arrow").glob("part-*.arrow"))
    check(parquet_files and arrow_files, f"{source}: expected Parquet and Arrow parts, found {len(parquet_files)} and {len(arrow_files)}")
    check(sorted((data / "parquet").iterdir()) == parquet_files, f"{source}: parquet/ holds more than its parts")
    check(sorted((data / "arrow").iterdir()) == arrow_files, f"{source}: arrow/ holds more than its parts")

    # pyarrow, each format's folder as a folder
    table = pq.read_table(data / "parquet")
    check(table.num_rows == expect["rows"], f"parquet: pyarrow reads {table.num_rows} rows, expected {expect['rows']}")
    check_types(table.schema, source, "parquet (pyarrow)", "ms", json_type=True)
    plain = pq.read_table(data / "parquet", arrow_extensions_enabled=False)
    check_types(plain.schema, source, "parquet (pyarrow, extensions off)", "ms")
    arrow_table = ds.dataset(data / "arrow", format="arrow").to_table()
    check(arrow_table.num_rows == expect["rows"], f"arrow: pyarrow reads {arrow_table.num_rows} rows")
    check_types(arrow_table.schema, source, "arrow (pyarrow)", "s")
    check(ids_digest(arrow_table.column("id").to_pylist()) == expect["ids_sha256"], "arrow: the id set differs")

    # DuckDB, over the Parquet files directly and over the Arrow table
    con = duckdb.connect()
    check_duckdb(con, f"read_parquet('{data}/parquet/*.parquet')", source, expect, "parquet (DuckDB)")
    con.register("arrow_parts", arrow_table)
    check_duckdb(con, "arrow_parts", source, expect, "arrow (DuckDB)")

    # The manifest beside the data vouches for every file, named relative to it.
    manifest = json.loads((data / "_manifest.json").read_text())
    check((data / "_SUCCESS").exists(), "no _SUCCESS")
    check(manifest["records"] == expect["rows"], f"manifest records {manifest['records']}")
    # The schema in a form Arrow reads, the same as the Arrow parts'; Parquet's milliseconds said.
    declared = ipc.open_stream(base64.b64decode(manifest["arrow_schema"])).schema
    check(declared.equals(arrow_table.schema), f"manifest arrow_schema {declared} is not the Arrow parts' {arrow_table.schema}")
    fields = {f["name"]: f for f in manifest["schema"]}
    check(fields["created_at"].get("parquet_type", "").startswith("Timestamp(ms"), f"manifest created_at: {fields['created_at']}")
    for entry in manifest["files"]:
        path = data / entry["path"]
        body = path.read_bytes()
        check(hashlib.sha256(body).hexdigest() == entry["sha256"], f"manifest sha256 of {entry['path']} differs")
        check(len(body) == entry["bytes"], f"manifest bytes of {entry['path']} differ")
        rows = pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else ipc.open_file(path).read_all().num_rows
        check(rows == entry["rows"], f"manifest rows of {entry['path']}: {entry['rows']}, file has {rows}")

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{source}: {expect['rows']} rows checked with pyarrow {pa.__version__} and DuckDB {duckdb.__version__}")


if __name__ == "__main__":
    main()

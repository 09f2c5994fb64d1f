"""Reads a dump straight from S3 as its users would: pyarrow's S3FileSystem and polars, each
following the manifest (the files it lists, nothing else). Checks every table's rows against its
manifest and the contacts' ids for uniqueness.

usage: read_s3.py ENDPOINT BUCKET PREFIX TABLE...   (credentials from AWS_ACCESS_KEY_ID/...)
"""

import json
import os
import sys

import polars as pl
import pyarrow.dataset as ds
import pyarrow.fs as fs

endpoint, bucket, prefix, *tables = sys.argv[1:]
key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
s3 = fs.S3FileSystem(access_key=key, secret_key=secret, endpoint_override=endpoint, region="us-east-1")
polars_options = {
    "aws_access_key_id": key,
    "aws_secret_access_key": secret,
    "aws_region": "us-east-1",
    "aws_endpoint_url": endpoint,
    "aws_allow_http": "true",
}

for table in tables:
    folder = f"{bucket}/{prefix}/{table}"
    with s3.open_input_file(f"{folder}/_manifest.json") as f:
        manifest = json.load(f)
    s3.get_file_info(f"{folder}/_SUCCESS").type == fs.FileType.File or sys.exit(f"{table}: no _SUCCESS")
    parquet = [f"{folder}/{f['path']}" for f in manifest["files"] if f["format"] == "parquet"]
    arrow = [f"{folder}/{f['path']}" for f in manifest["files"] if f["format"] == "arrow"]
    for files, fmt in ((parquet, "parquet"), (arrow, "arrow")):
        if not files:
            continue
        rows = ds.dataset(files, filesystem=s3, format=fmt).count_rows()
        assert rows == manifest["records"], (table, fmt, rows, manifest["records"])
    if parquet:
        frame = pl.scan_parquet([f"s3://{p}" for p in parquet], storage_options=polars_options).collect()
        assert frame.height == manifest["records"], (table, "polars", frame.height)
        key_columns = [c.strip() for c in manifest["key"].split(",")]
        assert frame.select(key_columns).unique().height == frame.height, (table, "keys repeat")
    print(f"{table}: {manifest['records']} rows, {len(parquet)} Parquet and {len(arrow)} Arrow parts, read whole")

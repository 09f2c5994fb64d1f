"""Runs the README's DuckDB view of a table and its change sets, and compares it with a fresh
full dump: the same contacts, ids and values.

usage: merged_view.py README.md LAKE FRESH [partitioned]
"""
import re
import sys

import duckdb

readme, lake, fresh = sys.argv[1:4]
partitioned = sys.argv[4:] == ["partitioned"]
marker = "merged-view:duckdb-partitioned" if partitioned else "merged-view:duckdb"
text = open(readme, encoding="utf-8").read()
block = re.search(r"<!-- " + marker + r" -->\s*```sql\n(.*?)```", text, re.S)
assert block, "the README has no DuckDB view between its markers"
sql = block.group(1).replace("lake/intercom", lake)
assert lake in sql, "the README's view reads lake/intercom/contacts"

con = duckdb.connect()
con.execute(sql)
fresh_files = f"{fresh}/contacts/*/*.parquet" if partitioned else f"{fresh}/contacts/*.parquet"
con.execute(f"CREATE VIEW fresh AS SELECT * FROM read_parquet('{fresh_files}', hive_partitioning = {str(partitioned).lower()})")
view_rows = con.execute("SELECT count(*), count(DISTINCT id) FROM contacts").fetchone()
fresh_rows = con.execute("SELECT count(*) FROM fresh").fetchone()[0]
assert view_rows[0] == view_rows[1] == fresh_rows, f"view {view_rows} vs fresh {fresh_rows}"
fresh_columns = [row[0] for row in con.execute("DESCRIBE fresh").fetchall()]
view_columns = [row[0] for row in con.execute("DESCRIBE contacts").fetchall()]
assert set(fresh_columns) == set(view_columns), set(fresh_columns) ^ set(view_columns)
columns = ", ".join(f'"{c}"' for c in fresh_columns)
for a, b in (("contacts", "fresh"), ("fresh", "contacts")):
    extra = con.execute(f"SELECT count(*) FROM (SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b})").fetchone()[0]
    assert extra == 0, f"{extra} rows of {a} are not in {b}"
print(f"view rows {view_rows[0]}, the fresh dump's exactly")

"""Reads a Vario data directory's Parquet files with pyarrow, another engine than the one
that wrote them, and prints what it found as JSON on stdout:

    {"columns": {name: arrow type}, "rows": [{column: value}, ...] (sorted by seq),
     "files": n, "dictionary": {column: whether the first file dictionary-encodes it}}

Usage: check.py DATA_DIR. The test crates/vario-cli/tests/it/parquet_check.rs compares it
with the event log; setup.sh installs pyarrow.
"""

import json
import pathlib
import sys

import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main() -> None:
    events = pathlib.Path(sys.argv[1]) / "events"
    # Hive partitioning reads `date=...` directories as a column; files starting with `_`
    # or `.` (the watermark, temporary files) are skipped, as by other engines.
    dataset = ds.dataset(events, format="parquet", partitioning="hive")
    table = dataset.to_table().sort_by("seq")
    first = pq.ParquetFile(dataset.files[0]).metadata.row_group(0)
    dictionary = {}
    for i in range(first.num_columns):
        column = first.column(i)
        dictionary[column.path_in_schema] = any("DICTIONARY" in e for e in column.encodings)
    json.dump(
        {
            "columns": {field.name: str(field.type) for field in table.schema},
            "rows": table.to_pylist(),
            "files": len(dataset.files),
            "dictionary": dictionary,
        },
        sys.stdout,
        default=str,
    )


if __name__ == "__main__":
    main()

"""The plain SQL of crates/vario-results/benches/results.rs, run by DuckDB on the same
Parquet files, for comparison with Vario's figures in docs/results.md.

    python3 -m venv /tmp/duck && /tmp/duck/bin/pip install duckdb
    /tmp/duck/bin/python tools/duckdb/plain_sql.py DATA_DIR [RUNS]

Prints each run's wall time and DuckDB's answer (visitors, converters, sums per variation).
"""

import sys
import time

import duckdb

SQL = """
WITH events AS (SELECT * FROM read_parquet('{dir}/events/*/*.parquet', hive_partitioning = false)),
     f AS (SELECT visitor_id, arg_min(variation_id, (timestamp, seq)) AS variation_id,
                  min(timestamp) AS t FROM events
           WHERE kind = 'decision' AND experiment_id = '990000' GROUP BY visitor_id),
     c AS (SELECT f.visitor_id, count(*) AS n, sum(coalesce(e.revenue, 0)) AS r, sum(coalesce(e.value, 0)) AS x
           FROM f JOIN events e ON e.visitor_id = f.visitor_id AND e.kind = 'conversion'
                AND e.event_key = 'purchase' AND e.timestamp >= f.t GROUP BY f.visitor_id)
SELECT f.variation_id, count(*) AS visitors, count(c.visitor_id) AS converters, sum(c.n), sum(c.n * c.n),
       sum(c.r), sum(c.r * c.r), sum(c.x), sum(c.x * c.x)
FROM f LEFT JOIN c ON c.visitor_id = f.visitor_id GROUP BY f.variation_id ORDER BY f.variation_id
"""


def main() -> None:
    data_dir = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for run in range(runs):
        con = duckdb.connect()
        start = time.perf_counter()
        rows = con.execute(SQL.format(dir=data_dir)).fetchall()
        elapsed = time.perf_counter() - start
        print(f"run {run + 1}: {elapsed:.2f} s")
        con.close()
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()

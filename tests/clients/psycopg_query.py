"""Runs one query with psycopg 3 and prints the first row tab-separated.
Usage: psycopg_query.py DSN SQL"""
import sys

import psycopg

dsn, sql = sys.argv[1], sys.argv[2]
try:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(sql).fetchone()
        print("\t".join(str(v) for v in row))
except psycopg.Error as e:
    print(f"sqlstate={e.sqlstate} error={e}", file=sys.stderr)
    sys.exit(1)

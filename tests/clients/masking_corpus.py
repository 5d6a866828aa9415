"""Runs masking corpus cases with psycopg 3 (binary results), each in its own
transaction, rolled back. Usage: masking_corpus.py DSN CASES.json, where the
file holds [{"name", "sql", "fetch"}]. Prints one line per case:
`NAME ok ROWS` or `NAME error SQLSTATE MESSAGE`."""
import json
import sys

import psycopg

dsn, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    cases = json.load(f)
with psycopg.connect(dsn, connect_timeout=10) as conn:
    for case in cases:
        try:
            with conn.cursor(binary=True) as cur:
                rows = []
                if case["sql"].lstrip().upper().startswith("COPY") and "STDOUT" in case["sql"].upper():
                    with cur.copy(case["sql"]) as copy:
                        rows = [bytes(data) for data in copy]
                else:
                    cur.execute(case["sql"])
                    if case.get("fetch"):
                        cur.execute(case["fetch"])
                    if cur.description is not None:
                        rows = cur.fetchall()
            print(f"{case['name']} ok {rows!r}")
        except psycopg.Error as e:
            message = (e.diag.message_primary or "").replace("\n", " ")
            print(f"{case['name']} error {e.sqlstate} {message}")
        conn.rollback()

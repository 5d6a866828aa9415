"""Refusals seen by psycopg 3 through a gateway running cordon-test-phases.
Usage: refusals_psycopg.py DSN
Prints one line per observation; the test compares them with what PostgreSQL
itself would do had the refused statement failed."""
import sys

import psycopg

dsn = sys.argv[1]
with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
    conn.execute("DROP TABLE IF EXISTS psy_pipe")
    conn.execute("CREATE TABLE psy_pipe (x int)")
    # A refused Parse in the middle of a pipeline: the statements before it in
    # the same batch are rolled back with it, those after are skipped.
    try:
        with conn.pipeline():
            conn.execute("INSERT INTO psy_pipe VALUES (%s)", [1])
            conn.execute("SELECT /*refuse*/ %s::int", [2])
            conn.execute("INSERT INTO psy_pipe VALUES (%s)", [3])
        print("pipeline ok")
    except psycopg.Error as e:
        print(f"pipeline error sqlstate={e.sqlstate} refused_by_test_phase={'test phase refused' in str(e)}")
    print("rows after pipeline", conn.execute("SELECT count(*) FROM psy_pipe").fetchone()[0])
    # The session is still in step: a pipeline that is fine goes through.
    with conn.pipeline():
        conn.execute("INSERT INTO psy_pipe VALUES (%s)", [4])
        cur = conn.execute("SELECT count(*) FROM psy_pipe")
    print("rows after second pipeline", cur.fetchone()[0])
    # Binary and text results through the row rewrite phase.
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute("SELECT %s::text, 'cordon-secret'::text", ["public"])
        print(f"binary={binary} row={cur.fetchone()}")

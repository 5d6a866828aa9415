"""Inserts numbered rows one statement at a time through the gateway for a
while, reconnecting whenever the connection fails, and prints each number
whose INSERT the server acknowledged (the client saw its completion).

Usage: acknowledged_inserts.py DSN SECONDS
"""
import sys
import time

import psycopg

dsn, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + seconds
n = 0
conn = None
while time.monotonic() < deadline:
    try:
        if conn is None:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
        n += 1
        conn.execute(f"INSERT INTO acked VALUES ({n})")
        print(n, flush=True)
    except psycopg.Error:
        conn = None
        time.sleep(0.05)

"""Runs each SQL with psycopg 3, asking for binary results, and prints every
row (repr), COPY TO STDOUT data, notice and error. Usage:
masking_psycopg.py DSN SQL..."""
import sys

import psycopg

dsn, statements = sys.argv[1], sys.argv[2:]
with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
    conn.add_notice_handler(lambda d: print(f"notice: {d.message_primary} / {d.message_detail}"))
    for sql in statements:
        try:
            with conn.cursor(binary=True) as cur:
                if sql.lstrip().upper().startswith("COPY"):
                    with cur.copy(sql) as copy:
                        for data in copy:
                            print(f"copy: {bytes(data)!r}")
                    continue
                cur.execute(sql)
                if cur.description is not None:
                    for row in cur.fetchall():
                        print(f"row: {row!r}")
        except psycopg.Error as e:
            diag = e.diag
            print(f"error: sqlstate={e.sqlstate} message={diag.message_primary} detail={diag.message_detail}")

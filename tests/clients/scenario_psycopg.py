"""The psycopg 3 scenario of the protocol suite (tests/tests/protocol_scenarios.rs):
text and binary parameters and results, prepared statements, pipeline mode, COPY both
ways (text and binary), transactions and savepoints, notices and notifications, a
streamed million-row result, cancellation. Prints one line per observable result and
nothing that differs between a run through the gateway and a direct one.
Usage: scenario_psycopg.py DSN"""
import hashlib
import sys
import threading
import time
from decimal import Decimal

import psycopg
from psycopg import errors

from scenario_values import BIG, CASTS, VALUES, show


def attempt(label, action):
    """Runs action; prints `label ok` or `label sqlstate=...`."""
    try:
        action()
        print(f"{label} ok")
    except psycopg.Error as e:
        print(f"{label} sqlstate={e.sqlstate}")


def ddl_and_dml(conn):
    conn.execute("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)")
    conn.execute("CREATE INDEX kv_v ON kv (v)")
    conn.execute("ALTER TABLE kv ADD COLUMN n numeric")
    conn.execute("CREATE TABLE scratch (x int)")
    conn.execute("DROP TABLE scratch")
    print("ddl ok")
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO kv (id, v, n) VALUES (%s, %s, %s) RETURNING id, v, n",
        [(1, "one", Decimal("1.10")), (2, "two", Decimal("-2.5")), (3, "three", None)],
        returning=True,
    )
    while True:
        print("inserted", ", ".join(show(v) for v in cur.fetchone()))
        if not cur.nextset():
            break
    cur.execute("UPDATE kv SET v = upper(v) WHERE id >= %s", (2,))
    print(f"update rows={cur.rowcount}")
    print("delete returning", cur.execute("DELETE FROM kv WHERE id = %s RETURNING v", (3,)).fetchone())


def types(conn):
    """The same values as text and as binary parameters, with text and binary results."""
    for params in ("t", "b"):
        query = "SELECT " + ", ".join(f"%{params}::{cast}" for cast in CASTS)
        for binary in (False, True):
            row = conn.execute(query, VALUES, binary=binary).fetchone()
            print(f"params={params} binary={binary}", " | ".join(show(v) for v in row))
    # Explicitly prepared (a named statement), run several times.
    cur = conn.cursor()
    for i in range(3):
        cur.execute("SELECT %s::int * 2, %s::text || '!'", (i, f"p{i}"), prepare=True)
        print("prepared", cur.fetchone())


def errors_with_sqlstate(conn):
    attempt("unique violation", lambda: conn.execute("INSERT INTO kv (id, v) VALUES (1, 'again')"))
    attempt("division by zero", lambda: conn.execute("SELECT 1 / %s", (0,)))
    attempt("undefined table", lambda: conn.execute("SELECT * FROM no_such_table"))
    attempt("undefined function", lambda: conn.execute("SELECT no_such_function(1)"))
    attempt("invalid text", lambda: conn.execute("SELECT %s::int", ("not a number",)))
    print("rows after errors", conn.execute("SELECT count(*) FROM kv").fetchone()[0])


def transactions(dsn):
    # Not in autocommit: the first statement opens a transaction.
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO kv (id, v) VALUES (10, 'in aborted transaction')")
        attempt("in transaction: unique violation", lambda: conn.execute("INSERT INTO kv (id, v) VALUES (1, 'x')"))
        print("transaction status", conn.info.transaction_status.name)
        attempt("in transaction: next statement", lambda: conn.execute("SELECT 1"))
        conn.rollback()
        print("after rollback rows", conn.execute("SELECT count(*) FROM kv WHERE id = 10").fetchone()[0])
        conn.rollback()

        with conn.transaction():
            conn.execute("INSERT INTO kv (id, v) VALUES (20, 'kept')")
            try:
                with conn.transaction():  # a savepoint
                    conn.execute("INSERT INTO kv (id, v) VALUES (21, 'rolled back')")
                    conn.execute("INSERT INTO kv (id, v) VALUES (1, 'x')")
            except errors.UniqueViolation as e:
                print(f"in savepoint sqlstate={e.sqlstate}")
            conn.execute("INSERT INTO kv (id, v) VALUES (22, 'kept after savepoint')")
        ids = [r[0] for r in conn.execute("SELECT id FROM kv WHERE id >= 20 ORDER BY id")]
        print("after savepoint ids", ids)
        conn.commit()

        # A server-side cursor (DECLARE / FETCH) read in batches.
        with conn.transaction():
            with conn.cursor(name="server_side") as cur:
                cur.itersize = 4
                cur.execute("SELECT g FROM generate_series(1, 10) g")
                print("server-side cursor", [r[0] for r in cur])


def pipeline(conn):
    with conn.pipeline() as p:
        a = conn.execute("INSERT INTO kv (id, v) VALUES (%s, %s) RETURNING id", (30, "pipelined"))
        b = conn.execute("SELECT %s::int8 * %s::int8", (3_000_000_000, 3), binary=True)
        c = conn.cursor()
        c.executemany("INSERT INTO kv (id, v) VALUES (%s, %s)", [(31, "many"), (32, "many")])
        p.sync()
        print("pipeline", a.fetchone(), b.fetchone(), c.rowcount)
    # The failing statement comes last before the sync: psycopg raises an error from
    # whichever call first reads it, so anything after it would make that call (and
    # what psycopg logs on leaving the block) depend on timing.
    try:
        with conn.pipeline() as p:
            conn.execute("INSERT INTO kv (id, v) VALUES (33, 'undone with the error')")
            conn.execute("SELECT 1 / %s", (0,))
            p.sync()
    except psycopg.Error as e:
        print(f"pipeline error sqlstate={e.sqlstate}")
    print("after pipeline error", conn.info.transaction_status.name, conn.execute("SELECT 'usable'").fetchone()[0])
    rows = conn.execute("SELECT id FROM kv WHERE id BETWEEN 30 AND 39 ORDER BY id").fetchall()
    print("pipeline rows", [r[0] for r in rows])


def copy(conn):
    cur = conn.cursor()
    with cur.copy("COPY kv (id, v, n) FROM STDIN") as copy:
        copy.write_row((100, "copied", Decimal("1.5")))
        copy.write_row((101, "tab\there", None))
        copy.write(b"102\traw bytes\t-0.25\n")
    print(f"copy_in text rows={cur.rowcount}")
    with cur.copy("COPY kv (id, v, n) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "text", "numeric"])
        for i in range(200, 210):
            copy.write_row((i, f"binary {i}", Decimal(f"{i}.{i}")))
    print(f"copy_in binary rows={cur.rowcount}")
    try:
        with cur.copy("COPY kv (id, v) FROM STDIN") as copy:
            copy.write_row((300, "fine"))
            copy.write_row((1, "duplicate"))
    except psycopg.Error as e:
        print(f"copy_in duplicate sqlstate={e.sqlstate}")
    with cur.copy("COPY (SELECT id, v, n FROM kv ORDER BY id) TO STDOUT") as copy:
        for row in copy.rows():
            print("copy_out", row)
    with cur.copy("COPY (SELECT id, v, n FROM kv WHERE id >= 200 ORDER BY id LIMIT 3) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "text", "numeric"])
        for row in copy.rows():
            print("copy_out binary", " | ".join(show(v) for v in row))


def big_result(conn):
    count = total = 0
    digest = hashlib.md5()
    for g, md5 in conn.cursor().stream(BIG, size=1000):
        count += 1
        total += g
        digest.update(f"{g}\t{md5}\n".encode())
    print(f"big_result rows={count} sum={total} md5={digest.hexdigest()}")
    size = 0
    digest = hashlib.md5()
    with conn.cursor().copy(f"COPY ({BIG}) TO STDOUT") as copy:
        for block in copy:
            size += len(block)
            digest.update(block)
    print(f"big_copy_out bytes={size} md5={digest.hexdigest()}")


def notices_and_notifications(conn, dsn):
    conn.add_notice_handler(lambda d: print(f"notice severity={d.severity} message={d.message_primary}"))
    conn.execute("DO $$ BEGIN RAISE NOTICE 'notice with value %', 42; END $$")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN scn_channel")
        conn.execute("NOTIFY scn_channel, 'plain'")
        conn.execute("SELECT pg_notify('scn_channel', %s)", ("from pg_notify ünïcode",))
        with conn.transaction(force_rollback=True):
            conn.execute("NOTIFY scn_channel, 'rolled back'")
        with conn.transaction():
            conn.execute("NOTIFY scn_channel, 'committed'")
        for n in listener.notifies(timeout=5, stop_after=3):
            print(f"listener notification channel={n.channel} payload={n.payload}")
        heard = []
        conn.add_notify_handler(lambda n: heard.append(n))
        conn.execute("LISTEN own_channel")
        listener.execute("NOTIFY own_channel, 'to the other connection'")
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            conn.execute("SELECT 1")
            time.sleep(0.05)
        for n in heard:
            print(f"own notification channel={n.channel} payload={n.payload}")
        listener.execute("UNLISTEN *")
        conn.execute("NOTIFY scn_channel, 'nobody listens'")
        print("after unlisten", [n.payload for n in listener.notifies(timeout=0.3)])


def cancel(conn):
    timer = threading.Timer(0.3, conn.cancel_safe)
    timer.start()
    started = time.monotonic()
    try:
        conn.execute("SELECT pg_sleep(30)")
        print("cancel ok")
    except psycopg.Error as e:
        print(f"cancel sqlstate={e.sqlstate} class={type(e).__name__}")
    print(f"cancel quick={time.monotonic() - started < 10}")
    timer.join()
    # A late cancel could hit the next command: the gateway closes the cancel
    # connection before the server took the request (protocol_scenarios.rs,
    # a_cancel_connection_closes_only_after_the_server_took_the_request).
    time.sleep(0.5)
    print("after cancel select", conn.execute("SELECT 7").fetchone()[0])


def main(dsn):
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        print("server_version_num", conn.info.server_version // 10000)
        ddl_and_dml(conn)
        types(conn)
        errors_with_sqlstate(conn)
        transactions(dsn)
        pipeline(conn)
        copy(conn)
        big_result(conn)
        notices_and_notifications(conn, dsn)
        cancel(conn)


if __name__ == "__main__":
    main(sys.argv[1])

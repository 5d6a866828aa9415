"""The asyncpg scenario of the protocol suite (tests/tests/protocol_scenarios.rs):
the binary protocol throughout, explicitly prepared statements, transactions and
savepoints, binary COPY in and COPY out, notices and notifications, a million rows
through a cursor (a portal read in batches), cancellation by cancelling the task.
Prints one line per observable result and nothing that differs between a run through
the gateway and a direct one.
Usage: scenario_asyncpg.py DSN"""
import asyncio
import hashlib
import io
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

import asyncpg

from scenario_values import BIG, CASTS, VALUES, show


async def attempt(label, awaitable):
    """Awaits; prints `label ok` or `label sqlstate=...`."""
    try:
        await awaitable
        print(f"{label} ok")
    except asyncpg.PostgresError as e:
        print(f"{label} sqlstate={e.sqlstate}")


async def ddl_and_dml(conn):
    await conn.execute(
        "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL);"
        "CREATE INDEX kv_v ON kv (v);"
        "ALTER TABLE kv ADD COLUMN n numeric;"
        "CREATE TABLE scratch (x int);"
        "DROP TABLE scratch"
    )
    print("ddl ok")
    insert = await conn.prepare("INSERT INTO kv (id, v, n) VALUES ($1, $2, $3) RETURNING id, v, n")
    print("insert parameters", [t.name for t in insert.get_parameters()])
    print("insert attributes", [(a.name, a.type.name) for a in insert.get_attributes()])
    for values in [(1, "one", Decimal("1.10")), (2, "two", Decimal("-2.5")), (3, "three", None)]:
        print("inserted", tuple(await insert.fetchrow(*values)))
    print("update", await conn.execute("UPDATE kv SET v = upper(v) WHERE id >= $1", 2))
    print("delete returning", await conn.fetchval("DELETE FROM kv WHERE id = $1 RETURNING v", 3))
    await conn.executemany("INSERT INTO kv (id, v) VALUES ($1, $2)", [(4, "four"), (5, "five")])
    print("after executemany", await conn.fetchval("SELECT count(*) FROM kv"))


async def types(conn):
    stmt = await conn.prepare("SELECT " + ", ".join(f"${i + 1}::{cast}" for i, cast in enumerate(CASTS)))
    row = await stmt.fetchrow(*VALUES)
    print("binary", " | ".join(show(v) for v in row))
    # The same statement again (asyncpg reuses the prepared statement), other values.
    row = await stmt.fetchrow(0, -1, "", Decimal("0.000"), datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
                              b"", False, [], [], 7, -1.5e300)
    print("binary again", " | ".join(show(v) for v in row))
    # Text-format results for the same values, as the server renders them.
    row = await conn.fetchrow(
        "SELECT " + ", ".join(f"${i + 1}::{cast}::text" for i, cast in enumerate(CASTS)) + ", $12::timestamptz",
        *VALUES, VALUES[4],
    )
    print("as text", " | ".join(show(v) for v in row))
    print("fetch many", [r[0] for r in await conn.fetch("SELECT g FROM generate_series(1, $1) g", 5)])


async def errors(conn):
    await attempt("unique violation", conn.execute("INSERT INTO kv (id, v) VALUES (1, 'again')"))
    await attempt("division by zero", conn.fetchval("SELECT 1 / $1::int", 0))
    await attempt("undefined table", conn.fetch("SELECT * FROM no_such_table"))
    await attempt("undefined function", conn.execute("SELECT no_such_function(1)"))
    await attempt("invalid text", conn.fetchval("SELECT $1::text::int", "not a number"))
    await attempt("numeric overflow", conn.fetchval("SELECT $1::int8 * $1::int8", 2**62))
    print("rows after errors", await conn.fetchval("SELECT count(*) FROM kv"))


async def transactions(conn):
    await conn.execute("BEGIN")
    await conn.execute("INSERT INTO kv (id, v) VALUES (10, 'in aborted transaction')")
    await attempt("in transaction: unique violation", conn.execute("INSERT INTO kv (id, v) VALUES (1, 'x')"))
    await attempt("in transaction: next statement", conn.fetchval("SELECT 1"))
    await conn.execute("ROLLBACK")
    print("after rollback rows", await conn.fetchval("SELECT count(*) FROM kv WHERE id = 10"))

    async with conn.transaction():
        await conn.execute("INSERT INTO kv (id, v) VALUES (20, 'kept')")
        try:
            async with conn.transaction():  # a savepoint
                await conn.execute("INSERT INTO kv (id, v) VALUES (21, 'rolled back')")
                await conn.execute("INSERT INTO kv (id, v) VALUES (1, 'x')")
        except asyncpg.UniqueViolationError as e:
            print(f"in savepoint sqlstate={e.sqlstate}")
        await conn.execute("INSERT INTO kv (id, v) VALUES (22, 'kept after savepoint')")
    print("after savepoint ids", [r[0] for r in await conn.fetch("SELECT id FROM kv WHERE id >= 20 ORDER BY id")])

    try:
        async with conn.transaction(isolation="serializable"):
            await conn.execute("INSERT INTO kv (id, v) VALUES (23, 'undone by an exception')")
            raise RuntimeError("application error")
    except RuntimeError:
        pass
    print("after exception rows", await conn.fetchval("SELECT count(*) FROM kv WHERE id = 23"))


async def copy(conn):
    print("copy_in records", await conn.copy_records_to_table(
        "kv", records=[(100 + i, f"record {i}", Decimal(i) / 4) for i in range(5)], columns=["id", "v", "n"]))
    source = io.BytesIO(b"200\ttext copy\t2.5\n201\ttab\\there\t\\N\n")
    print("copy_in text", await conn.copy_to_table("kv", source=source, columns=["id", "v", "n"]))
    await attempt("copy_in duplicate", conn.copy_records_to_table("kv", records=[(300, "fine"), (1, "dup")],
                                                                    columns=["id", "v"]))
    out = io.BytesIO()
    print("copy_out", await conn.copy_from_query("SELECT id, v, n FROM kv ORDER BY id", output=out, format="csv"))
    for line in out.getvalue().decode().splitlines():
        print("copy_out", line)
    out = io.BytesIO()
    await conn.copy_from_table("kv", columns=["id", "v"], output=out, format="binary")
    print(f"copy_out binary bytes={len(out.getvalue())} md5={hashlib.md5(out.getvalue()).hexdigest()}")


async def big_result(conn):
    count = total = 0
    digest = hashlib.md5()
    async with conn.transaction():
        async for g, md5 in conn.cursor(BIG, prefetch=5000):
            count += 1
            total += g
            digest.update(f"{g}\t{md5}\n".encode())
    print(f"big_result rows={count} sum={total} md5={digest.hexdigest()}")
    size = 0
    digest = hashlib.md5()

    async def sink(chunk):
        nonlocal size
        size += len(chunk)
        digest.update(chunk)

    await conn.copy_from_query(BIG, output=sink)
    print(f"big_copy_out bytes={size} md5={digest.hexdigest()}")


async def notices_and_notifications(conn, dsn):
    notices = []
    conn.add_log_listener(lambda _conn, message: notices.append(message))
    await conn.execute("DO $$ BEGIN RAISE NOTICE 'notice with value %', 42; END $$")
    for _ in range(100):  # log listeners run as callbacks, soon after the query
        if notices:
            break
        await asyncio.sleep(0.05)
    for message in notices:
        print(f"notice severity={message.severity} sqlstate={message.sqlstate} message={message.message}")

    heard = asyncio.Queue()

    def on_notification(_conn, _pid, channel, payload):
        heard.put_nowait((channel, payload))

    listener = await asyncpg.connect(dsn, timeout=10)
    try:
        await listener.add_listener("scn_channel", on_notification)
        await conn.execute("NOTIFY scn_channel, 'plain'")
        await conn.execute("SELECT pg_notify('scn_channel', $1)", "from pg_notify ünïcode")
        await conn.execute("BEGIN; NOTIFY scn_channel, 'rolled back'; ROLLBACK")
        async with conn.transaction():
            await conn.execute("NOTIFY scn_channel, 'committed'")
        for _ in range(3):
            channel, payload = await asyncio.wait_for(heard.get(), 5)
            print(f"listener notification channel={channel} payload={payload}")
        await listener.remove_listener("scn_channel", on_notification)
        await conn.execute("NOTIFY scn_channel, 'nobody listens'")
        await listener.fetchval("SELECT 1")
        print(f"after unlisten pending={heard.qsize()}")
    finally:
        await listener.close()


async def cancel(conn):
    # asyncpg cancels a running query when its task is cancelled (a CancelRequest on a
    # new connection); the task then sees CancelledError, not the server's 57014.
    started = time.monotonic()
    task = asyncio.ensure_future(conn.execute("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.3)
    task.cancel()
    try:
        await task
        print("cancel: the query finished")
    except asyncio.CancelledError:
        print("cancel: task cancelled")
    # A late cancel could hit the next command: the gateway closes the cancel
    # connection before the server took the request (protocol_scenarios.rs,
    # a_cancel_connection_closes_only_after_the_server_took_the_request).
    await asyncio.sleep(0.5)
    print("after cancel select", await conn.fetchval("SELECT 7"))
    print(f"cancel quick={time.monotonic() - started < 10}")
    started = time.monotonic()
    try:
        await conn.execute("SELECT pg_sleep(30)", timeout=0.3)
        print("timeout: the query finished")
    except asyncio.TimeoutError:
        print("timeout: raised")
    await asyncio.sleep(0.5)  # as above
    print("after timeout select", await conn.fetchval("SELECT 8"))
    print(f"timeout quick={time.monotonic() - started < 10}")


async def main(dsn):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        print("server_version", conn.get_server_version().major)
        await ddl_and_dml(conn)
        await types(conn)
        await errors(conn)
        await transactions(conn)
        await copy(conn)
        await big_result(conn)
        await notices_and_notifications(conn, dsn)
        await cancel(conn)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""Refusals seen by asyncpg (binary protocol, prepared statements) through a
gateway running cordon-test-phases. Usage: refusals_asyncpg.py DSN"""
import asyncio
import sys

import asyncpg


async def main(dsn):
    conn = await asyncpg.connect(dsn, timeout=10)
    await conn.execute("DROP TABLE IF EXISTS apg_tx; CREATE TABLE apg_tx (x int)")
    # Prepared while allowed; its every Execute is refused.
    stmt = await conn.prepare("SELECT /*refuse-execute*/ 1")
    tx = conn.transaction()
    await tx.start()
    await conn.execute("INSERT INTO apg_tx VALUES (1)")
    try:
        await stmt.fetchval()
        print("execute ok")
    except asyncpg.PostgresError as e:
        print(f"execute error sqlstate={e.sqlstate} refused_by_test_phase={'test phase refused' in str(e)}")
    # The transaction failed on the server too: the next statement is refused
    # by PostgreSQL itself, and it can only roll back.
    try:
        await conn.fetchval("SELECT 1")
    except asyncpg.PostgresError as e:
        print(f"next statement sqlstate={e.sqlstate}")
    await tx.rollback()
    print("rows after rollback", await conn.fetchval("SELECT count(*) FROM apg_tx"))
    # A refused Parse (prepare) leaves the session usable.
    try:
        await conn.prepare("SELECT /*refuse*/ 2")
    except asyncpg.PostgresError as e:
        print(f"prepare error sqlstate={e.sqlstate}")
    print("after", await conn.fetchval("SELECT 40 + $1::int", 2))
    # Binary results through the rewrite phase.
    print("row", tuple(await conn.fetchrow("SELECT $1::text, 'cordon-secret'::text", "public")))
    await conn.close()


asyncio.run(main(sys.argv[1]))

"""Runs one query with asyncpg and prints the first row tab-separated.
Usage: asyncpg_query.py DSN SQL"""
import asyncio
import sys

import asyncpg


async def main(dsn, sql):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await conn.fetchrow(sql)
        print("\t".join(str(v) for v in row.values()))
    finally:
        await conn.close()


try:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
except asyncpg.PostgresError as e:
    print(f"sqlstate={e.sqlstate} error={e}", file=sys.stderr)
    sys.exit(1)

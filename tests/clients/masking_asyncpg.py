"""Runs each SQL with asyncpg (binary results for most types) and prints
every row and error. Usage: masking_asyncpg.py DSN SQL..."""
import asyncio
import sys

import asyncpg


async def main(dsn, statements):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for sql in statements:
            try:
                for row in await conn.fetch(sql):
                    print(f"row: {tuple(row.values())!r}")
            except asyncpg.PostgresError as e:
                print(f"error: sqlstate={e.sqlstate} message={e} detail={getattr(e, 'detail', None)}")
    finally:
        await conn.close()


asyncio.run(main(sys.argv[1], sys.argv[2:]))

"""What the psycopg and asyncpg scenarios share, so both send the same values:
the 1,000,000-row query, parameter values with the casts they are sent under,
and how a returned value is printed."""
from datetime import datetime, timezone
from decimal import Decimal

BIG = "SELECT g, md5(g::text) FROM generate_series(1, 1000000) g"

VALUES = (
    -42,
    9007199254740993,
    "héllo 'quoted'",
    Decimal("-12345.6780"),
    datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=timezone.utc),
    b"\x00\x01\xfe\xff",
    True,
    [1, None, -3],
    ["a", "b c", ""],
    None,
    0.1,
)
CASTS = ("int4", "int8", "text", "numeric", "timestamptz", "bytea", "bool", "int4[]", "text[]", "int4", "float8")


def show(value):
    """A value's repr, with datetimes in UTC (the session time zone is the server's)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, memoryview):
        value = bytes(value)
    return repr(value)

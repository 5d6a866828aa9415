"""A fast-path function call through libpq's PQfn, as libpq's large-object API makes them.

Usage: libpq_fast_path.py CONNINFO FUNCTION-OID int|text ARG...
The third argument says how to read the result; each ARG is `int:N` (a 4-byte integer)
or `text:...` (bytes). Prints `result: VALUE` or `failed: MESSAGE`.
"""
import ctypes
import sys

pq = ctypes.CDLL("libpq.so.5")
pq.PQconnectdb.restype = ctypes.c_void_p
pq.PQconnectdb.argtypes = [ctypes.c_char_p]
pq.PQstatus.argtypes = [ctypes.c_void_p]
pq.PQerrorMessage.argtypes = [ctypes.c_void_p]
pq.PQerrorMessage.restype = ctypes.c_char_p
pq.PQresultStatus.argtypes = [ctypes.c_void_p]
pq.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
pq.PQresultErrorMessage.restype = ctypes.c_char_p
pq.PQfinish.argtypes = [ctypes.c_void_p]


class Value(ctypes.Union):
    _fields_ = [("ptr", ctypes.c_void_p), ("integer", ctypes.c_int)]


class Arg(ctypes.Structure):
    _fields_ = [("len", ctypes.c_int), ("isint", ctypes.c_int), ("u", Value)]


pq.PQfn.restype = ctypes.c_void_p
pq.PQfn.argtypes = [
    ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
    ctypes.c_int, ctypes.POINTER(Arg), ctypes.c_int,
]
PGRES_COMMAND_OK = 1

conninfo, oid, result_kind, raw_args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
conn = pq.PQconnectdb(conninfo.encode())
if pq.PQstatus(conn) != 0:
    sys.exit("connecting failed: " + pq.PQerrorMessage(conn).decode())

args = (Arg * max(1, len(raw_args)))()
buffers = []
for i, raw in enumerate(raw_args):
    kind, _, value = raw.partition(":")
    if kind == "int":
        args[i].len, args[i].isint, args[i].u.integer = 4, 1, int(value)
    else:
        data = value.encode()
        buffer = ctypes.create_string_buffer(data, len(data))
        buffers.append(buffer)
        args[i].len, args[i].isint = len(data), 0
        args[i].u.ptr = ctypes.cast(buffer, ctypes.c_void_p).value

length = ctypes.c_int(0)
if result_kind == "int":
    result = ctypes.c_int(0)
    res = pq.PQfn(conn, oid, ctypes.byref(result), ctypes.byref(length), 1, args, len(raw_args))
    value = str(result.value)
else:
    result = ctypes.create_string_buffer(65536)
    res = pq.PQfn(conn, oid, result, ctypes.byref(length), 0, args, len(raw_args))
    value = result.raw[: length.value].decode(errors="replace")
if pq.PQresultStatus(res) == PGRES_COMMAND_OK:
    print("result:", value)
else:
    print("failed:", pq.PQresultErrorMessage(res).decode().strip())
pq.PQfinish(conn)

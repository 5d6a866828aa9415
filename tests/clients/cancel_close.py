"""Whether the connection carrying a CancelRequest stays open until the server has
taken the request. libpq and asyncpg wait for that close before they send the next
command ("without this delay, we might issue another command only to find that our
cancel zaps that command instead", libpq): closed any earlier, a late cancel can
cancel the next command. The postmaster is stopped (SIGSTOP) while the request is
sent, so a close within the second that follows cannot come from the server.
Usage: cancel_close.py DSN POSTMASTER_PID"""
import asyncio
import os
import signal
import socket
import struct
import sys
from urllib.parse import urlsplit

import asyncpg


def send_cancel(host, port, pid, secret):
    """Sends a CancelRequest; True if the connection is closed within a second."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(struct.pack("!iiii", 16, 80877102, pid, secret))
        s.settimeout(1.0)
        try:
            return s.recv(1) == b""
        except (socket.timeout, ConnectionResetError):
            return False


async def main(dsn, postmaster):
    url = urlsplit(dsn)
    conn = await asyncpg.connect(dsn, timeout=10)
    # asyncpg keeps the key from BackendKeyData where its own cancel reads it.
    pid, secret = conn._protocol.backend_pid, conn._protocol.backend_secret
    sleeper = asyncio.ensure_future(conn.execute("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.3)
    os.kill(postmaster, signal.SIGSTOP)
    try:
        closed = await asyncio.to_thread(send_cancel, url.hostname, url.port, pid, secret)
    finally:
        os.kill(postmaster, signal.SIGCONT)
    print(f"closed before the server could take it {closed}")
    try:
        await asyncio.wait_for(sleeper, 20)
        print("query finished")
    except asyncpg.QueryCanceledError as e:
        print(f"query sqlstate={e.sqlstate}")
    await conn.close()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))

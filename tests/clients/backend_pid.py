"""Whether the backend pid a client learns at startup (BackendKeyData) is its server
process's: the pid pg_backend_pid() returns, pg_stat_activity lists and a
NotificationResponse for the session's own NOTIFY names. Applications use it to skip
their own notifications and to find or terminate their session.
Usage: backend_pid.py DSN"""
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=10) as conn:
    pid = conn.info.backend_pid
    conn.execute("LISTEN own_channel")
    conn.execute("NOTIFY own_channel, 'from myself'")
    notification = next(conn.notifies(timeout=5, stop_after=1))
    server_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    listed = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
    print(f"backend_pid is pg_backend_pid() {pid == server_pid}")
    print(f"backend_pid in pg_stat_activity {listed}")
    print(f"own notification names backend_pid {notification.pid == pid}")

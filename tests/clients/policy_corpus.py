"""Runs policy corpus cases for one identity and prints what happened, as JSON.
Usage: policy_corpus.py INPUT.json

INPUT holds {"dsn": ..., "admin_dsn": ..., "cases": [...]}, each case {"name", "protocol",
"messages", "sql", "steps", "copy_data", "effect", "options"} with every placeholder already
filled in.
For each case: the effect query over admin_dsn (the superuser, unix socket: never
intercepted), the case on a fresh connection over dsn, the effect query again. Prints one
JSON object per case: {"name", "errors": [{"step", "sqlstate", "message", "detail", "hint"}],
"effect_before", "effect_after"}. Uses libpq through psycopg's pq module, so that every protocol message is
the one the case asks for: PQexec for a simple Query (several statements, COPY), Parse,
Bind/Execute and Close of named statements, and libpq's pipeline mode for pipelines."""
import json
import sys

from psycopg import pq

S = pq.ExecStatus
F = pq.DiagnosticField


def connect(dsn):
    conn = pq.PGconn.connect(dsn.encode())
    if conn.status != pq.ConnStatus.OK:
        raise RuntimeError(conn.get_error_message().strip())
    return conn


def text(value):
    return None if value is None else bytes(value).decode("utf-8", "replace")


def error_of(step, res=None, conn=None):
    if res is None:
        return {"step": step, "sqlstate": "connection", "message": conn.get_error_message().strip()}
    return {
        "step": step,
        "sqlstate": text(res.error_field(F.SQLSTATE)) or "none",
        "message": text(res.error_field(F.MESSAGE_PRIMARY)) or "",
        "detail": text(res.error_field(F.MESSAGE_DETAIL)),
        "hint": text(res.error_field(F.MESSAGE_HINT)),
    }


def effect(admin, sql):
    """The effect query's rows, tab- and newline-separated."""
    res = admin.exec_(sql.encode())
    if res.status != S.TUPLES_OK:
        return "effect query failed: " + error_of(0, res)["message"]
    return "\n".join(
        "\t".join(text(res.get_value(r, c)) or "NULL" for c in range(res.nfields))
        for r in range(res.ntuples)
    )


def drain(conn, step, copy_data, errors):
    """Reads every result of the request in flight, feeding or draining COPY."""
    while True:
        res = conn.get_result()
        if res is None:
            return
        if res.status == S.COPY_OUT:
            while conn.get_copy_data(0)[0] != -1:
                pass
        elif res.status == S.COPY_IN:
            conn.put_copy_data((copy_data or "").encode())
            conn.put_copy_end()
        elif res.status == S.FATAL_ERROR:
            errors.append(error_of(step, res))
        if conn.status != pq.ConnStatus.OK:
            errors.append(error_of(step, conn=conn))
            return


def split(step, sql):
    """`parse NAME: SQL`, `exec NAME`, `close NAME`, `query: SQL`, `sync`."""
    head, _, rest = step.partition(":")
    words = head.split()
    kind = words[0]
    name = words[1].encode() if len(words) > 1 else b""
    return kind, name, rest.strip().replace("{sql}", sql).encode()


def run_extended(conn, case, errors):
    """Each step on its own, followed by a Sync (libpq's synchronous calls)."""
    for i, step in enumerate(case["steps"]):
        kind, name, sql = split(step, case["sql"])
        if kind == "sync":
            continue
        res = {
            "parse": lambda: conn.prepare(name, sql),
            "exec": lambda: conn.exec_prepared(name, []),
            "close": lambda: conn.close_prepared(name),
            "query": lambda: conn.exec_params(sql, []),
        }[kind]()
        if res.status == S.FATAL_ERROR:
            errors.append(error_of(i, res))


def run_pipeline(conn, case, errors):
    """Every step sent in libpq's pipeline mode; `sync` ends a pipeline."""
    steps = list(case["steps"])
    if not steps or steps[-1] != "sync":
        steps.append("sync")
    conn.enter_pipeline_mode()
    for step in steps:
        kind, name, sql = split(step, case["sql"])
        if kind == "sync":
            conn.pipeline_sync()
        elif kind == "parse":
            conn.send_prepare(name, sql)
        elif kind == "exec":
            conn.send_query_prepared(name, [])
        elif kind == "close":
            conn.send_close_prepared(name)
        elif kind == "query":
            conn.send_query_params(sql, [])
    for i, step in enumerate(steps):
        if step == "sync":
            res = conn.get_result()
            if res is None or res.status != S.PIPELINE_SYNC:
                errors.append(error_of(i, res, conn))
                return
            continue
        while (res := conn.get_result()) is not None:
            if res.status == S.FATAL_ERROR:
                errors.append(error_of(i, res))
        if conn.status != pq.ConnStatus.OK:
            errors.append(error_of(i, conn=conn))
            return
    conn.exit_pipeline_mode()


def with_options(dsn, options):
    """The connection string with libpq's `options` (the startup parameter) added."""
    if not options:
        return dsn
    quoted = options.replace("\\", "\\\\").replace("'", "\\'")
    return f"{dsn} options='{quoted}'"


def run_case(dsn, case):
    errors = []
    try:
        conn = connect(with_options(dsn, case.get("options")))
    except Exception as e:  # noqa: BLE001 - reported, never fatal for the others
        return [{"step": 0, "sqlstate": "connection", "message": str(e)}]
    try:
        if case["protocol"] == "simple":
            for i, sql in enumerate(case["messages"]):
                conn.send_query(sql.encode())
                drain(conn, i, case.get("copy_data"), errors)
                if conn.status != pq.ConnStatus.OK:
                    break
        elif case["protocol"] == "extended":
            run_extended(conn, case, errors)
        else:
            run_pipeline(conn, case, errors)
    except Exception as e:  # noqa: BLE001
        errors.append({"step": -1, "sqlstate": "client", "message": f"{type(e).__name__}: {e}"})
    finally:
        conn.finish()
    return errors


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    admin = connect(spec["admin_dsn"])
    for case in spec["cases"]:
        before = effect(admin, case["effect"]) if case.get("effect") else None
        errors = run_case(spec["dsn"], case)
        after = effect(admin, case["effect"]) if case.get("effect") else None
        print(json.dumps({
            "name": case["name"],
            "errors": errors,
            "effect_before": before,
            "effect_after": after,
        }), flush=True)
    admin.finish()


main()

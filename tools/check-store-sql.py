#!/usr/bin/env python3
"""Checks the fleet store's SQL on a current ClickHouse engine, embedded by chDB (PyPI `chdb`).

  tools/check-store-sql.py [--rows FOLDER] SCHEMA.sql QUERY.sql…   (exit 0 when every statement runs)

The tests run the same schema and queries on Debian's ClickHouse server (18.16); this runs them
on the engine chDB embeds, so the SQL is known to work at both ends of the releases in use. It
creates the schema in a temporary database folder, inserts one row into each table (so that the
materialized views run), then runs each query and prints its row count. With --rows, it also
reads the sensor's RowBinary rows in FOLDER/TABLE.rowbinary into their tables by the columns'
names and types, and prints each table's count.
"""
import os, sys, tempfile

try:
    import chdb
    from chdb import session
except ImportError:
    sys.exit("chdb is not installed (tools/setup.sh installs it: pip install chdb)")

ROWS = {
    "syn": "sensor, event_id, ts, client_net, os_class, os_family, path_tunnel",
    "synack": "sensor, event_id, ts, client_net, os_class",
    "http": "sensor, event_id, ts, client_net, os_class, os_family, ua_family, reasons, flagged",
    "alert": "sensor, event_id, ts, client_net, reasons, flagged",
    "conn": "sensor, event_id, ts, client_net, os_class, stage, ending, tags",
    "flowstats": "sensor, event_id, ts, client_net, tunnel_rules",
    "stats": "sensor, event_id, ts, packets",
    "tls": "sensor, event_id, ts, client_net, tls_family, tls_library",
}
VALUES = {
    "syn": "('a', 'a-1-0', now(), '192.0.2.0/24', 'Linux', 'Linux-like', 1)",
    "synack": "('a', 'a-1-1', now(), '192.0.2.0/24', 'Linux')",
    "http": "('a', 'a-1-2', now(), '192.0.2.0/24', 'Linux', 'Linux-like', 'Windows', ['os_mismatch'], 1)",
    "alert": "('a', 'a-1-3', now(), '192.0.2.0/24', ['os_mismatch'], 1)",
    "conn": "('a', 'a-1-4', now(), '192.0.2.0/24', 'Linux', 'post_ack', 'reset', ['single_rst'])",
    "flowstats": "('a', 'a-1-5', now(), '192.0.2.0/24', ['opaque'])",
    "stats": "('a', 'a-1-6', now(), 100)",
    "tls": "('a', 'a-1-7', now(), '192.0.2.0/24', 'Go', 'Go')",
}


def insert_rows(db, folder):
    for name in sorted(os.listdir(folder)):
        table = name.removesuffix(".rowbinary")
        columns = db.query(f"SELECT name, type FROM system.columns WHERE database = 'synprint' AND table = '{table}' "
                           "ORDER BY position", "TabSeparated").bytes().decode().splitlines()
        structure = ", ".join(" ".join(column.split("\t")) for column in columns)
        path = os.path.abspath(os.path.join(folder, name))
        before = int(db.query(f"SELECT count() FROM synprint.{table}", "CSV").bytes().decode())
        db.query(f"INSERT INTO synprint.{table} SELECT * FROM file('{path}', 'RowBinary', '{structure}')")
        after = int(db.query(f"SELECT count() FROM synprint.{table}", "CSV").bytes().decode())
        print(f"{table}: {after - before} rows read")


def main():
    arguments = sys.argv[1:]
    rows = None
    if arguments[:1] == ["--rows"] and len(arguments) > 1:
        rows, arguments = arguments[1], arguments[2:]
    if not arguments:
        sys.exit(__doc__)
    sys.argv = [sys.argv[0]] + arguments
    db = session.Session(tempfile.mkdtemp(prefix="synprint-chdb-"))
    version = db.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
    for statement in open(sys.argv[1]).read().split(";\n"):
        if statement.strip():
            db.query(statement)
    for table, columns in ROWS.items():
        db.query(f"INSERT INTO synprint.{table} ({columns}) VALUES {VALUES[table]}")
    views = db.query("SELECT sum(connections) FROM synprint.conn_15m", "CSV").bytes().decode().strip()
    if views != "1":
        sys.exit(f"conn_15m holds {views!r} connections after one conn row")
    if rows:
        insert_rows(db, rows)
    for path in sys.argv[2:]:
        answer = db.query(open(path).read(), "TabSeparated").bytes().decode()
        print(f"{path}: {len(answer.splitlines())} rows")
    print(f"ClickHouse {version} (chDB): the schema and {len(sys.argv) - 2} queries ran")


if __name__ == "__main__":
    main()

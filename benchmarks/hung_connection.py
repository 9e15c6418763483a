"""How long a request in flight waits when the network silently drops packets, with and without
``runtime.engine``'s bounds on an established connection (TCP keepalives + ``tcp_user_timeout``).

A throwaway cluster; the partition itself is tests/adversarial/partition_probe.py, run as root in
a network namespace (``unshare -n -m``): a ``TcpProxy`` on the namespace's loopback forwards to the
cluster's Unix socket, and nftables drops every packet to and from the proxy's port for
``--partition`` seconds — no reset, no ICMP: what a partition, a failover that moved the address or
a NAT that forgot the flow looks like. For psycopg 3, psycopg2 and asyncpg, through
``runtime.engine`` (default settings) and through SQLAlchemy's defaults (``sqlalchemy.create_engine(url)``,
``create_async_engine(url)`` for asyncpg), at once:

* in flight: a read the server acknowledged before the partition and is still running (held by a
  lock an admin session releases when the network heals): the client only reads;
* sent after: ``SELECT 1`` on a connection checked out before the partition, sent after it began:
  the kernel retransmits it.

Reported per request: how long it waited from the start of the partition, and how it ended.
Needs root and nftables. Usage: ``.venv/bin/python benchmarks/hung_connection.py [--partition 60]
[--after-heal 90]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from poolwarden.testing.cluster import PostgresCluster, find_pg_bin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.adversarial.contract import netns_unavailable, run_in_netns  # noqa: E402

PROBE = ROOT / "tests" / "adversarial" / "partition_probe.py"
ENGINES = {"bounded": "`runtime.engine` (defaults)", "plain": "SQLAlchemy defaults"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", type=float, default=60.0, help="seconds the network drops packets")
    parser.add_argument("--after-heal", type=float, default=90.0, help="seconds to wait for hung requests after")
    args = parser.parse_args()
    reason = netns_unavailable("nft")
    if reason:
        sys.exit(f"hung_connection: {reason}")
    with PostgresCluster(find_pg_bin()) as cluster:
        cfg = {"sockets": str(cluster.sockets), "port": cluster.port, "dbname": "postgres",
               "partition": args.partition, "deadline": args.partition, "after_heal": args.after_heal,
               "in_flight": 1}
        proc = run_in_netns(PROBE, json.dumps(cfg), timeout=args.partition + args.after_heal + 180)
    if proc.returncode != 0:
        sys.exit(f"hung_connection: the probe failed: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    healed = report["partition"]
    print(f"partition {healed:.1f} s; breakers (runtime.engine): {report['breakers']}")
    print("| driver | engine | request | waited | how it ended |")
    print("|---|---|---|---:|---|")
    ended = {(r["driver"], r["engine"], r["kind"]): r for r in report["after_heal"]}
    for driver in ("psycopg", "psycopg2", "asyncpg"):
        for engine, label in ENGINES.items():
            for kind in ("in-flight", "sent-after"):
                r = ended[(driver, engine, kind)]
                if r["outcome"] == "error":
                    how = f"{r['classified']}: {r['error'].splitlines()[0][:90]}"
                    waited = f"{r['waited']:.1f} s"
                elif r["outcome"] == "ok":
                    how = f"answered after the network healed ({r['waited'] - healed:.1f} s later)"
                    waited = f"{r['waited']:.1f} s"
                else:
                    how = f"still blocked {args.after_heal:g} s after the network healed"
                    waited = f"> {healed + args.after_heal:.0f} s"
                print(f"| {driver} | {label} | {kind} | {waited} | {how} |")


if __name__ == "__main__":
    main()

"""`python -m bench [--quick] [--only relay|crypto]`: the relay benchmark, then the crypto one.

The relay benchmark prints one table (interleaved rounds, medians and ranges, Hearth's ratios
to the tuned python-socketio relay and to Node's socket.io) and writes the figures to
``bench/results/<timestamp>.json``. With ``--quick`` the run is short (one round, one
topology) and the output ends with exactly one line of key figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import crypto_bench, relay


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations, for a smoke run")
    parser.add_argument(
        "--only", choices=("relay", "crypto"), help="run one benchmark instead of both"
    )
    parser.add_argument(
        "--servers",
        default="",
        help=f"comma-separated subset of {','.join(relay.SERVERS)} (default: all; with --quick, "
        "all but hearth-2proc)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample Hearth with py-spy into this file (collapsed stacks; pip install py-spy)",
    )
    args = parser.parse_args()
    plan = relay.QUICK if args.quick else relay.FULL
    servers = tuple(s for s in args.servers.split(",") if s) or plan.servers
    if not set(servers) <= set(relay.SERVERS):
        parser.error(f"--servers takes some of {','.join(relay.SERVERS)}")
    if args.only != "relay":
        crypto_bench.main(quick=args.quick)
        print()
    if args.only == "crypto":
        return
    data = relay.run_all(plan, servers=servers, profile=args.profile)
    path = relay.save(data)
    print(relay.render(plan, data))
    print(f"figures: {path.relative_to(relay.REPO)}")
    if args.quick and {"hearth", "tuned", "node"} <= set(servers):
        print(relay.quick_line(plan, data))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

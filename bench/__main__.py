"""`python -m bench [--quick] [--only relay|crypto|page]`: the crypto benchmark, the relay one,
then the page one (bench/page.py: first load, messages shown, in real Chromium).

The relay benchmark prints one table (interleaved rounds, medians and ranges, Hearth's ratios
to the tuned python-socketio relay and to Node's socket.io) and writes the figures to
``bench/results/<timestamp>.json``. With ``--quick`` the run is short (two interleaved rounds of
short phases, one topology, Hearth and the three baselines) and the output ends with exactly one
line of key figures: deliveries per server CPU-second, Hearth over each baseline.
``--generators N`` splits the relay benchmark's load generator across N processes (default: one
per core beside the server's); figures taken while a generator's core was above 85 % are
flagged in the table.
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
        "--only", choices=("relay", "crypto", "page"), help="run one benchmark instead of all"
    )
    parser.add_argument(
        "--servers",
        default="",
        help=f"comma-separated subset of {','.join(relay.SERVERS)} (default: all; with --quick, "
        "all but hearth-2proc, hearth-pg and hearth-pg-2node)",
    )
    parser.add_argument(
        "--generators",
        type=int,
        help="load generator processes for the relay benchmark, each pinned to its own core "
        "beside the server's while there are enough, else sharing them (default: one per core "
        "beside the server's, at least 1)",
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
    fewest_rooms = min(t.rooms for t in plan.topologies)
    if args.generators is not None and not 1 <= args.generators <= fewest_rooms:
        parser.error(f"--generators takes 1 to {fewest_rooms} (a process holds whole rooms)")
    if args.only == "page":
        run_page_benchmark(args.quick)
        return
    if args.only != "relay":
        crypto_bench.main(quick=args.quick)
        print()
    if args.only == "crypto":
        return
    data = relay.run_all(plan, servers=servers, profile=args.profile, generators=args.generators)
    path = relay.save(data)
    print(relay.render(plan, data))
    print(f"figures: {path.relative_to(relay.REPO)}")
    if args.quick and {"hearth", "tuned", "tuned+coalescing", "node"} <= set(servers):
        print(relay.quick_line(plan, data))
    sys.stdout.flush()
    if args.only is None:
        print()
        run_page_benchmark(args.quick)


def run_page_benchmark(quick: bool) -> None:
    from bench import page  # needs Playwright and Chromium, which the others do not

    page.main(quick=quick)


if __name__ == "__main__":
    main()

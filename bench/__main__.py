"""`python -m bench [--quick]`: run every benchmark in turn."""

from __future__ import annotations

import argparse

from bench import crypto_bench


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations, for a smoke run")
    args = parser.parse_args()
    crypto_bench.main(quick=args.quick)


if __name__ == "__main__":
    main()

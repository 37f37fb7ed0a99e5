"""``hearth serve`` for bench/churn.py: ``shipped`` runs it as it is; ``default`` turns Hearth's
garbage-collector tuning off, so that Python's default settings serve as the baseline.

    python -m bench.churn_server shipped|default CONFIG
"""

from __future__ import annotations

import gc
import sys

from server.cli import main


def _default_gc() -> None:
    """No ``gc.freeze()`` and no threshold change: whatever Hearth asks, the defaults stay."""
    gc.freeze = lambda: None
    gc.set_threshold = lambda *thresholds: None  # type: ignore[assignment]


if __name__ == "__main__":
    mode, config = sys.argv[1], sys.argv[2]
    if mode == "default":
        _default_gc()
    elif mode != "shipped":
        raise SystemExit(f"unknown mode {mode!r}: shipped or default")
    sys.exit(main(["serve", "--config", config]))

"""A strict reader of the Prometheus text exposition format 0.0.4, as Hearth writes it: each
family opens with ``# HELP`` then ``# TYPE``, its samples follow, no timestamps, no blank lines.
Anything else, or a histogram whose buckets are not cumulative up to ``+Inf`` = ``_count``, is
an ``AssertionError`` naming the line."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"({NAME})(?:\{{(.*)\}})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN")
KINDS = {"counter", "gauge", "histogram", "summary", "untyped"}
Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    name: str
    help: str
    kind: str = ""
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, sample: str | None = None, **labels: str) -> float:
        return self.samples[(sample or self.name, tuple(sorted(labels.items())))]


def parse(text: str) -> dict[str, Family]:
    assert text.endswith("\n"), "the exposition must end with a line feed"
    families: dict[str, Family] = {}
    current: Family | None = None
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert re.fullmatch(NAME, name), where
            assert name not in families, f"{where}: a family twice"
            current = families[name] = Family(name, help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            assert current is not None, f"{where}: TYPE without HELP"
            assert current.name == name, f"{where}: TYPE without HELP"
            assert not current.kind, f"{where}: a second TYPE"
            assert not current.samples, f"{where}: TYPE after samples"
            assert kind in KINDS, where
            current.kind = kind
        else:
            assert current is not None, f"{where}: a sample before HELP/TYPE"
            assert current.kind, f"{where}: a sample before HELP/TYPE"
            match = SAMPLE.fullmatch(line)
            assert match is not None, where
            name, label_text, value_text = match.groups()
            assert name in _sample_names(current), f"{where}: not of family {current.name}"
            labels = _labels(label_text or "", where)
            assert VALUE.fullmatch(value_text), f"{where}: bad value"
            key = (name, labels)
            assert key not in current.samples, f"{where}: duplicate series"
            current.samples[key] = float(value_text)
    for family in families.values():
        assert family.kind, f"{family.name}: no TYPE"
        assert family.samples, f"{family.name}: no samples"
        if family.kind == "histogram":
            _check_histogram(family)
    return families


def _sample_names(family: Family) -> set[str]:
    if family.kind == "histogram":
        return {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    return {family.name}


def _labels(text: str, where: str) -> Labels:
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = LABEL.match(text, position)
        assert match is not None, f"{where}: bad label at {text[position:]!r}"
        pairs.append((match.group(1), match.group(2)))
        position = match.end()
        if position < len(text):
            assert text[position] == ",", f"{where}: labels must be separated by commas"
            position += 1
    names = [name for name, _ in pairs]
    assert len(set(names)) == len(names), f"{where}: a label twice"
    return tuple(sorted(pairs))


def _check_histogram(family: Family) -> None:
    name = family.name
    buckets = [
        (labels, value)
        for (sample, labels), value in family.samples.items()
        if sample.endswith("_bucket")
    ]
    assert buckets, f"{name}: no buckets"
    bounds: list[float] = []
    for labels, _ in buckets:
        les = [value for key, value in labels if key == "le"]
        assert len(les) == 1, f"{name}: each bucket has exactly le"
        assert len(labels) == 1, f"{name}: each bucket has exactly le"
        assert VALUE.fullmatch(les[0]), f"{name}: le={les[0]!r}"
        bounds.append(float(les[0]))
    assert bounds == sorted(set(bounds)), f"{name}: le order"
    assert bounds[-1] == math.inf, f"{name}: the last bucket must be +Inf"
    counts = [value for _, value in buckets]
    assert counts == sorted(counts), f"{name}: buckets must be cumulative"
    assert counts[-1] == family.value(f"{name}_count"), f"{name}: +Inf bucket != _count"
    assert family.value(f"{name}_sum") >= 0

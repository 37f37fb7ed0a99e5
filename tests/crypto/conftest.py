"""Shared fixtures of the crypto tests: vector files and a small group at epoch 1."""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.commits import EpochCommit, build_commit
from crypto.keys import MemberKeys

VECTORS = Path(__file__).parents[1] / "vectors"


def load_vectors(name: str) -> Any:
    """A JSON file of ``tests/vectors``."""
    return json.loads((VECTORS / name).read_text())


@pytest.fixture(scope="session")
def vectors() -> Callable[[str], Any]:
    return load_vectors


@dataclass(frozen=True)
class Group:
    group_id: bytes
    members: tuple[MemberKeys, ...]
    commit: EpochCommit
    epoch_secret: bytes


def make_group(size: int = 3, *, epoch: int = 1) -> Group:
    members = tuple(MemberKeys.generate() for _ in range(size))
    group_id = os.urandom(16)
    commit, secret = build_commit(
        group_id=group_id,
        epoch=epoch,
        prev_commit_hash=bytes(32),
        committer=members[0],
        roster=[m.entry for m in members],
    )
    return Group(group_id, members, commit, secret)


@pytest.fixture(scope="session")
def group() -> Group:
    """Three members at epoch 1 (session-wide: hypothesis tests reuse it)."""
    return make_group()


def wycheproof_params(name: str) -> list[Any]:
    """Every test of a Wycheproof file as one parameter, with its group's fields merged in."""
    data = load_vectors(name)
    return [
        pytest.param({**group, **test}, id=f"tcId{test['tcId']}")
        for group in data["testGroups"]
        for test in group["tests"]
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Data-driven vectors: a module sets ``WYCHEPROOF = {argument name: file name}`` and each
    test taking that argument runs once per vector of the file, named by its tcId."""
    for argname, filename in getattr(metafunc.module, "WYCHEPROOF", {}).items():
        if argname in metafunc.fixturenames:
            metafunc.parametrize(argname, wycheproof_params(filename))


@pytest.fixture(scope="session")
def new_group() -> Callable[..., Group]:
    """Factory for fresh groups: ``new_group(size, epoch=...)``."""
    return make_group

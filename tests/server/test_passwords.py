from __future__ import annotations

import asyncio
from typing import Any

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from server.passwords import PasswordChecker, PasswordPolicyError, check_password_length
from tests.server.conftest_helpers_auth import CountingHasher, fast_hasher

PASSWORD = "a long enough passphrase"


async def test_a_hash_verifies_its_password_only() -> None:
    checker = PasswordChecker(2, fast_hasher())
    stored = await checker.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert await checker.verify(stored, PASSWORD) == (True, None)
    assert await checker.verify(stored, PASSWORD + "!") == (False, None)
    assert await checker.verify(stored, "") == (False, None)


async def test_a_corrupt_stored_hash_fails_closed() -> None:
    checker = PasswordChecker(1, fast_hasher())
    assert await checker.verify("not a hash", PASSWORD) == (False, None)
    assert await checker.verify("$argon2id$v=19$m=8,t=1,p=1$garbage", PASSWORD) == (False, None)


async def test_the_default_hasher_is_argon2_cffis_defaults() -> None:
    stored = await PasswordChecker(1).hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_a_hash_with_old_parameters_is_redone_on_success() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    new = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    stored = old.hash(PASSWORD)
    checker = PasswordChecker(1, new)
    ok, rehashed = await checker.verify(stored, PASSWORD)
    assert ok
    assert rehashed is not None
    assert rehashed.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert await checker.verify(rehashed, PASSWORD) == (True, None)
    # A wrong password never produces a new hash.
    assert await checker.verify(stored, "wrong") == (False, None)


async def test_no_more_than_max_concurrent_verifications_run_at_once() -> None:
    hasher = CountingHasher(pause=0.05)
    checker = PasswordChecker(2, hasher)
    stored = await checker.hash(PASSWORD)
    results = await asyncio.gather(*(checker.verify(stored, PASSWORD) for _ in range(8)))
    assert all(ok for ok, _ in results)
    assert hasher.most_at_once == 2


async def test_an_unknown_user_costs_a_real_verification() -> None:
    hasher = CountingHasher()
    checker = PasswordChecker(1, hasher)
    await checker.verify_unknown(PASSWORD)
    await checker.verify_unknown(PASSWORD)
    assert hasher.verifications == 2


async def test_the_event_loop_keeps_running_while_hashing() -> None:
    hasher = CountingHasher(pause=0.2)
    checker = PasswordChecker(1, hasher)
    stored = fast_hasher().hash(PASSWORD)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await checker.verify(stored, PASSWORD)
    ticker.cancel()
    assert ticks >= 5


def test_max_concurrent_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PasswordChecker(0)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("x" * 11, "at least 12 characters"),
        ("", "at least 12 characters"),
        ("x" * 65, "longer than 64 characters"),
    ],
)
def test_password_length_limits_say_what_is_wrong(password: str, message: str) -> None:
    with pytest.raises(PasswordPolicyError, match=message) as caught:
        check_password_length(password, min_length=12, max_length=64)
    assert password not in str(caught.value) or not password


def test_passwords_within_the_limits_are_accepted() -> None:
    check_password_length("x" * 12, min_length=12, max_length=64)
    check_password_length("x" * 64, min_length=12, max_length=64)


@settings(max_examples=25, deadline=None)
@given(password=st.text(max_size=64))
def test_any_password_round_trips(password: str) -> None:
    async def round_trip() -> Any:
        checker = PasswordChecker(1, fast_hasher())
        stored = await checker.hash(password)
        return await checker.verify(stored, password), await checker.verify(stored, password + "x")

    assert asyncio.run(round_trip()) == ((True, None), (False, None))

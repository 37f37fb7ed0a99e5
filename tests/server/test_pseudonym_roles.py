"""Pseudonyms cannot pass for a role or for a label the page writes itself."""

from __future__ import annotations

import pytest

from server.client import HearthRefused
from server.errors import Code, HearthError
from server.pseudonyms import normalise_pseudonym
from tests.conftest import Clients, facilitator

IMPERSONATIONS = (
    "Facilitator",
    "Quiet Fox (facilitator)",
    "FACILITAT0R Sam",  # digit look-alike
    "F\u0430cilitator",  # Cyrillic a
    "\uff26acilitator",  # fullwidth F, folded by NFKC
    "TheModerator",
    "Moderator Sam",
    "Admin",
    "admin2",
    "Site Administrator",
    "Host Birch",
    "H0st Birch",
    "mod",
    "Staff Member",
    "System",
    "Official Voice",
    "Organiser Kim",
    "You",
    "Y0U",
    "Former member",
    "former_member",
)
HARMLESS = ("Ghost Fox", "Badminton Fan", "Modest Owl", "Hostess Rose", "Young Oak", "Your Friend")


@pytest.mark.parametrize("name", IMPERSONATIONS)
def test_role_words_and_page_labels_are_refused(name: str) -> None:
    with pytest.raises(HearthError) as caught:
        normalise_pseudonym(name)
    assert caught.value.code.value == "pseudonym_invalid"


@pytest.mark.parametrize("name", HARMLESS)
def test_names_that_only_look_like_role_words_are_kept(name: str) -> None:
    assert normalise_pseudonym(name) == name


def test_a_facilitator_may_carry_its_real_role_but_not_a_page_label() -> None:
    assert normalise_pseudonym("Host Heron", may_name_role=True) == "Host Heron"
    with pytest.raises(HearthError):
        normalise_pseudonym("You", may_name_role=True)


async def test_joining_with_a_role_in_the_name_is_refused(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Roles", pseudonym="Host Heron")  # a facilitator's own
    token = await fac.create_invite(group)
    ana = make_client()
    await ana.connect()
    for name in ("Facilitator Fox", "Quiet Fox (moderator)", "Host Birch", "You"):
        with pytest.raises(HearthRefused) as caught:
            await ana.join(token, pseudonym=name)
        assert caught.value.code == "pseudonym_invalid", name
        assert "role" in caught.value.message or "page" in caught.value.message
    _, state = await ana.join(token, pseudonym="Ghost Fox")
    assert state == "pending"


@pytest.mark.parametrize(
    "name", ["Tú", "antiguo miembro", "أنت", "عضو سابق", "Lucía Facilitadora", "ميسّر سارة"]
)
def test_a_name_cannot_pass_for_what_the_page_writes_in_another_language(name: str) -> None:
    with pytest.raises(HearthError) as caught:
        normalise_pseudonym(name)
    assert caught.value.code is Code.PSEUDONYM_INVALID


@pytest.mark.parametrize("name", ["Lucía Flores", "سارة أمل", "Maysara ميسرة"])
def test_ordinary_names_in_those_languages_stay_free(name: str) -> None:
    assert normalise_pseudonym(name) == name

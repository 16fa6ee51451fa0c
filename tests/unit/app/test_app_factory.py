"""Worker roles from the command line and the consumer group of a role set (no Faust app
is started here)."""

from __future__ import annotations

import itertools
import re

import pytest

from streams.app.factory import ROLES, group_id, overlapping_groups, parse_roles, roles_of_group
from streams.settings import Settings


def test_all_means_every_role() -> None:
    assert parse_roles("all") == list(ROLES)
    assert parse_roles(" all ") == list(ROLES)


def test_lists_keep_their_order_and_ignore_blanks() -> None:
    assert parse_roles("dedup,normalize") == ["dedup", "normalize"]
    assert parse_roles(" sink , dispatch ,") == ["sink", "dispatch"]


@pytest.mark.parametrize("text", ["", " , ", "dedup,bogus", "all,dedup", "Dedup"])
def test_unknown_or_empty_roles_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="role"):
        parse_roles(text)


# -- consumer groups: one per role set ------------------------------------------------


def _s() -> Settings:
    return Settings(app_id="city")


def test_group_is_named_by_the_role_set_in_a_fixed_order() -> None:
    assert group_id(_s(), ["dedup"]) == "city.dedup"
    assert group_id(_s(), ["lifecycle", "dispatch"]) == "city.dispatch_lifecycle"
    assert group_id(_s(), ["dispatch", "lifecycle"]) == "city.dispatch_lifecycle"
    assert group_id(_s(), list(reversed(ROLES))) == "city.all"
    assert group_id(_s(), parse_roles("all")) == "city.all"


def test_every_group_name_is_a_legal_kafka_topic_stem() -> None:
    # Faust names the lifecycle table's changelog "<group>-case-state-changelog"
    legal = re.compile(r"^[A-Za-z0-9._-]+$")
    for n in range(1, len(ROLES) + 1):
        for roles in itertools.combinations(ROLES, n):
            group = group_id(_s(), roles)
            assert legal.match(f"{group}-case-state-changelog"), group
            assert roles_of_group(_s(), group) == set(roles)


def test_group_refuses_unknown_or_no_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        group_id(_s(), [])
    with pytest.raises(ValueError, match="role"):
        group_id(_s(), ["dedup", "bogus"])


@pytest.mark.parametrize(
    "group", ["city", "city.", "city.bogus", "city.sink_dedup", "other.dedup", "city-x.dedup"]
)
def test_names_that_are_not_groups_of_this_app_id_have_no_roles(group: str) -> None:
    assert roles_of_group(_s(), group) is None


def test_overlapping_groups_split_live_from_idle() -> None:
    groups = {
        "city.dedup": True,  # our own replicas
        "city.normalize_dedup": True,  # live, shares dedup: conflict
        "city.all": False,  # an earlier all-in-one layout: idle
        "city.sink": True,  # disjoint
        "other.dedup": True,  # another app id
    }
    assert overlapping_groups(_s(), ["dedup"], groups) == (["city.normalize_dedup"], ["city.all"])
    assert overlapping_groups(_s(), ["sink"], groups) == ([], ["city.all"])
    assert overlapping_groups(_s(), ["dispatch", "lifecycle"], {"city.sink": True}) == ([], [])

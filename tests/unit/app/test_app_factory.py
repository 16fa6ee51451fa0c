"""Worker roles from the command line and the consumer group of a role set (no Faust app
is started here)."""

from __future__ import annotations

import pytest

from streams.app.factory import ROLES, parse_roles


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

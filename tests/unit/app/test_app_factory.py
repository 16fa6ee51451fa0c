"""Worker roles from the command line (no Faust app is started here)."""

from __future__ import annotations

import pytest

from streams.app.factory import ROLES, parse_roles
from streams.settings import WORKER_ROLES


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


def test_the_settings_know_the_same_roles() -> None:
    # CITYSTREAM_WORKER_ROLES is checked against streams.settings.WORKER_ROLES (settings sit
    # below the app and cannot import ROLES): the two lists must name the same roles
    assert set(WORKER_ROLES) == set(ROLES)

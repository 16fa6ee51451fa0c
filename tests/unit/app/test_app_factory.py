"""Worker roles from the command line and the consumer group of a role set (no Faust app
is started here)."""

from __future__ import annotations

import pytest

from streams.app.factory import ROLES, parse_roles
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


def test_the_broker_credentials_follow_the_settings() -> None:
    import faust

    from streams.app.factory import broker_credentials

    assert broker_credentials(Settings()) is None
    tls = broker_credentials(Settings().replace(kafka_security_protocol="SSL"))
    assert isinstance(tls, faust.SSLCredentials)
    sasl = broker_credentials(
        Settings().replace(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="pipeline",
            kafka_sasl_password="s3cret",
        )
    )
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.protocol.value, sasl.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-256")
    plain_sasl = broker_credentials(
        Settings().replace(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username="u",
            kafka_sasl_password="p",
        )
    )
    assert isinstance(plain_sasl, faust.SASLCredentials)
    assert plain_sasl.protocol.value == "SASL_PLAINTEXT"

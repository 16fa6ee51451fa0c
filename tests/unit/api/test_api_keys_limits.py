"""Keys file, token buckets, and the aiohttp adapter (body limit, headers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.api.build import build_api, load_keys
from streams.api.keys import KeyError_, KeyRing, hash_key
from streams.api.limits import TokenBuckets
from streams.app.api_agent import make_web_app
from streams.app.metrics import Metrics
from streams.settings import Settings
from tests.unit.api.conftest import FakeReads, RecordingWriter


def test_keys_are_found_by_hash_only() -> None:
    ring = KeyRing.from_text(
        f'[[keys]]\nid = "a"\nsha256 = "{hash_key("s3cret")}"\nscopes = ["open311:read"]\n'
    )
    key = ring.authenticate("s3cret")
    assert key is not None and key.id == "a" and key.allows("open311:read")
    assert not key.allows("open311:write")
    assert ring.authenticate("s3cret ") is None and ring.authenticate("") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[keys]]\nid = "a"\nsha256 = "abc"\nscopes = []\n', "sha256"),
        (f'[[keys]]\nid = "a"\nsha256 = "{"0" * 64}"\nscopes = ["root"]\n', "unknown scopes"),
        (f'[[keys]]\nid = "a b"\nsha256 = "{"0" * 64}"\nscopes = []\n', "id must be"),
        (
            f'[[keys]]\nid = "a"\nsha256 = "{"0" * 64}"\nscopes = []\nkey = "plain"\n',
            "unknown fields",
        ),
        (
            f'[[keys]]\nid = "a"\nsha256 = "{"0" * 64}"\nscopes = []\n'
            f'[[keys]]\nid = "a"\nsha256 = "{"1" * 64}"\nscopes = []\n',
            "unique",
        ),
        ("[[keys]\n", "keys file"),
    ],
)
def test_bad_keys_files_are_refused(text: str, words: str) -> None:
    with pytest.raises(KeyError_, match=words):
        KeyRing.from_text(text)


def test_desk_scopes_must_name_departments(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text(f'[[keys]]\nid = "a"\nsha256 = "{"0" * 64}"\nscopes = ["desk:police"]\n')
    with pytest.raises(ValueError, match="police"):
        load_keys(Settings().replace(api_keys_file=str(path)), frozenset({"municipal"}))


def test_the_example_keys_file_loads() -> None:
    ring = KeyRing.load(Path("deploy/api_keys.example.toml"))
    key = ring.authenticate("demo-municipal-key")
    assert key is not None and key.allows("desk:municipal")


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 1  # the 4th waits for a token (0.5 s, said as 1 s)
    assert buckets.take("b") == 0  # per key
    now[0] = 0.5
    assert buckets.take("a") == 0 and buckets.take("a") == 1


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    from tests.unit.api.conftest import Client, keys_file

    s = Settings().replace(
        api_keys_file=str(keys_file(tmp_path / "k.toml")), api_rate_burst=2, api_rate_per_s=0.5
    )
    client = Client(build_api(s, RecordingWriter(), FakeReads()))
    path = "/desk/v1/departments/municipal/cases"
    statuses = [(await client.call("GET", path, key="municipal")).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = await client.call("GET", path, key="municipal")
    assert r.headers["Retry-After"] == "2" and r.json()[0]["code"] == 429
    assert (await client.call("GET", path, key="sanitation")).status == 403  # its own bucket


async def test_web_adapter_limits_bodies_and_keeps_headers(tmp_path: Path) -> None:
    from tests.unit.api.conftest import keys_file

    s = Settings().replace(
        api_keys_file=str(keys_file(tmp_path / "k.toml")), api_max_body_bytes=2048
    )
    writer = RecordingWriter()
    web_app = make_web_app(build_api(s, writer, FakeReads()), 2048, Metrics())
    async with TestClient(TestServer(web_app)) as http:
        big = await http.post(
            "/open311/v2/requests.json", data=b"x" * 4096, headers={"X-Api-Key": "demo-hotline"}
        )
        assert big.status == 413
        assert (await big.json())[0]["code"] == 413
        xml = await http.get("/open311/v2/services/NOPE.xml")
        assert xml.status == 404 and xml.headers["Content-Type"].startswith("text/xml")
        assert b"<errors><error><code>404</code>" in await xml.read()
        unauth = await http.get("/open311/v2/requests.json")
        assert unauth.status == 401 and "WWW-Authenticate" in unauth.headers
        health = await http.get("/health")
        assert (await health.json()) == {"status": "ok"}
    assert writer.sent == []


def test_apikey_command_prints_the_key_apart_from_the_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from streams.cli import main

    assert main(["apikey", "--id", "sanitation-desk", "--scope", "desk:sanitation"]) == 0
    out, err = capsys.readouterr()
    key = err.strip().rsplit(" ", 1)[1]
    assert key not in out
    ring = KeyRing.from_text(out)
    found = ring.authenticate(key)
    assert found is not None and found.id == "sanitation-desk" and found.allows("desk:sanitation")

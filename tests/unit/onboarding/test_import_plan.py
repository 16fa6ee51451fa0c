"""What ``citystream import`` sends, decided before Kafka: the order (arrival, file, row),
the times (each row's own; a row whose time does not read takes the import's clock), the
keys, and an import id that names exactly these files, this mapping and this topic."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping
from streams.onboarding.importer import plan_import

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onboarding"
MAPPING = FIXTURES / "city" / "csv311_mapping.json"
_HEADER = "工单编号,受理时间,问题类型,问题描述,地址,纬度,经度,办理状态\n"


def _ms(text: str) -> int:
    local = datetime.strptime(text, "%Y/%m/%d %H:%M").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return int(local.timestamp() * 1000)


def _export(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = [f"{ref},{when},道路破损,,,34.5004,113.8005,已受理\n" for ref, when in rows]
    path.write_text(_HEADER + "".join(lines), encoding="utf-8")
    return path


def test_rows_go_in_arrival_order_with_their_own_times(tmp_path: Path) -> None:
    mapping = Csv311Mapping.load(MAPPING)
    a = _export(tmp_path / "a.csv", [("A1", "2019/06/03 10:00"), ("A2", "2019/06/03 08:00"),
                                     ("A3", "not a time"), ("A4", "2019/06/03 09:00")])  # fmt: skip
    b = _export(tmp_path / "b.csv", [("B1", "bad"), ("B2", "2019/06/03 08:00")])
    plan = plan_import([a, b], mapping, "raw.hotline")
    refs = [orjson.loads(v)["service_request_id"] for v in plan.values]
    # A3 arrives at its file's clock so far (10:00, the latest time before it); B1, before
    # any time of its file, at the import's earliest (08:00); ties: file, then row
    assert refs == ["A2", "B1", "B2", "A4", "A1", "A3"]
    assert plan.arrival_ms == [_ms("2019/06/03 08:00")] * 3 + [
        _ms("2019/06/03 09:00"),
        _ms("2019/06/03 10:00"),
        _ms("2019/06/03 10:00"),
    ]
    assert plan.keys == [r.encode() for r in refs]
    assert plan.unread_times == 2
    assert plan.span_ms() == (_ms("2019/06/03 08:00"), _ms("2019/06/03 10:00"))


def test_the_import_id_names_the_files_the_mapping_and_the_topic(tmp_path: Path) -> None:
    mapping = Csv311Mapping.load(MAPPING)
    shutil.copyfile(FIXTURES / "export_2019.csv", tmp_path / "e.csv")
    first = plan_import([tmp_path / "e.csv"], mapping, "raw.hotline").import_id
    assert plan_import([tmp_path / "e.csv"], mapping, "raw.hotline").import_id == first
    assert plan_import([tmp_path / "e.csv"], mapping, "t1.raw.hotline").import_id != first
    with (tmp_path / "e.csv").open("a", encoding="utf-8") as fh:
        fh.write("LX-0011,2019/10/01 09:00,道路破损,,,34.5004,113.8005,已受理\n")
    assert plan_import([tmp_path / "e.csv"], mapping, "raw.hotline").import_id != first


def test_the_fixture_export_reads_with_its_own_mapping() -> None:
    plan = plan_import([FIXTURES / "export_2019.csv"], Csv311Mapping.load(MAPPING), "raw.hotline")
    assert len(plan) == 10 and plan.unread_times == 1
    assert plan.absent == ()
    first = orjson.loads(plan.values[0])
    assert first["service_request_id"] == "LX-0001"
    assert first["requested_datetime"] == "2019-06-03T08:15:00+08:00"


def test_a_bad_header_stops_the_import_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("编号,时间\n1,2\n", encoding="utf-8")
    with pytest.raises(Csv311Error, match="lacks mapped column"):
        plan_import([path], Csv311Mapping.load(MAPPING), "raw.hotline")

"""``citystream quality --export``: the dedup scored against a 311 export's own duplicate
labels (a parent request id, or a column that says duplicate)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.cli import main
from streams.cli.quality import score_export
from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping
from streams.onboarding.labels import read_labels, report_level
from streams.reference.data import CITIES_DIR
from streams.settings import Settings, load_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onboarding"
# a Chicago web download of chosen columns, in its upper-case layout
_HEADER = "SR_NUMBER,SR_TYPE,CREATED_DATE,STATUS,LATITUDE,LONGITUDE,DUPLICATE,PARENT_SR_NUMBER\n"
_ROWS = [  # potholes 1-3 (2, 3 closed into 1), graffiti 4-5 (5 unlabelled), lights 6-7 2 km apart
    "SR1,Pothole in Street Complaint,04/02/2024 08:00:00 AM,Completed,41.88100,-87.6298,false,",
    "SR2,Pothole in Street Complaint,04/02/2024 09:00:00 AM,Completed,41.88109,-87.6298,true,SR1",
    "SR3,Pothole in Street Complaint,04/02/2024 10:00:00 AM,Completed,41.88118,-87.6298,true,SR1",
    "SR4,Graffiti Removal Request,04/02/2024 11:00:00 AM,Completed,41.89100,-87.6298,false,",
    "SR5,Graffiti Removal Request,04/02/2024 11:30:00 AM,Completed,41.89104,-87.6298,false,",
    "SR6,Street Light Out Complaint,04/02/2024 12:00:00 PM,Completed,41.90100,-87.6298,false,",
    "SR7,Street Light Out Complaint,04/02/2024 12:30:00 PM,Completed,41.91900,-87.6298,true,SR6",
]


@pytest.fixture
def chicago(tmp_path: Path) -> tuple[Settings, Path]:
    district = {"name": "Chicago", "admin_code": "000000", "timezone": "America/Chicago",
                "origin": {"lat": 41.88, "lon": -87.63},
                "bounds": {"lat_min": 41.64, "lat_max": 42.03, "lon_min": -87.94,
                           "lon_max": -87.52}}  # fmt: skip
    (tmp_path / "chicago.json").write_bytes(orjson.dumps(district))
    export = tmp_path / "chicago311.csv"
    export.write_text(_HEADER + "\n".join(_ROWS) + "\n", encoding="utf-8")
    settings = load_settings(env={}).replace(
        district=str(tmp_path / "chicago.json"),
        categories_file=str(CITIES_DIR / "chicago" / "categories.csv"),
    )
    return settings, export


def test_labels_are_read_as_the_mapping_declares(chicago: tuple[Settings, Path]) -> None:
    labels = read_labels([chicago[1]], Csv311Mapping.load("chicago"))
    assert labels.parent == {"SR2": "SR1", "SR3": "SR1", "SR7": "SR6"}
    assert labels.flagged == {"SR2", "SR3", "SR7"}
    assert [labels.incident(r) for r in ("SR1", "SR3", "SR5", "SR7")] == [
        "SR1",
        "SR1",
        "SR5",
        "SR6",
    ]


def test_scored_pairwise_and_per_report(chicago: tuple[Settings, Path]) -> None:
    """Cases {1,2,3} {4,5} {6} {7}; labels {1,2,3} {4} {5} {6,7}: 4 pairs predicted, 4 true,
    3 shared. Merged reports 2, 3, 5; marked 2, 3, 7: 2 shared."""
    settings, export = chicago
    lines = score_export(settings, [export], "chicago")
    assert lines == [
        "export     rows=7        reports=7        cases=4",
        "pairwise   incidents=4       precision=0.7500 recall=0.7500  (labels: parent request ids)",
        "reports    merged=3         flagged=3       precision=0.6667 recall=0.6667  "
        "(labels: marked duplicate)",
    ]


def test_report_level_counts_only_scored_reports() -> None:
    assert report_level({"a", "b"}, {"b", "c", "x"}, {"a", "b", "c"}) == (0.5, 0.5)
    assert report_level(set(), set(), {"a"}) == (1.0, 1.0)


def test_a_mapping_without_labels_is_refused(tmp_path: Path) -> None:
    raw = orjson.loads((CITIES_DIR / "nyc" / "csv311_mapping.json").read_bytes())
    assert "labels" not in raw  # NYC exports mark no duplicates
    with pytest.raises(Csv311Error, match="declares no duplicate labels"):
        read_labels([tmp_path / "x.csv"], Csv311Mapping.load("nyc"))


def test_the_fictional_citys_export_through_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its 办理状态 says 已办结(重复) for the two reports the city closed as duplicates; the
    dedup merged exactly those two."""
    f = FIXTURES
    argv = ["district", "init", str(tmp_path / "lanxi"), "--name", "蓝溪区", "--admin-code",
            "419901", "--timezone", "Asia/Shanghai", "--boundary", str(f / "boundary.geojson"),
            "--unit-grids", str(f / "unit_grids.geojson"), "--gazetteer", str(f / "gazetteer.csv"),
            "--categories", str(f / "city"), "--placeholder", "34.5012,113.8005"]  # fmt: skip
    assert main(argv) == 0
    for line in (tmp_path / "lanxi" / "district.env").read_text().splitlines()[1:]:
        monkeypatch.setenv(*line.split("=", 1))
    capsys.readouterr()
    mapping = str(f / "city" / "csv311_mapping.json")
    assert main(["quality", "--export", str(f / "export_2019.csv"), "--mapping", mapping]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "export     rows=10       reports=6        cases=4"
    assert out[1].startswith(
        "reports    merged=2         flagged=2       precision=1.0000 recall=1.0000"
    )
    assert main(["quality", "--export", str(f / "export_2019.csv")]) == 2

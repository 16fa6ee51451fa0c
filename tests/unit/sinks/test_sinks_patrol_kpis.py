"""The foot patrol KPI views of migration 0009 on chdb equal the Python reference
(sinks/reference_patrols.py); hand-made cases for the rule, the gaps and the on-spot share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sinks import reference_patrols as ref
from sinks.kpi import queries
from sinks.kpi.report import patrol_html
from sinks.records import inspector_area_rows
from sinks.sql import ChdbExecutor
from sinks.synthetic_patrols import STREETS, generate_patrols
from sinks.tables import rows_to_columns
from streams.cli import demo
from streams.reference.geo import District
from streams.reference.inspectors import InspectorRoster
from streams.reference.streets import StreetNetwork
from tests.kpi_rows import assert_rows_equal, by_key

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
RULE_KEY = ("period", "period_start", "inspector_id", "level", "department")
STREET_KEY = ("period", "period_start", "level", "street_id", "segment_id")
MON = 1_690_732_800_000  # 2023-07-31 00:00 +08:00, a Monday
H, MIN = 3_600_000, 60_000


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    return generate_patrols(seed=14, start_ms=MON - 2 * 86_400_000, days=12)


def _load(ex: ChdbExecutor, db: str, insert: Insert, tables: Mapping[str, Any]) -> dict:
    for name, columns in tables.items():
        insert(db, name, columns)
    rules = ex.query(f"SELECT * FROM {db}.patrol_level_rules")
    return {**tables, "patrol_level_rules": rows_to_columns("patrol_level_rules", rules)}


def _today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(TZ)).date()


def test_patrol_rule_equals_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tables: dict
) -> None:
    full = _load(chdb_executor, migrated_db, insert, tables)
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_patrol_rule")
    got = assert_rows_equal(rows, ref.patrol_rule(full, TZ), RULE_KEY)
    weeks = [r for k, r in got.items() if k[0] == "week" and r["judged"]]
    assert {r["met"] for r in weeks} == {0, 1}
    assert {k[2] for k in got} >= {"INS-001", "INS-006", "INS-099"}  # the unrostered too
    staff = [r for k, r in got.items() if k[3] == "staff"]
    assert any(0 < r["own_area_coverage"] < 100 for r in staff)
    assert any(r["own_area_patrols"] < r["patrols"] for r in staff)
    assert not any(
        r["judged"] for k, r in got.items() if k[0] == "day" and k[3] == "principal_leader"
    )


def test_street_coverage_and_gaps_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tables: dict
) -> None:
    full = _load(chdb_executor, migrated_db, insert, tables)
    rows = chdb_executor.query(
        f"SELECT *, toUInt32(last_walked) AS last_walked_s FROM {migrated_db}.kpi_street_coverage"
    )
    got = assert_rows_equal(rows, ref.street_coverage(full, TZ), STREET_KEY)
    assert any(k[2] == "street" and r["coverage"] == 100.0 for k, r in got.items())
    today = _today()
    gaps = chdb_executor.query(
        f"SELECT *, toUInt32(last_walked) AS last_walked_s "
        f"FROM {migrated_db}.kpi_streets_not_walked"
    )
    want = ref.streets_not_walked(full, TZ, today)
    gaps_by = assert_rows_equal(gaps, {(k,): v for k, v in want.items()}, ("street_id",))
    never = gaps_by[(f"410611-S{STREETS:03d}",)]
    assert never["never_walked"] == 1 and never["days_since_walked"] > 19_000
    assert ("410611-S009",) not in gaps_by  # the dropped segment's street


def test_findings_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tables: dict
) -> None:
    full = _load(chdb_executor, migrated_db, insert, tables)
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_patrol_findings")
    got = assert_rows_equal(rows, ref.patrol_findings(full, TZ))
    month = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    found = sum(r["findings"] for r in month)
    reports = sum(1 for s in tables["events"]["source"] if s == 2) // 2  # written twice
    assert 0 < found < reports  # the reports outside every session do not count
    assert all(0 < r["fixed_share"] < 100 and r["findings_per_km"] > 0 for r in month)
    assert {k[2] for k in got} == {"department", "street", "district"}


# Hand-made: the week of Mon 2023-07-31, Asia/Shanghai ----------------------------------


def _areas(rows: list[tuple[str, str, str, str]]) -> dict[str, list[Any]]:
    return rows_to_columns("inspector_areas", [
        {"inspector_id": w, "level": lv, "department": d, "street_id": s, "grid_code": "",
         "revision": 1} for w, lv, d, s in rows
    ])  # fmt: skip


def _sessions(rows: list[tuple[str, str, int]]) -> dict[str, list[Any]]:
    """(inspector, level, start ms): 40 min sessions of the sanitation department."""
    return rows_to_columns("patrol_sessions", [
        {"session_id": f"D-{w}:{t}", "inspector_id": w, "level": lv, "department": "sanitation",
         "device_id": f"D-{w}", "started_at": t, "ended_at": t + 40 * MIN, "points": 480,
         "matched_points": 400, "metres": 2000.0, "segments": 1} for w, lv, t in rows
    ])  # fmt: skip


def _visits(rows: list[tuple[str, int, str]]) -> dict[str, list[Any]]:
    """(inspector, session start ms, street): one 500 m visit of segment 1 of the street."""
    return rows_to_columns("patrol_segment_visits", [
        {"visit_id": f"D-{w}:{t}:0", "session_id": f"D-{w}:{t}", "inspector_id": w,
         "level": "staff" if w == "STAFF" else "section_chief", "department": "sanitation",
         "segment_id": int(s[-1]) * 1000 + 1, "street_id": s, "street_name": s, "grid_code": "",
         "started_at": t + 5 * MIN, "ended_at": t + 30 * MIN, "metres": 500.0, "points": 60}
        for w, t, s in rows
    ])  # fmt: skip


def test_an_inspector_who_misses_the_rule_is_not_met(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """Every day of the week someone patrols. The section chief CHIEF patrols every day
    but Thursday; STAFF patrols daily, on Wednesday outside the home street S1; LAZY is
    rostered and never patrols; the leader patrols three times."""
    days = [MON + d * 86_400_000 + 9 * H for d in range(7)]
    chief = [("CHIEF", "section_chief", t) for i, t in enumerate(days) if i != 3]
    staff = [("STAFF", "staff", t) for t in days]
    leader = [("LEAD", "principal_leader", days[i]) for i in (0, 2, 4)]
    insert(migrated_db, "patrol_sessions", _sessions(chief + staff + leader))
    walks = [("STAFF", t, "S2" if i == 2 else "S1") for i, t in enumerate(days)]
    insert(migrated_db, "patrol_segment_visits", _visits([*walks, ("CHIEF", chief[0][2], "S3")]))
    insert(migrated_db, "inspector_areas", _areas([
        ("CHIEF", "section_chief", "sanitation", "S3"), ("STAFF", "staff", "sanitation", "S1"),
        ("LAZY", "staff", "sanitation", "S1"), ("LEAD", "principal_leader", "sanitation", "S1"),
    ]))  # fmt: skip
    got = by_key(
        chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_patrol_rule WHERE period = 'week'"),
        ("inspector_id",),
    )
    assert (got[("CHIEF",)]["units"], got[("CHIEF",)]["units_met"]) == (7, 6)
    assert got[("CHIEF",)]["met"] == 0 and got[("CHIEF",)]["patrols"] == 6
    staff_row = got[("STAFF",)]
    assert (staff_row["patrols"], staff_row["own_area_patrols"], staff_row["met"]) == (7, 6, 0)
    assert (staff_row["home_streets"], staff_row["own_area_coverage"]) == (1, 100.0)
    assert (staff_row["metres"], staff_row["streets_walked"]) == (3500.0, 2)
    assert (got[("LAZY",)]["patrols"], got[("LAZY",)]["met"]) == (0, 0)
    lead = got[("LEAD",)]
    assert (lead["rule_per"], lead["units"], lead["patrols"], lead["met"]) == ("week", 1, 3, 1)
    thursday = chdb_executor.query(
        f"SELECT met, judged FROM {migrated_db}.kpi_patrol_rule WHERE period = 'day' "
        "AND inspector_id = 'CHIEF' AND period_start = toDate('2023-08-03')"
    )
    assert thursday == [{"met": 0, "judged": 1}]


def test_a_never_walked_street_shows_in_the_gaps(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    segments = rows_to_columns("street_segments", [
        {"segment_id": i * 1000 + k, "street_id": f"S{i}", "street_name": f"路{i}",
         "length_m": 100.0, "revision": 3} for i in (1, 2) for k in (1, 2)
    ])  # fmt: skip
    insert(migrated_db, "street_segments", segments)
    insert(migrated_db, "patrol_segment_visits", _visits([("STAFF", MON + 9 * H, "S1")]))
    got = by_key(
        chdb_executor.query(
            f"SELECT * FROM {migrated_db}.kpi_streets_not_walked WHERE days_since_walked >= 2"
        ),
        ("street_id",),
    )
    assert got[("S2",)]["never_walked"] == 1 and got[("S2",)]["segments_not_walked"] == 2
    walked = got[("S1",)]  # walked on 2023-07-31: long before today
    assert (walked["never_walked"], walked["segments_walked"]) == (0, 1)
    assert walked["days_since_walked"] == (_today() - date(2023, 7, 31)).days
    street = chdb_executor.query(
        f"SELECT coverage, segments, length_m FROM {migrated_db}.kpi_street_coverage "
        "WHERE period = 'week' AND level = 'street'"
    )
    assert street == [{"coverage": 50.0, "segments": 2, "length_m": 200.0}]


def test_the_share_fixed_on_the_spot(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """25 reports in one session, 9 fixed on the spot (the seed's 621 of 1,717 is 36 %),
    one report 10 min after the session (not in it) over 1 km walked."""
    start = MON + 9 * H
    insert(migrated_db, "patrol_sessions", _sessions([("STAFF", "staff", start)]))
    walks = _visits([("STAFF", start, "S1")])
    walks["metres"] = [1000.0]
    insert(migrated_db, "patrol_segment_visits", walks)
    times = [start + i * MIN for i in range(25)] + [start + 50 * MIN]
    events = rows_to_columns("events", [
        {"event_id": i + 1, "source": 2, "category": 1, "flags": int(i < 9), "lat": 0.0,
         "lon": 0.0, "event_time": t, "ingest_time": t, "device_hash": 0, "source_ref": "",
         "device_id": "", "reporter": "STAFF", "department": "", "text": "", "address": "",
         "grid_code": ""} for i, t in enumerate(times)
    ])  # fmt: skip
    insert(migrated_db, "events", events)
    got = by_key(chdb_executor.query(
        f"SELECT * FROM {migrated_db}.kpi_patrol_findings WHERE period = 'day'"
    ))  # fmt: skip
    for key in (("day", date(2023, 7, 31), "department", "sanitation"),
                ("day", date(2023, 7, 31), "street", "S1")):  # fmt: skip
        row = got[key]
        assert (row["findings"], row["fixed_on_spot"], row["fixed_share"]) == (25, 9, 36.0)
        assert (row["km_walked"], row["findings_per_km"]) == (1.0, 25.0)
    assert got[("day", date(2023, 7, 31), "street", "S1")]["name"] == "S1"


class _Client:
    """clickhouse-driver's ``execute`` (rows as tuples) over chdb, for the demo summary."""

    def __init__(self, ex: ChdbExecutor) -> None:
        self.ex = ex

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in self.ex.query(sql)]


def test_demo_patrol_lines_read_the_views_and_survive_empty_tables(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tables: dict
) -> None:
    q = lambda sql: _Client(chdb_executor).execute(sql.format(db=migrated_db))  # noqa: E731
    empty = demo._patrol_lines(q)
    assert [line.split()[0] for line in empty] == ["patrol:", "streets:", "found:"]
    full = _load(chdb_executor, migrated_db, insert, tables)
    lines = demo._patrol_lines(q)
    rule = ref.patrol_rule(full, TZ)
    for level in ("principal_leader", "section_chief", "staff"):
        month = [r for k, r in rule.items() if k[:2] == ("month", date(2023, 8, 1))
                 and k[3] == level and r["judged"]]  # fmt: skip
        row = next(line for line in lines if f"2023-08-01  {level}" in line).split()
        assert row[2:5] == [str(len(month)), str(sum(r["met"] for r in month)),
                            str(sum(r["patrols"] for r in month))]  # fmt: skip
    # 5 of the 6 streets walked, one never
    assert [line.split()[2:5] for line in lines if "  district  " in line and "%" not in line] == [
        ["5", "6", "1"],
        ["5", "6", "1"],
    ]
    findings = ref.patrol_findings(tables, TZ)
    month = [r for k, r in findings.items() if k[0] == "month" and k[2] == "district"]
    found = [line for line in lines if "  district  " in line and "%" in line]
    assert [line.split()[4] for line in found] == [f"{r['fixed_share']:.1f}%" for r in month]


def test_report_patrol_section(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tables: dict
) -> None:
    _load(chdb_executor, migrated_db, insert, tables)
    week = date(2023, 7, 31)
    patrols = queries.patrol_section(chdb_executor, migrated_db, TZ, "week", week)
    assert patrols["rule"] and patrols["streets"]
    assert [g["street_id"] for g in patrols["gaps"]] == [f"410611-S{STREETS:03d}"]
    assert patrols["rule"][0]["met"] == 0  # not met first
    page = patrol_html(patrols)
    assert "路1" in page and "#fcd5c9" in page
    assert "无 none" in patrol_html({})
    # the street map: every segment of the network, the ones walked this week in green
    network = StreetNetwork.for_district(District.load("qibin"))
    walked = {int(r["segment_id"]) for r in patrols["segments"]}
    assert walked and walked <= {s.segment_id for s in network.segments}
    page = patrol_html(patrols, network)
    assert page.count("<polyline") == len(network.segments)
    assert page.count('stroke="#bbb"') == len(network.segments) - len(walked)


def test_inspector_area_rows_from_the_roster() -> None:
    roster = InspectorRoster.load()
    streets = {f"S{i}": name for i, name in enumerate(sorted({
        s for who in roster for s in who.home_streets if s != "*"
    }))}  # fmt: skip
    rows = inspector_area_rows(roster, streets, revision=4)
    rows_to_columns("inspector_areas", rows)  # every column of the table
    leader = next(who for who in roster if who.whole_district)
    assert {r["street_id"] for r in rows if r["inspector_id"] == leader.inspector_id} == set(
        streets
    )
    staff = next(who for who in roster if who.level == "staff")
    mine = [r for r in rows if r["inspector_id"] == staff.inspector_id]
    assert sorted(streets[r["street_id"]] for r in mine) == sorted(staff.home_streets)
    assert {(r["level"], r["revision"]) for r in mine} == {("staff", 4)}
    with pytest.raises(ValueError, match="not in the network"):
        inspector_area_rows([staff], {"S0": "nowhere"}, revision=1)

"""The packaged category table and mappings, and the loader's validation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from streams.reference.categories import (
    DEPARTMENTS,
    DEVICE_TYPES,
    CategoryError,
    CategoryTable,
    SensorAlarmMap,
    ServiceCodeMap,
    default_data_dir,
)

_TABLE = default_data_dir() / "categories.csv"


def _rows() -> list[dict[str, str]]:
    with _TABLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_packaged_table_ids_and_keys_are_unique() -> None:
    rows = _rows()
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["key"] for r in rows}) == len(rows)
    assert len(CategoryTable.load()) == len(rows)


def test_packaged_table_covers_the_domain_codes() -> None:
    keys = {r["key"] for r in _rows()}
    components = [
        "0101",
        "0102",
        "0103",
        "0104",
        "0105",
        "0118",
        "0209",
        "0211",
        "0301",
        "0305",
        "0402",
        "0405",
    ]
    events = [
        "0102",
        "0104",
        "0111",
        "0201",
        "0302",
        "0306",
        "0401",
        "0403",
        "0501",
        "0504",
        "0505",
        "0507",
        "0510",
    ]
    assert {"C" + c for c in components} <= keys
    assert {"E" + c for c in events} <= keys


def test_packaged_table_values_are_valid() -> None:
    rows = _rows()
    keys = {r["key"] for r in rows}
    for r in rows:
        assert r["department"] in DEPARTMENTS
        assert set(r["compatible_with"].split()) <= keys
        assert float(r["radius_m"]) >= 0
    covers = [r for r in rows if r["key"] in ("C0101", "C0102")]
    assert all(float(r["radius_m"]) <= 50 for r in covers)  # point components: tens of metres


def test_kernel_params_are_indexed_by_id(table: CategoryTable) -> None:
    p = table.kernel_params()
    size = max(table.by_id) + 1
    assert p.radius_m.shape == (size,) and p.radius_m.dtype == np.float64
    assert p.window_s.dtype == np.int64
    assert p.compat.shape == (size, size) and p.compat.dtype == np.bool_
    cover, flood = table.get("C0103"), table.get("E0111")
    assert p.radius_m[cover.id] == cover.radius_m
    assert p.window_s[flood.id] == flood.window_s
    assert p.compat[cover.id, flood.id] and p.compat[flood.id, cover.id]
    assert np.array_equal(p.compat, p.compat.T)
    assert p.compat[cover.id, cover.id]
    assert not p.compat[table.id_of("C0118"), table.id_of("E0505")]
    unused = next(i for i in range(size) if i not in table.by_id)
    assert p.radius_m[unused] == 0 and not p.compat[unused].any()


def test_mappings_point_at_table_keys(table: CategoryTable) -> None:
    sensor_map = SensorAlarmMap.load(table).mapping
    assert sensor_map[("cover_tilt", "manhole_cover")] == -1  # from the device id
    assert sensor_map[("light_failure", "smart_pole")] == table.id_of("C0118")
    assert {d for _, d in sensor_map} <= set(DEVICE_TYPES)
    service_map = ServiceCodeMap.load(table).mapping
    assert service_map["RD-WATER"] == table.id_of("E0111")
    assert service_map["Street Light Condition"] == table.id_of("C0118")


def _write_table(tmp_path: Path, edit: dict[str, str], row: int = 0) -> Path:
    rows = _rows()
    rows[row].update(edit)
    path = tmp_path / "categories.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"id": "2"}, "duplicate id"),
        ({"key": "C0102", "code": "0102"}, "duplicate key"),
        ({"department": "police"}, "department"),
        ({"compatible_with": "C9999"}, "unknown C9999"),
        ({"compatible_with": "C0101"}, "itself"),
        ({"code": "01A1", "key": "C01A1"}, "not 4 digits"),
        ({"key": "E0101"}, "must be 'C0101'"),
        ({"deadline_unit": "fortnights"}, "deadline_unit"),
        ({"urgency": "whenever"}, "urgency"),
        ({"radius_m": "-5"}, "radius_m"),
        ({"window_s": "soon"}, "not an integer"),
        ({"id": "70000"}, "outside"),
        ({"kind": "thing"}, "kind"),
    ],
)
def test_invalid_tables_are_rejected(tmp_path: Path, edit: dict[str, str], message: str) -> None:
    with pytest.raises(CategoryError, match=message):
        CategoryTable.load(_write_table(tmp_path, edit))


def test_code_width_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(CategoryError, match="not 5 digits"):
        CategoryTable.load(code_digits=5)
    path = tmp_path / "gbt.csv"
    header = _TABLE.read_text(encoding="utf-8").splitlines()[0]
    path.write_text(
        header + "\n1,C01001,component,01001,井盖,cover,municipal,25,3600,,2,clock_hours,urgent,\n",
        encoding="utf-8",
    )
    assert CategoryTable.load(path, code_digits=5).get("C01001").id == 1


def test_max_open_age_is_optional_per_category(tmp_path: Path, table: CategoryTable) -> None:
    assert table.get("C0101").max_open_age_s == 14 * 86400
    events = [c for c in table.by_key.values() if c.kind == "event"]
    assert events and all(c.max_open_age_s is None for c in events)
    ages = table.kernel_params().max_open_age_s
    assert ages[table.id_of("C0101")] == 14 * 86400 and ages[events[0].id] == -1
    # a table from before the column loads, every category taking the setting's value
    lines = _TABLE.read_text(encoding="utf-8").splitlines()
    at = lines[0].split(",").index("max_open_age_s")
    old = tmp_path / "old.csv"
    old.write_text(
        "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != at) for line in lines),
        encoding="utf-8",
    )
    assert all(c.max_open_age_s is None for c in CategoryTable.load(old).by_key.values())
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(",1209600,", ",-5,")]), encoding="utf-8")
    with pytest.raises(CategoryError, match="max_open_age_s=-5"):
        CategoryTable.load(bad)


def test_mapping_files_are_validated(tmp_path: Path, table: CategoryTable) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("alarm_type,device_type,category_key\ncover_tilt,toaster,C0101\n")
    with pytest.raises(CategoryError, match="toaster"):
        SensorAlarmMap.load(table, bad)
    bad.write_text("service_code,category_key\nX,E9999\n")
    with pytest.raises(CategoryError, match="E9999"):
        ServiceCodeMap.load(table, bad)
    with pytest.raises(CategoryError, match="does not exist"):
        CategoryTable.load(tmp_path / "missing.csv")

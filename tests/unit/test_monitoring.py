"""deploy/monitoring: Prometheus config and alert rules (promtool), Grafana provisioning and
dashboards, all in step with the compose file and with the metrics the workers export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from bench.harness.services import unavailable
from streams.app.metrics import SPECS, Metrics
from tests.unit.test_compose import COMPOSE

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
GRAFANA = MONITORING / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
METRIC_NAME = re.compile(r"\b((?:citystream|faust|process)_[a-z0-9_]+)")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    data = _yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        unavailable("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(
        [exe, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml")],
    ids=["config", "rules"],
)
def test_promtool_accepts_the_files(args: tuple[str, ...]) -> None:
    result = _promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_fire_on_their_series_and_only_there() -> None:
    result = _promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("sum by (job) (up{", "sum by (job) (up{{", 1), "utf-8")
    assert _promtool("check", "rules", str(broken)).returncode != 0


def test_every_alert_has_severity_summary_and_description() -> None:
    groups = _yaml(PROMETHEUS / "alerts.yml")["groups"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} >= {
        "CitystreamRoleDown",
        "CitystreamConsumerLagGrowing",
        "CitystreamDeadLettersAboveNormal",
        "CitystreamClickHouseInsertsFailing",
    }
    for a in alerts:
        assert a["labels"]["severity"] in ("warning", "critical"), a["alert"]
        assert a["annotations"]["summary"] and a["annotations"]["description"], a["alert"]


def _worker_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in _compose()["services"].items()
        if "build" in svc and svc["command"][1] == "worker"
    }


def test_every_worker_service_is_scraped_on_its_web_port() -> None:
    config = _yaml(PROMETHEUS / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"]), "duplicate job names"
    services = _worker_services()
    assert services
    for name, svc in services.items():
        job = jobs.get(f"citystream-{name}")
        assert job is not None, f"no scrape job for the {name} service"
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [name] and sd["type"] == "A"
        assert str(sd["port"]) == svc["environment"]["CITYSTREAM_WEB_PORT"], name
    citystream_jobs = {j for j in jobs if j.startswith("citystream-")}
    assert citystream_jobs == {f"citystream-{n}" for n in services}


def _exported_names() -> set[str]:
    """Every sample name a worker exposes: ours, the process collectors', Faust's."""
    from streams.app.factory import _faust_sensors

    names: set[str] = set()
    for name, spec in SPECS.items():
        names |= {name} | (
            {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if spec.kind == "histogram"
            else set()
        )
    monitor = SimpleNamespace(
        messages_received_by_topic={"t": 1},
        messages_sent_by_topic={"t": 1},
        send_errors=0,
        rebalances=0,
        assignments_failed=0,
    )
    for family in _faust_sensors(SimpleNamespace(monitor=monitor)):  # type: ignore[arg-type]
        names |= {s.name for s in family.samples}
    for family in Metrics().registry.collect():
        names |= {s.name for s in family.samples}
    return names


def _referenced(text: str) -> set[str]:
    return set(METRIC_NAME.findall(text))


def test_alerts_and_dashboards_name_only_metrics_the_workers_export() -> None:
    exported = _exported_names()
    texts = [PROMETHEUS / "alerts.yml", *DASHBOARDS]
    used: set[str] = set()
    for path in texts:
        refs = _referenced(path.read_text(encoding="utf-8"))
        assert refs - exported == set(), f"{path.name} names metrics no worker exports"
        used |= refs
    # the old, unconventional names are gone everywhere
    assert not {"citystream_consumer_lag", "citystream_batch_seconds"} & used
    assert {"citystream_consumer_lag_records", "citystream_deadletters_total"} <= used


def test_the_metric_check_catches_an_unknown_name() -> None:
    assert _referenced("sum(rate(citystream_deadletter_total[5m]))") - _exported_names()


def _datasources() -> dict[str, dict[str, Any]]:
    data = _yaml(GRAFANA / "provisioning" / "datasources" / "datasources.yml")
    return {ds["uid"]: ds for ds in data["datasources"]}


def test_datasources_are_prometheus_and_clickhouse_as_the_bi_user() -> None:
    sources = _datasources()
    prom = sources["citystream-prometheus"]
    assert prom["type"] == "prometheus" and prom["url"] == "http://prometheus:9090"
    ch = sources["citystream-clickhouse"]
    assert ch["type"] == "grafana-clickhouse-datasource"
    assert ch["jsonData"]["host"] == "clickhouse"
    assert ch["jsonData"]["username"] == "${CITYSTREAM_CLICKHOUSE_BI_USER}"
    assert ch["secureJsonData"]["password"] == "${CITYSTREAM_CLICKHOUSE_BI_PASSWORD}"
    grafana_env = _compose()["services"]["grafana"]["environment"]
    for value in (*ch["jsonData"].values(), *ch["secureJsonData"].values()):
        for var in re.findall(r"\$\{([A-Z_]+)\}", str(value)):
            assert var in grafana_env, f"grafana has no {var} for its data source"


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out += [panel, *panel.get("panels", [])]
    return out


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_valid_provisioned_json(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = _panels(dashboard)
    assert panels
    assert len({p["id"] for p in panels}) == len(panels), "duplicate panel ids"
    sources = _datasources()
    for p in panels:
        assert p["title"], p
        assert (
            set(p["gridPos"]) == {"h", "w", "x", "y"}
            and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        ), p["title"]
        assert p["targets"], p["title"]
        for target in p["targets"]:
            uid = target["datasource"]["uid"]
            assert uid in sources, f"{p['title']}: unknown data source {uid}"
            assert target["datasource"]["type"] == sources[uid]["type"], p["title"]
            assert target.get("expr") or target.get("rawSql"), p["title"]


def test_dashboards_have_unique_uids_and_one_each_for_health_and_kpis() -> None:
    dashboards = [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS]
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    kinds = {
        frozenset(t["datasource"]["type"] for p in _panels(d) for t in p["targets"])
        for d in dashboards
    }
    assert frozenset({"prometheus"}) in kinds
    assert frozenset({"grafana-clickhouse-datasource"}) in kinds


def test_overdue_alert_queries_clickhouse_with_a_threshold() -> None:
    data = _yaml(GRAFANA / "provisioning" / "alerting" / "cases-overdue.yml")
    (rule,) = data["groups"][0]["rules"]
    steps = {d["refId"]: d for d in rule["data"]}
    assert steps["A"]["datasourceUid"] in _datasources()
    assert "case_facts" in steps["A"]["model"]["rawSql"]
    assert rule["condition"] in steps and steps[rule["condition"]]["model"]["type"] == "threshold"


def test_monitoring_profile_mounts_these_files() -> None:
    services = _compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    prom_mounts = services["prometheus"]["volumes"]
    assert "./monitoring/prometheus:/etc/prometheus:ro" in prom_mounts
    graf_mounts = services["grafana"]["volumes"]
    provider = _yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")
    (prov,) = provider["providers"]
    assert f"./monitoring/grafana/dashboards:{prov['options']['path']}:ro" in graf_mounts
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in graf_mounts
    assert (
        "grafana-clickhouse-datasource"
        in services["grafana"]["environment"]["GF_PLUGINS_PREINSTALL"]
    )

"""``citystream demo``: the whole loop on the typhoon-day scenario, and what it did.

It starts the local Kafka and ClickHouse when needed, creates a fresh run (its own topic
prefix, consumer group and ClickHouse database), starts a worker with every role, feeds
it the simulated typhoon day through the raw topics, waits until every raw record is
accounted for in ClickHouse (an event linked to a case, or a dead letter), lets the
simulated departments work the cases, and prints a summary read back from ClickHouse.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.cli import add_simulation_arguments
from streams.contracts.sources import SOURCES
from streams.settings import Settings

if TYPE_CHECKING:
    from sinks.sql import Executor

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        default="typhoon",
        choices=("typhoon", "ordinary"),
        help="the day to simulate (default typhoon)",
    )
    add_simulation_arguments(parser, scale=0.25)  # 1.0: ~600k raw records
    parser.add_argument(
        "--days",
        type=int,
        default=2,
        help="simulated days, fed one after the other (problems recur across days)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the pipeline to account for every record",
    )


def _query(client: Any, sql: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = client.execute(sql)
    return rows


def _accounted(client: Any, db: str) -> int:
    links = _query(client, f"SELECT count() FROM {db}.links FINAL")[0][0]
    # the reports' dead letters: bad pings are the patrol KPIs' business
    sources = ", ".join(f"'{source}'" for source in SOURCES)
    dead = _query(
        client, f"SELECT count() FROM {db}.dead_letters FINAL WHERE source IN ({sources})"
    )[0][0]
    return int(links) + int(dead)


def _feed_day(settings: Settings, records: list[Any], produced: dict[str, int]) -> int:
    """Send one day's records; returns how many events and dead letters its reports make
    (the pings become patrol sessions, counted by the patrol KPIs)."""
    from streams.runner import produce_records

    for rec in records:
        produced[rec.source] = produced.get(rec.source, 0) + 1
    produce_records(settings, ((r.source, r.key, r.value, r.arrival_ms) for r in records))
    return sum(len(r.truth) for r in records if r.source in SOURCES)


def _count(client: Any, db: str, table: str) -> int:
    return int(_query(client, f"SELECT count() FROM {db}.{table} FINAL")[0][0])


def _settle(count: Callable[[], int], poll_s: float = 5.0) -> None:
    """Until ``count`` stops growing between two polls."""
    last = -1
    while (now := count()) != last:
        last = now
        time.sleep(poll_s)


def _summary(client: Any, db: str, produced: dict[str, int]) -> str:
    """What the run did, read from the KPI views (docs/bi/kpis.md): the figures and their
    formulas are the ones BI and the weekly report see, defined once in SQL."""
    q = lambda sql: _query(client, sql.format(db=db))  # noqa: E731
    dead = q("SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason ORDER BY 2 DESC")
    intake = q(
        "SELECT period_start, channel, reports, new_cases, duplicates, duplicate_share, "
        "fixed_on_spot, recurrences FROM {db}.kpi_intake WHERE period = 'month' "
        "ORDER BY period_start, source"
    )
    unit_columns = "opened, due, closed, closed_on_time, closure_rate, on_time_closure_rate"
    units = q(_monthly_sql("kpi_units", unit_columns + ", recurrences", "opened"))
    lines = [
        "citystream demo summary (KPI views kpi_intake, kpi_units, kpi_verification, "
        "kpi_returns, kpi_satisfaction, kpi_recurrences, kpi_escalations and the patrol "
        "ones, by month)",
        f"  raw records in   {sum(produced.values()):>8}  "
        + ", ".join(f"{k} {v}" for k, v in sorted(produced.items())),
        f"  dead letters     {sum(n for _, n in dead):>8}  "
        + ", ".join(f"{r} {n}" for r, n in dead),
        "  intake:  month       channel   reports  cases  merged  dup share  fixed  recurrences",
    ]
    for month, channel, reports, new, dup, share, fixed, rec in intake:
        lines.append(
            f"           {month!s:<11} {channel:<8} {reports:>8} {new:>6} {dup:>7}"
            f"  {share:>8.1f}% {fixed:>6} {rec:>12}"
        )
    lines += _unit_lines(
        "  cases:   month       unit          opened    due  closed  on time"
        "  结案率  按期结案率  recurrences",
        units,
        lambda v: (
            f"{v[0]:>7} {v[1]:>6} {v[2]:>7} {v[3]:>8}  {v[4]:>5.1f}%  {v[5]:>8.1f}%  {v[6]:>11}"
        ),
    )
    lines += _verification_lines(q)
    lines += _return_callback_lines(q)
    lines += _recurrence_lines(q)
    lines += _escalation_lines(q)
    lines += _patrol_lines(q)
    return "\n".join(lines)


def _unit_lines(
    header: str, rows: list[tuple[Any, ...]], cells: Callable[[list[Any]], str]
) -> list[str]:
    """A monthly table of ``(month, level, unit, *values)`` rows from a ``kpi_*`` view: the
    departments, then the district."""
    lines = [header]
    for month, level, unit, *values in rows:
        name = "district" if level == "district" else unit
        lines.append(f"           {month!s:<11} {name:<12} " + cells(values))
    return lines


def _monthly_sql(view: str, columns: str, order: str) -> str:
    """Month rows ``(period_start, level, unit, *columns)`` of a ``kpi_*`` view: the
    departments, largest ``order`` first, then the district."""
    return (
        f"SELECT period_start, level, unit, {columns} FROM {{db}}.{view} "
        "WHERE period = 'month' AND level IN ('department', 'district') "
        f"ORDER BY period_start, level = 'district', {order} DESC"
    )


def _verification_lines(q: Any) -> list[str]:
    """Verify tasks due, passed, failed (返工) and 按期核查率, from kpi_verification."""
    columns = "due, verified, passed, failed, verified_on_time, on_time_verification_rate"
    return _unit_lines(
        "  verify:  month       unit            due  verified  passed  failed  on time  按期核查率",
        q(_monthly_sql("kpi_verification", columns, "due")),
        lambda v: f"{v[0]:>6} {v[1]:>9} {v[2]:>7} {v[3]:>7} {v[4]:>8}  {v[5]:>8.1f}%",
    )


def _return_callback_lines(q: Any) -> list[str]:
    """Returns (退单率) and callbacks (满意度) per department, from kpi_returns and
    kpi_satisfaction."""
    rows = q(
        "SELECT r.period_start, r.level, r.unit, r.dispatched, r.returned, r.return_rate, "
        "s.callbacks, s.reached, s.satisfaction_rate FROM {db}.kpi_returns AS r "
        "ANY LEFT JOIN (SELECT period, period_start, level, unit, callbacks, reached, "
        "satisfaction_rate FROM {db}.kpi_satisfaction) AS s "
        "USING (period, period_start, level, unit) "
        "WHERE r.period = 'month' AND r.level IN ('department', 'district') "
        "ORDER BY r.period_start, r.level = 'district', r.dispatched DESC"
    )
    return _unit_lines(
        "  returns: month       unit       dispatched  returned  退单率"
        "  callbacks  reached  满意度",
        rows,
        lambda v: f"{v[0]:>8} {v[1]:>9} {v[2]:>6.1f}% {v[3]:>10} {v[4]:>8} {v[5]:>6.1f}%",
    )


def _escalation_lines(q: Any) -> list[str]:
    """Escalations per department and level (催办, 督办, department head, district
    leader), from kpi_escalations: cases escalated at each level, by the month of its
    threshold."""
    levels = ("remind", "supervise", "department_head", "district_leader")
    counts = ", ".join(f"sumIf(escalations, level = '{level}')" for level in levels)
    rows = q(
        "SELECT period_start, if(department = '', 'district', 'department') AS scope, "
        f"department, {counts} FROM {{db}}.kpi_escalations WHERE period = 'month' "
        "GROUP BY period_start, department "
        "ORDER BY period_start, department = '', sum(escalations) DESC, department"
    )
    return _unit_lines(
        "  ladder:  month       unit           催办    督办  dept head  district leader",
        rows,
        lambda v: f"{v[0]:>6} {v[1]:>7} {v[2]:>10} {v[3]:>16}",
    )


def _recurrence_lines(q: Any) -> list[str]:
    """Closed cases that came back (复发率) per department of the closed case, from
    kpi_recurrences."""
    columns = "closed, recurred, recurrences, recurrence_rate"
    return _unit_lines(
        "  recur:   month       unit          closed  came back  recurrences  复发率",
        q(_monthly_sql("kpi_recurrences", columns, "closed")),
        lambda v: f"{v[0]:>7} {v[1]:>10} {v[2]:>12}  {v[3]:>5.1f}%",
    )


def _patrol_lines(q: Any) -> list[str]:
    """Foot patrols (铁脚板): who met the rule of their level (kpi_patrol_rule), the streets
    walked against the network (kpi_street_coverage, kpi_streets_not_walked) and the
    problems found and fixed on the spot per km walked (kpi_patrol_findings)."""
    rule = q(
        "SELECT period_start, 'rule', level, count(), sum(met), "
        "sum(patrols), sum(metres) / 1000. FROM {db}.kpi_patrol_rule "
        "WHERE period = 'month' AND judged = 1 GROUP BY period_start, level "
        "ORDER BY period_start, level"
    )
    streets = q(
        "SELECT period_start, 'district', '', count(), "
        "(SELECT count() FROM {db}.kpi_streets_not_walked), "
        "(SELECT countIf(never_walked = 1) FROM {db}.kpi_streets_not_walked), "
        "sum(metres) / 1000. FROM {db}.kpi_street_coverage "
        "WHERE period = 'month' AND level = 'street' GROUP BY period_start ORDER BY period_start"
    )
    columns = "findings, fixed_on_spot, fixed_share, km_walked, findings_per_km"
    lines = _unit_lines(
        "  patrol:  month       level        judged    met  patrols       km",
        rule,
        lambda v: f"{v[0]:>6} {v[1]:>6} {v[2]:>8} {v[3]:>8.1f}",
    )
    lines += _unit_lines(
        "  streets: month       unit         walked  of network  never walked       km",
        streets,
        lambda v: f"{v[0]:>6} {v[1]:>11} {v[2]:>13} {v[3]:>8.1f}",
    )
    return lines + _unit_lines(
        "  found:   month       unit       findings  fixed  on the spot %      km  per km",
        q(_monthly_sql("kpi_patrol_findings", columns, "findings")),
        lambda v: f"{v[0]:>8} {v[1]:>6} {v[2]:>13.1f}% {v[3]:>7.1f} {v[4]:>7.2f}",
    )


def _report(settings: Settings, ex: Executor, folder: Path) -> None:
    """Write the weekly meeting's report of the demo's data (the newest case's week), say
    where, and how to query the rest."""
    from streams.cli.report import resolve_period, write_report

    db, tz = settings.clickhouse.database, settings.calendar.timezone
    period = resolve_period(ex, db, tz, "weekly", None)
    path = write_report(ex, settings, db, period, folder / "report-weekly.html")
    print(f"citystream demo: the weekly dispatch meeting's report ({period.label}): {path}")
    print(
        f"BI: query database {db} (views kpi_*), or run "
        f"`CITYSTREAM_CLICKHOUSE_DATABASE={db} citystream report --meeting monthly "
        "--out monthly.html`"
    )


def _fresh_run(settings: Settings, stamp: str) -> tuple[Settings, Any]:
    """The demo's own topics, app id and database (dropped and migrated anew); its client."""
    from sinks.clickhouse import make_client
    from sinks.migrate import migrate
    from sinks.retention import Retention
    from sinks.sql import DriverExecutor
    from streams.app.kafka_admin import ensure_topics

    run_settings = settings.replace(
        topic_prefix=f"demo{stamp}.",
        app_id=f"citystream-demo{stamp}",
        clickhouse_database=f"{settings.clickhouse.database}_demo",
        escalation_clock="feed",  # history replayed at speed: the demo ticks the clock
    )
    db = run_settings.clickhouse.database
    client = make_client(run_settings, use_numpy=False)
    client.execute(f"DROP DATABASE IF EXISTS {db}")
    client.execute(f"CREATE DATABASE {db}")
    migrate(
        DriverExecutor(client),
        db,
        run_settings.calendar.timezone,
        path=run_settings.clickhouse.schema,
        retention=Retention.of(run_settings.clickhouse),
    )
    ensure_topics(run_settings)
    return run_settings, client


def _play_day(
    run_settings: Settings,
    client: Any,
    worker: Any,
    records: list[Any],
    expected: int,
    wait_s: float,
) -> bool:
    """Wait until the day's records are accounted for in ClickHouse and the case loop has
    answered them; False when they are not within ``wait_s``."""
    from streams.runner import tick_clock, wait_until

    db = run_settings.clickhouse.database

    def progress() -> None:
        if not worker.alive:
            raise RuntimeError(f"the worker died; see {worker.log_path}")
        print(f"  accounted {_accounted(client, db)}/{expected}", file=sys.stderr)

    if not wait_until(lambda: _accounted(client, db) >= expected, wait_s, 5.0, progress):
        print(
            f"citystream demo: only {_accounted(client, db)} of {expected} records "
            f"accounted for after {wait_s}s; see {worker.log_path}",
            file=sys.stderr,
        )
        return False
    # The desks answer and the closures go back to dedup before the next day comes:
    # a report after a close is then a recurrence, as in a centre working in real time.
    _settle(lambda: _count(client, db, "case_stages"))
    # the centre's clock (CITYSTREAM_ESCALATION_CLOCK=feed) reaches the day's last
    # arrival once the loop has answered it: the cases it leaves late escalate
    tick_clock(run_settings, max(r.arrival_ms for r in records))
    _settle(lambda: _count(client, db, "escalations"))
    return True


def run(settings: Settings, args: argparse.Namespace) -> int:
    from deploy.local import ensure_up
    from sinks.sql import DriverExecutor
    from streams.runner import WorkerProcess
    from streams.simulator import Simulation

    print("citystream demo: starting Kafka and ClickHouse (installs what is missing)...")
    ensure_up(settings)
    stamp = time.strftime("%Y%m%d%H%M%S")
    run_settings, client = _fresh_run(settings, stamp)
    log_path = Path(run_settings.home) / "demo" / f"worker-{stamp}.log"
    worker = WorkerProcess(run_settings, "all", run_settings.worker.web_port, log_path).start()
    print(
        f"citystream demo: worker started (log {log_path}); generating the "
        f"{args.scenario} scenario, {args.days} day(s) at scale {args.scale}..."
    )
    try:
        # a tenth of the inspectors skip patrols now and then: the rule KPIs show who
        sim = Simulation(args.scenario, args.seed, args.scale, days=args.days, shirkers=0.1)
        produced: dict[str, int] = {}
        started = time.monotonic()
        expected = 0
        for day, records in enumerate(sim.by_day(sim.feed())):
            expected += _feed_day(run_settings, records, produced)
            print(
                f"citystream demo: day {day + 1} of {args.days} sent; waiting for "
                f"{expected} events and dead letters in ClickHouse..."
            )
            if not _play_day(run_settings, client, worker, records, expected, args.timeout):
                return 1
        print(f"citystream demo: done in {time.monotonic() - started:.1f}s")
        db = run_settings.clickhouse.database
        print(_summary(client, db, produced))
        _report(run_settings, DriverExecutor(client), log_path.parent / stamp)
        return 0
    finally:
        worker.stop()

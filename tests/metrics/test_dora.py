"""The four DORA keys against histories with hand-computed answers, on SQLite and PostgreSQL.

Window: 2026-03-02 00:00 → 2026-04-01 00:00 UTC (30 days). Every expected number below is worked out
by hand in the comments next to it, from the history built in `history`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gripctl.ledger import CommitInfo, Ledger
from gripctl.ledger.testing import Clock
from gripctl.metrics import FrequencyBand, Window, compute, deploy_totals
from gripctl.metrics.prometheus import render
from gripctl.metrics.sql import grouped_quantiles

SINCE = datetime(2026, 3, 2, tzinfo=UTC)
UNTIL = datetime(2026, 4, 1, tzinfo=UTC)
WINDOW = Window(SINCE, UNTIL)


def at(text: str) -> datetime:
    """'03-05 12:30' → 2026-03-05 12:30 UTC."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def run(
    ledger: Ledger,
    clock: Clock,
    env: str,
    start: str,
    end: str | None,
    outcome: str,
    commits: tuple[tuple[str, str], ...] = (),
    kind: str = "deploy",
) -> int:
    clock.now = at(start)
    run_id = ledger.start_run(env, kind, "ci", None, None)
    ledger.record_commits(run_id, [CommitInfo(sha, at(when), "dev", sha) for sha, when in commits])
    if end is not None:
        clock.now = at(end)
        ledger.finish_run(run_id, outcome)
    return run_id


def incident(
    ledger: Ledger, clock: Clock, env: str, opened: str, resolved: str | None, run_id: int | None
) -> None:
    clock.now = at(opened)
    inc = ledger.open_incident(env, "broken", "P2", run_id=run_id)
    if resolved:
        clock.now = at(resolved)
        ledger.update_incident(inc, status="resolved")


# (start, end, outcome, commits shipped as (sha, committed at), kind) for environment prod.
PROD_RUNS: list[tuple[str, str | None, str, tuple[tuple[str, str], ...], str]] = [
    ("03-01 22:50", "03-01 23:00", "succeeded", (("c0", "03-01 20:00"),), "deploy"),  # D0: 1h before window
    (
        "03-03 10:00",
        "03-03 10:10",
        "succeeded",
        (("c1", "03-03 08:00"), ("c2", "03-02 10:10")),
        "deploy",
    ),  # D1
    ("03-05 12:00", "03-05 12:30", "failed", (("c3", "03-05 09:00"),), "deploy"),  # D2
    ("03-05 13:00", "03-05 13:20", "succeeded", (("c3", "03-05 09:00"),), "deploy"),  # D3 ships c3
    ("03-10 09:00", "03-10 09:05", "succeeded", (), "deploy"),  # D4: redeploy, no new commits
    ("03-12 15:00", "03-12 15:30", "rolled_back", (("c4", "03-12 14:00"),), "deploy"),  # D5
    ("03-12 16:00", "03-12 16:10", "failed", (("c4", "03-12 14:00"),), "deploy"),  # D6
    ("03-12 16:50", "03-12 17:00", "succeeded", (), "rollback"),  # not a deploy
    (
        "03-13 09:00",
        "03-13 09:20",
        "succeeded",
        (("c4", "03-12 14:00"), ("c5", "03-13 08:50")),
        "deploy",
    ),  # D7
    ("03-20 10:00", "03-20 10:10", "succeeded", (("c6", "03-19 10:10"),), "deploy"),  # D8
    ("03-25 10:00", "03-25 10:15", "succeeded", (), "deploy"),  # D9
    ("03-26 10:00", None, "running", (), "deploy"),  # D10: still running
    ("03-26 11:00", "03-26 11:00", "refused", (), "deploy"),  # D11: refused, changed nothing
]


@pytest.fixture
def history(ledger: Ledger, clock: Clock) -> Ledger:
    ids = [
        run(ledger, clock, "prod", start, end, outcome, commits, kind)
        for start, end, outcome, commits, kind in PROD_RUNS
    ]
    d8, d9 = ids[9], ids[10]
    incident(ledger, clock, "prod", "03-20 11:00", "03-20 13:00", d8)  # I1: 2h, linked to D8
    incident(ledger, clock, "prod", "03-25 12:00", None, d9)  # I2: unresolved, linked to D9
    incident(ledger, clock, "prod", "03-15 00:00", "03-15 01:00", None)  # I3: 1h, not caused by a deploy
    incident(ledger, clock, "prod", "02-28 00:00", "03-03 00:00", None)  # I0: opened before the window
    # qa: the window's edges.
    run(ledger, clock, "qa", "03-01 23:50", "03-02 00:00", "succeeded")  # finished exactly at --since: in
    run(ledger, clock, "qa", "03-31 23:50", "04-01 00:00", "failed")  # finished exactly at --until: out
    return ledger


def test_prod_keys_match_hand_computation(history: Ledger) -> None:
    m = compute(history.engine, WINDOW).get("prod")
    # Frequency: successful deploys in the window D1 D3 D4 D7 D8 D9 = 6 over 30 days.
    assert m.deploys == 6
    assert m.deploys_per_day == pytest.approx(0.2)
    assert m.deploys_per_week == pytest.approx(1.4)
    # Deploy days 1, 3 | 8, 11 | 18 | 23 → weeks 0-3 of 5 have deploys (majority), none has 3 deploy days.
    assert m.frequency_band is FrequencyBand.weekly
    # Lead time per commit (first successful deploy that shipped it):
    # c1 2h10m=7800, c2 24h=86400, c3 4h20m=15600 (D3, not the failed D2), c4 19h20m=69600, c5 30m=1800,
    # c6 24h=86400; c0 shipped before the window. Sorted 1800 7800 15600 69600 86400 86400 → (15600+69600)/2.
    assert m.lead_time_commits == 6
    assert m.lead_time_seconds == pytest.approx(42600)
    # CFR: finished deploys D1-D9 = 9; failed D2 D5(rolled back) D6, incident-linked D8 D9 (I2 still open).
    assert (m.failed_deploys, m.finished_deploys) == (5, 9)
    assert m.change_failure_rate == pytest.approx(5 / 9, abs=1e-6)
    # Time to restore: I1 7200 and I3 3600 resolved → 5400; I2 open (excluded); I0 opened before window.
    assert (m.incidents_resolved, m.incidents_unresolved) == (2, 1)
    assert m.time_to_restore_seconds == pytest.approx(5400)
    # Recovery: D2 12:30 → D3 13:20 = 3000; D5 15:30 (first of D5, D6) → D7 03-13 09:20 = 64200;
    # median 33600.
    # The successful *rollback* run at 03-12 17:00 is not a deploy, so it does not end the episode.
    assert m.recoveries == 2
    assert m.recovery_seconds == pytest.approx(33600)
    # Durations of D1-D9: 600 1800 1200 300 1800 600 1200 600 900 → median 900, p90 at pos 8.2 → 1800.
    assert m.duration_quantiles == {"0.5": 900.0, "0.9": 1800.0, "0.99": 1800.0}


def test_window_edges_since_inclusive_until_exclusive(history: Ledger) -> None:
    m = compute(history.engine, WINDOW).get("qa")
    assert (m.deploys, m.finished_deploys, m.failed_deploys) == (1, 1, 0)
    assert m.change_failure_rate == 0.0
    assert m.deploys_per_day == pytest.approx(1 / 30, abs=1e-6)
    assert m.frequency_band is FrequencyBand.monthly  # 1 of 1 thirty-day periods, 1 of 5 weeks
    assert m.lead_time_seconds is None and m.lead_time_commits == 0  # deploys without commits
    assert m.time_to_restore_seconds is None and m.recovery_seconds is None


def test_window_that_excludes_the_boundary_deploy(history: Ledger) -> None:
    # Moving --since one second later drops qa's deploy: a window with nothing finished is "no data".
    later = Window(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC), UNTIL)
    report = compute(history.engine, later)
    assert [m.environment for m in report.environments] == ["prod"]


def test_no_deploys_is_no_data_not_zero(ledger: Ledger) -> None:
    report = compute(ledger.engine, WINDOW, ["staging"])
    m = report.get("staging")
    assert m.deploys_per_day is None and m.deploys_per_week is None and m.frequency_band is None
    assert m.lead_time_seconds is None and m.change_failure_rate is None
    assert m.time_to_restore_seconds is None and m.recovery_seconds is None
    assert (m.deploys, m.finished_deploys, m.incidents_resolved) == (0, 0, 0)
    assert compute(ledger.engine, WINDOW).environments == ()


def test_environment_filter(history: Ledger) -> None:
    report = compute(history.engine, WINDOW, ["qa"])
    assert [m.environment for m in report.environments] == ["qa"]
    assert compute(history.engine, WINDOW).get("prod").deploys == 6


def test_daily_band(ledger: Ledger, clock: Clock) -> None:
    # 14-day window, deploys on Mon/Tue/Wed of both weeks → every week has 3 deploy days → daily.
    for day in ("03-02", "03-03", "03-04", "03-09", "03-10", "03-11"):
        run(ledger, clock, "prod", f"{day} 10:00", f"{day} 10:05", "succeeded")
    m = compute(ledger.engine, Window(SINCE, at("03-16 00:00"))).get("prod")
    assert m.frequency_band is FrequencyBand.daily
    assert m.deploys_per_week == pytest.approx(3.0)


def test_quantiles_interpolate_like_percentile_cont(ledger: Ledger) -> None:
    from sqlalchemy import literal, select, union_all

    rows = [("a", 1.0), ("a", 2.0), ("a", 3.0), ("a", 10.0), ("b", 5.0)]
    source = union_all(*(select(literal(g).label("g"), literal(v).label("v")) for g, v in rows)).subquery()
    query = grouped_quantiles(source, "g", "v", (0.5, 0.9), ledger.dialect).order_by("g")
    with ledger.engine.connect() as conn:
        result = [tuple(r) for r in conn.execute(query)]
    # a: median (2+3)/2 = 2.5; p90 position 1 + 0.9*3 = 3.7 → 3 + 0.7*(10-3) = 7.9. b: a single value.
    assert [(g, n, pytest.approx(q5), pytest.approx(q9)) for g, n, q5, q9 in result] == [
        ("a", 4, 2.5, 7.9),
        ("b", 1, 5.0, 5.0),
    ]


_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)


def parse_exposition(text: str) -> dict[str, float]:
    """A strict little parser of the Prometheus text format: every sample belongs to a declared family
    (summaries also own _sum/_count), values are floats, labels are well-formed."""
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"gauge", "counter", "summary"}
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match.group(1)
        family = name if name in types else re.sub(r"_(sum|count)$", "", name)
        assert family in types, f"sample {name} has no # TYPE"
        if types[family] == "summary" and name == family:
            assert 'quantile="' in (match.group(2) or "")
        samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_prometheus_exposition(history: Ledger) -> None:
    report = compute(history.engine, WINDOW)
    text = render(report, deploy_totals(history.engine))
    samples = parse_exposition(text)
    assert samples['gripctl_dora_deployment_frequency_per_day{environment="prod"}'] == pytest.approx(0.2)
    assert samples['gripctl_dora_lead_time_seconds{environment="prod"}'] == pytest.approx(42600)
    assert samples['gripctl_dora_change_failure_rate{environment="prod"}'] == pytest.approx(5 / 9, abs=1e-6)
    assert samples['gripctl_dora_time_to_restore_seconds{environment="prod"}'] == pytest.approx(5400)
    assert samples['gripctl_dora_deployment_frequency_band{environment="prod",band="weekly"}'] == 1
    assert 'gripctl_dora_lead_time_seconds{environment="qa"}' not in samples  # no data: absent, not 0/NaN
    assert samples['gripctl_deploy_duration_seconds{environment="prod",quantile="0.5"}'] == 900
    # All-time counters: D0-D9 succeeded 7 (D0 D1 D3 D4 D7 D8 D9), failed 2, rolled back 1, refused 1.
    assert samples['gripctl_deploys_total{environment="prod",outcome="succeeded"}'] == 7
    assert samples['gripctl_deploys_total{environment="prod",outcome="failed"}'] == 2
    assert samples['gripctl_deploys_total{environment="prod",outcome="rolled_back"}'] == 1
    assert samples['gripctl_deploys_total{environment="prod",outcome="refused"}'] == 1
    assert samples['gripctl_deploy_duration_seconds_count{environment="prod"}'] == 11
    # D0-D9 (600+600+1800+1200+300+1800+600+1200+600+900 = 9600) + D11 refused (0 s).
    assert samples['gripctl_deploy_duration_seconds_sum{environment="prod"}'] == 9600


def test_label_values_are_escaped(ledger: Ledger, clock: Clock) -> None:
    run(ledger, clock, 'we"ird\\env', "03-03 10:00", "03-03 10:10", "succeeded")
    text = render(compute(ledger.engine, WINDOW), deploy_totals(ledger.engine))
    samples = parse_exposition(text)
    assert samples['gripctl_deploys_total{environment="we\\"ird\\\\env",outcome="succeeded"}'] == 1


def _cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIPCTL_DATABASE_URL": db, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", *args], capture_output=True, text=True, check=False, env=env
    )


def test_cli_json_table_and_prometheus(history: Ledger, tmp_path: Path) -> None:
    db = history.engine.url.render_as_string(hide_password=False)
    window = ("--since", "30d", "--until", "2026-04-01T00:00:00Z")
    result = _cli("--output", "json", "metrics", "-e", "prod", *window, db=db)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["window"] == {
        "since": "2026-03-02T00:00:00+00:00",
        "until": "2026-04-01T00:00:00+00:00",
        "days": 30,
    }
    (prod,) = doc["environments"]
    assert prod["lead_time_seconds"] == pytest.approx(42600) and prod["frequency_band"] == "weekly"

    table = _cli("-C", str(tmp_path), "metrics", *window, db=db)
    assert table.returncode == 0, table.stderr
    assert "prod" in table.stdout and "weekly" in table.stdout and " 56% " in table.stdout
    wide = _cli("-C", str(tmp_path), "-o", "wide", "metrics", *window, db=db)  # with the counts behind it
    assert wide.returncode == 0 and "56% (5/9)" in wide.stdout and "commits)" in wide.stdout

    prom = _cli("metrics", "--format", "prometheus", *window, db=db)
    assert prom.returncode == 0, prom.stderr
    assert parse_exposition(prom.stdout)['gripctl_dora_lead_time_seconds{environment="prod"}'] == 42600


def test_cli_bad_window_is_a_usage_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.sqlite'}"
    bad = _cli("metrics", "--since", "last tuesday", db=db)
    assert bad.returncode == 64
    assert "--since 'last tuesday' is neither a duration nor a date" in bad.stderr
    empty = _cli("metrics", "--since", "2026-05-01", "--until", "2026-04-01", db=db)
    assert empty.returncode == 64 and "window is empty" in empty.stderr
    assert not (tmp_path / "l.sqlite").exists()  # rejected before the ledger was opened


def test_indexed_quantiles_match_percentile_cont(ledger: Ledger) -> None:
    from sqlalchemy import Column, Float, MetaData, String, Table, insert

    from gripctl.metrics.sql import indexed_quantiles

    table = Table("quantile_probe", MetaData(), Column("g", String(8)), Column("v", Float))
    rows = [("a", v) for v in (10.0, 1.0, 3.0, 2.0)] + [("b", 5.0)]
    with ledger.engine.connect() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"g": g, "v": v} for g, v in rows])
        qs = (0.0, 0.5, 0.9, 0.99, 1.0)
        a = indexed_quantiles(conn, table.c.v, [table.c.g == "a"], qs)
        b = indexed_quantiles(conn, table.c.v, [table.c.g == "b"], qs)
        none = indexed_quantiles(conn, table.c.v, [table.c.g == "c"], (0.5,))
        conn.rollback()
    # a sorted 1 2 3 10: positions q*(n-1) = 0, 1.5, 2.7, 2.97, 3 → 1, 2.5, 3+0.7*7=7.9, 3+0.97*7=9.79, 10.
    assert a[0] == 4 and a[1] == pytest.approx([1.0, 2.5, 7.9, 9.79, 10.0])
    assert b == (1, [5.0] * 5)
    assert none == (0, [None])

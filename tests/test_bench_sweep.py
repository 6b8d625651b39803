"""bench/sweep.py at a tiny size on SQLite, so the benchmark keeps working (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from bench.sweep import Plan, render, run_size


async def test_sweep_bench_runs_and_reports(tmp_path: Path) -> None:
    plan = Plan(history=200, open_cases=50, open_promises=10, due_fr=8, due_promise=2, agents=10,
                bench_cases=5, bench_promises=1, batch=64)
    result = await run_size("sqlite", None, plan, ks=(0, 1, 10), repeats=2, warmup=1, report_repeats=2,
                            workdir=tmp_path)

    assert result["rows"]["mentions"] >= 200
    assert result["running_clocks"] == 60  # 50 first-response + 10 promise clocks
    assert [s["k"] for s in result["sweeps"]] == [0, 1, 10]
    for s in result["sweeps"]:
        assert s["taken"] == [s["k"]]  # every armed clock took exactly one rung, every run
        assert s["runs"] == 2 and s["median_ms"] > 0 and s["p95_ms"] >= s["median_ms"] * 0.5
    answers = {r["query"]: r["result"] for r in result["reports"]}
    assert answers["mine"]["total_cases"] == 5 and answers["mine"]["promises"] == 1
    assert answers["overdue"]["total"] > 0 and answers["stats"]["promises_open"] == 10

    claim = next(p for p in result["plans"] if p["from"] == "sweep" and "FROM clocks" in p["sql"])
    assert any("ix_clocks_next" in line for line in claim["plan"]), claim["plan"]

    text = render([result], {"date": "today"})
    assert "| sqlite | 200 |" in text and "ix_clocks_next" in text
    assert not list(tmp_path.iterdir())  # the database file is removed afterwards

"""bench/surge_storm.py at a tiny scale on SQLite, so the benchmark keeps working (no timing is asserted)."""

from __future__ import annotations

from bench.surge_storm import report, run, targets, to_json


async def test_storm_bench_runs_and_reports() -> None:
    result = await run("sqlite", minutes=20 / 60, storm=200, normal_every=(2.0, 3.0), drain=5.0)

    sent = result.storm_sent + result.normal_sent
    assert result.storm_sent == 200 and result.normal_sent >= 1
    assert result.stored == sent  # every mention stored
    vis = result.visibility["all"]
    assert vis["n"] == sent and vis["p50_s"] == vis["p50_s"]  # a number (NaN only without mentions)
    assert result.calls.get("chat.postMessage", 0) > 0 and result.posts
    assert result.surges, "the storm raised no surge"
    assert len(targets(result)) == 7
    text = report(result, {"date": "today"})
    assert "| every mention stored |" in text
    assert to_json(result, {})["targets"][0]["requirement"] == "every mention stored"

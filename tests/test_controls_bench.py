"""Smoke test of benchmarks/controls.py (issue 13's figures): the script runs end to end at
its --quick sizes on every core and loop here and writes every figure it promises. Only the
shape and the counts are checked, never a timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lanecore import _impl
from lanecore.bench.loops import available_loops

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; append so lanecore stays as is
    sys.path.append(str(ROOT))

from benchmarks import controls  # noqa: E402

PAIRED = {"ratio", "ratio_min", "ratio_max", "ref_ops_per_s", "ops_per_s", "pairs", "commands"}


def test_controls_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "controls.json"
    assert controls.main(["--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["machine"]["quick"] is True
    size = controls.QUICK
    assert set(data["results"]) == set(_impl.CORES)
    for core, per_core in data["results"].items():
        memory = per_core["memory"]
        for key in ("plain_bytes_per_lane", "rated_bytes_per_lane"):
            assert memory[key] > 0, (core, key)
        assert set(per_core["loops"]) == set(available_loops())
        for loop, got in per_core["loops"].items():
            assert set(got) == {"w10", "lanes", "cost", "delayed", "groups"}, (core, loop)
            assert set(got["w10"]) == {"controls", "controls_throttled"}
            for figures in got["w10"].values():
                assert set(figures) == PAIRED
                assert figures["pairs"] == size.pairs and figures["commands"] == size.commands
                assert figures["ratio_min"] <= figures["ratio"] <= figures["ratio_max"]
            lanes = got["lanes"]
            assert set(lanes["dispatch"]) == {"spread", "ten_used", "ten_used_no_collect"}
            assert all(set(f) == PAIRED for f in lanes["dispatch"].values())
            assert set(lanes["churn"]) == {
                f"{kind}_{part}_ms"
                for kind in ("plain", "rated")
                for part in ("add", "remove", "total")
            }
            assert lanes["remove_while_busy"]["pending"] == size.busy_pending
            templated = lanes["templated"]
            assert templated["lanes"] == size.lanes
            assert templated["existing_lanes_before_second_pass"] == size.lanes
            assert templated["removing_sweep_ms"] > 0 and templated["sweeps"] >= 1
            cost = got["cost"]
            assert cost["rate"] == 1000 and cost["burst"] == 1000
            assert cost["commands_started"] > 0 and cost["backlog_left"] > 0
            assert 0 < cost["spent"] <= 1000 + 1000 * cost["seconds"] + 50
            delayed = got["delayed"]
            assert delayed["scheduled_while_idle"] == size.delayed
            assert delayed["plain_submit_ns"] > 0 and delayed["delayed_submit_ns"] > 0
            groups = got["groups"]
            for total in size.among:
                row = groups[str(total)]
                assert row["small_group"] == row["recent_group"] == size.small_group
                assert ("big_us" in row) == (total >= 10 * size.big_group)
            assert groups["small_high_vs_low"] > 0 and groups["recent_high_vs_low"] > 0
            assert groups["big_per_member_vs_small"] > 0
    names = {row["figure"] for row in data["figures"]}
    assert len(data["figures"]) == len(names) * len(_impl.CORES)
    assert len(names) == 18
    for row in data["figures"]:
        assert set(row) == {"figure", "core", "target", "measured", "values", "met"}
        assert row["met"] in (True, False, None)
    assert "| figure | core |" in controls.markdown(data["figures"])

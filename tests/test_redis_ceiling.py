"""benchmarks/redis_ceiling.py at a tiny size: both modes finish every job (the script checks
each result), and the per-script split (SLOWLOG) finds the scripts of the timed window."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import redis_fixtures

from lanecore.redis.testing import find_redis_server


@pytest.mark.parametrize("mode", ["burst", "drain"])
def test_ceiling_script_runs_end_to_end(mode: str, tmp_path: Path) -> None:
    if find_redis_server() is None:
        pytest.skip("no redis-server on PATH")
    pytest.importorskip("uvloop")
    if str(redis_fixtures.ROOT) not in sys.path:  # benchmarks/ is not installed
        sys.path.append(str(redis_fixtures.ROOT))
    from benchmarks import redis_ceiling

    out = tmp_path / "ceiling.json"
    argv = ["--jobs", "300", "--rounds", "1", "--warmup", "50", "--batch", "100"]
    assert redis_ceiling.main([*argv, "--mode", mode, "--slowlog", "--json", str(out)]) == 0
    (summary,) = json.loads(out.read_text()).values()
    assert summary["jobs_per_s"] > 0
    scripts = summary["scripts"]
    assert "step" in scripts
    # drain mode submits before the timed window: only the claims are in it
    assert ("submit" in scripts) == (mode == "burst")
    assert summary["cpu_us_per_job"]["redis"] > 0

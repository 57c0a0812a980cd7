"""The explain benchmark's table: one row per method in ranking order, then random."""

from __future__ import annotations

from benchmarks.explain_faithfulness import table


def test_benchmarks_explain_table_rows() -> None:
    row = {
        "comprehensiveness": 0.5,
        "comprehensiveness_gain": 0.3,
        "sufficiency": 0.1,
        "sufficiency_gain": 0.2,
        "faithfulness": 0.5,
        "seconds_per_text": 1.25,
        "comprehensiveness_random": 0.2,
        "sufficiency_random": 0.3,
    }
    result = {"ranking": ["lime", "ig"], "methods": {"ig": row, "lime": row}}
    lines = table({"rt": result}).splitlines()
    assert [line.split("|")[2].strip() for line in lines[2:]] == ["lime", "ig", "random"]
    assert "| rt | random | 0.200 | 0.000 | 0.300 |" in lines[-1]

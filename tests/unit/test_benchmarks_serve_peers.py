"""The pure parts of benchmarks/serve_peers.py: arguments, the venv recipe, the model copy,
answers, percentiles, agreement and aggregation. Nothing here starts a server or installs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.serve_load import Record, latency_summary, percentile
from benchmarks.serve_peers import (
    INFINITY_REQUIREMENT,
    aggregate,
    comparison_rows,
    infinity_command,
    infinity_label_endpoint,
    infinity_model_folder,
    infinity_venv_commands,
    label_agreement,
    parse_args,
    server_names,
    tuneforge_label_endpoint,
    with_settings,
)


def test_serve_peers_parse_args_defaults() -> None:
    args = parse_args(["--run", "runs/rt"])
    assert args.run == Path("runs/rt")
    assert args.concurrency == [1, 8, 32]
    assert (args.repeats, args.threads, args.duration) == (2, 1, 20.0)
    assert args.extra_run == {}


def test_serve_peers_extra_runs_become_named_sessions_after_the_pair() -> None:
    args = parse_args(["--run", "r", "--extra-run", "ov=/tmp/ov", "--extra-run", "onnx=/o"])
    assert args.extra_run == {"ov": Path("/tmp/ov"), "onnx": Path("/o")}
    assert server_names(args.extra_run) == [
        "tuneforge",
        "infinity",
        "tuneforge ov",
        "tuneforge onnx",
    ]


def test_serve_peers_variants_serve_the_run_with_dotted_settings_after_extra_runs() -> None:
    args = parse_args(
        ["--run", "r", "--extra-run", "ov=/o", "--variant",
         "wait20=batching.max_wait_ms=20,models.inference_threads=2"]
    )  # fmt: skip
    assert args.variant == {"wait20": {"batching.max_wait_ms": 20, "models.inference_threads": 2}}
    assert server_names(args.extra_run, args.variant) == [
        "tuneforge", "infinity", "tuneforge ov", "tuneforge wait20"
    ]  # fmt: skip
    base = {"registry": "/r", "models": {"inference_threads": 1}}
    assert with_settings(base, args.variant["wait20"]) == {
        "registry": "/r",
        "models": {"inference_threads": 2},
        "batching": {"max_wait_ms": 20},
    }
    assert base == {"registry": "/r", "models": {"inference_threads": 1}}  # not changed


@pytest.mark.parametrize(
    "bad",
    [
        ["--variant", "wait20"],
        ["--variant", "wait20=batching.x"],
        ["--variant", "a=b=1", "--variant", "a=c=2"],
        ["--threads", "0"],
        ["--concurrency", "8", "0"],
        ["--repeats", "0"],
        ["--extra-run", "no-equals-sign"],
        ["--extra-run", "a=x", "--extra-run", "a=y"],
    ],
)
def test_serve_peers_parse_args_rejects_bad_values(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--run", "r", *bad])


def test_serve_peers_venv_installs_cpu_torch_first_into_its_own_venv(tmp_path: Path) -> None:
    venv = tmp_path / "infinity-venv"
    commands = infinity_venv_commands(venv, "/usr/bin/python3")
    assert commands[0] == ["/usr/bin/python3", "-m", "venv", str(venv)]
    # Every install runs the new venv's own pip, never the caller's.
    assert all(
        command[:4] == [str(venv / "bin/python"), "-m", "pip", "install"]
        for command in commands[1:]
    )
    installed = [command[-1] for command in commands[1:]]
    # A bare torch requirement (pulled by infinity-emb's torch extra) would fetch a CUDA build.
    assert installed == ["torch==2.13.0", INFINITY_REQUIREMENT]
    assert INFINITY_REQUIREMENT.startswith("infinity-emb[server,torch]")


def test_serve_peers_infinity_command_is_loopback_uncached_and_keyed(tmp_path: Path) -> None:
    command = infinity_command(tmp_path / "venv", tmp_path / "model", 7997, "k3y", "bfloat16")

    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert option("--host") == "127.0.0.1"
    assert option("--api-key") == "k3y"
    assert option("--dtype") == "bfloat16"
    assert "--no-vector-disk-cache" in command


def test_serve_peers_model_copy_truncates_at_max_seq_length(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512, "x": 1}))
    copy = infinity_model_folder(model, tmp_path / "copy", 64)
    written = json.loads((copy / "tokenizer_config.json").read_text())
    assert written == {"model_max_length": 64, "x": 1}
    assert (copy / "config.json").is_symlink()
    assert json.loads((model / "tokenizer_config.json").read_text())["model_max_length"] == 512


def test_serve_peers_endpoints_read_the_top_label() -> None:
    infinity = infinity_label_endpoint("http://h", "k")
    payload = {"data": [[{"label": "neg", "score": 0.3}, {"label": "pos", "score": 0.7}]]}
    assert infinity.answer(payload) == "pos"
    assert infinity.body("a text") == {"model": "clf", "input": ["a text"]}
    assert infinity.url == "http://h/classify"
    assert infinity.headers == {"Authorization": "Bearer k"}
    ours = tuneforge_label_endpoint("http://h", "k")
    assert ours.answer({"predictions": [{"label": "neg", "score": 0.9}]}) == "neg"
    assert ours.url == "http://h/v1/models/clf/predict"


def test_serve_peers_percentile_is_nearest_rank() -> None:
    ordered = [float(i) for i in range(1, 101)]  # 1..100
    assert percentile(ordered, 0.5) == 51.0  # index round(49.5) = 50 (banker's rounding: 50)
    assert percentile(ordered, 0.99) == 99.0  # index round(98.01) = 98
    assert percentile([7.0], 0.99) == 7.0


def test_serve_peers_latency_summary_counts_errors_and_ok_only() -> None:
    records = [Record(0.0, 0.010 * (i + 1), 200, "pos", i) for i in range(9)]
    records += [Record(0.0, 5.0, 503, None, 9), Record(0.0, 0.001, 0, None, 10)]
    summary = latency_summary(records, elapsed_s=3.0)
    assert summary["requests"] == 11
    assert summary["errors"] == 2
    assert summary["error_statuses"] == [0, 503]
    assert summary["throughput_rps"] == pytest.approx(3.0)
    assert summary["p50_ms"] == pytest.approx(50.0)  # failed requests' latencies excluded
    assert summary["p99_ms"] == pytest.approx(90.0)


def test_serve_peers_label_agreement_over_texts_both_answered() -> None:
    ours = {0: "pos", 1: "neg", 2: "pos", 3: "neg"}
    theirs = {0: "pos", 1: "pos", 2: "pos"}  # text 3 failed there
    assert label_agreement(ours, theirs) == {"texts": 3, "agreeing": 2, "agreement": 2 / 3}
    assert label_agreement({}, theirs)["agreement"] is None


def test_serve_peers_aggregate_medians_and_summed_errors() -> None:
    rows = [
        {"contender": "tuneforge@32", "texts_per_s": t, "p99_ms": p, "errors": e, "requests": 100}
        for t, p, e in [(100.0, 300.0, 0), (120.0, 280.0, 1), (110.0, 500.0, 0)]
    ]
    medians = aggregate(rows)["tuneforge@32"]
    assert medians["texts_per_s"] == 110.0
    assert medians["p99_ms"] == 300.0
    assert medians["errors"] == 1  # summed: one failure in any repeat shows
    assert medians["requests"] == 300
    assert medians["repeats"] == 3


def test_serve_peers_comparison_rows_put_ratios_after_each_level() -> None:
    def figures(texts_per_s: float) -> dict[str, float]:
        return {
            "requests": 10, "texts_per_s": texts_per_s, "p50_ms": 10.0, "p99_ms": 40.0,
            "cpu_s_per_1000_texts": 8.0, "errors": 0,
        }  # fmt: skip

    medians = {"tuneforge@32": figures(150.0), "infinity@32": figures(100.0)}
    medians["tuneforge int8@32"] = figures(300.0)
    servers = server_names({"int8": Path("r")})
    rows = comparison_rows(medians, [32], servers)
    assert [row[1] for row in rows] == [
        "tuneforge", "infinity", "tuneforge int8",
        "tuneforge / infinity", "tuneforge int8 / infinity",
    ]  # fmt: skip
    assert rows[3][3] == pytest.approx(1.5)
    assert rows[3][5] == pytest.approx(1.0)
    assert rows[4][3] == pytest.approx(3.0)

"""`tuneforge federate` on Flower's simulation runtime with the real 1-layer MiniLM: the global
model improves, only adapter tensors travel, the run folder is a normal one, nothing is left
running; bad site data fails with exit 2 before Flower starts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from _configs import run_cli, tiny_config, write_bbc_csv, write_yaml

# find_spec, not importorskip: importing flwr here would read its telemetry switch before
# tuneforge turns it off.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("flwr") is None, reason="the federated extra is not installed"
    ),
]

LORA_ROUNDS = {
    "adaptation": {"method": "lora"},
    # LoRA on one layer and 32 tokens needs a large step to move in 2 short rounds.
    "training": {"learning_rate": 2e-2, "warmup_ratio": 0.0, "num_threads": 1},
    "federated": {"sites": 3, "rounds": 2, "local_epochs": 4},
}


def test_federated_simulation_improves_and_exchanges_only_adapters(tmp_path: Path) -> None:
    from tuneforge.config import config_from_dict
    from tuneforge.federated import federate
    from tuneforge.predict import load_predictor

    raw = tiny_config(tmp_path / "runs", data={"max_examples": 150}, **LORA_ROUNDS)
    config = config_from_dict(raw)
    environment = dict(os.environ)

    result = federate(config, show_progress=False)

    rounds = result.report["rounds"]
    assert [row["round"] for row in rounds] == [0, 1, 2]
    first, last = rounds[0]["global"], rounds[-1]["global"]
    assert last["loss"] < first["loss"]
    assert last["macro_f1"] > first["macro_f1"]
    # Only the LoRA matrices and the head travel, and the bytes are exactly theirs.
    names = result.report["exchanged_tensors"]
    assert names and all("lora_" in n or "classifier.modules_to_save" in n for n in names)
    assert not any("word_embeddings" in n or n.endswith("query.base_layer.weight") for n in names)
    trainable = json.loads((result.run_dir / "metrics.json").read_text())["training"][
        "trainable_parameters"
    ]
    for row in rounds[1:]:
        assert row["trained_sites"] == ["site-0", "site-1", "site-2"]
        # float32 tensors, one reply per site, plus each array's small serialisation header.
        assert 3 * trainable * 4 < row["bytes_from_sites"] < 3 * trainable * 4 * 1.02
        assert row["worst_site"] is not None and row["site_spread"] >= 0
    # A normal run folder: the predictor loads it; the card states the federated setup.
    card = (result.run_dir / "model_card.md").read_text()
    assert "## Federated training" in card and "3 sites" in card
    assert "sites' data: partition of one dataset: iid" in card
    assert (result.run_dir / "federated.png").stat().st_size > 10_000
    predictor = load_predictor(result.run_dir)
    assert len(predictor.predict(["Shares in the bank rose after its profits doubled."])) == 1
    # Flower's state stayed in the run folder; no process or environment change survives.
    assert (result.run_dir / ".flwr").is_dir()
    assert dict(os.environ) == environment
    assert psutil.Process().children(recursive=True) == []


def test_federated_cli_sites_from_with_client_dp(tmp_path: Path, bbc_news_dir: Path) -> None:
    sites = tmp_path / "sites"
    write_bbc_csv(sites / "a.csv", bbc_news_dir, per_topic=8)
    write_bbc_csv(sites / "b.csv", bbc_news_dir, per_topic=8, offset=8)
    raw = tiny_config(tmp_path / "runs", **LORA_ROUNDS)
    raw["data"] = {"source": str(sites / "a.csv")}
    raw["federated"] = {
        "rounds": 2,
        "local_epochs": 1,
        "privacy": {"noise_multiplier": 1.0, "clipping_norm": 0.5},
    }
    config = write_yaml(tmp_path / "fed.yaml", raw)

    result = run_cli("federate", str(config), "--sites-from", str(sites), cwd=tmp_path, timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "run"
    report = json.loads((run_dir / "federated.json").read_text())
    assert list(report["sites"]) == ["a.csv", "b.csv"]
    epsilons = [row["epsilon"] for row in report["rounds"][1:]]
    assert 0 < epsilons[0] < epsilons[1]
    assert report["noise_multiplier"] == 1.0
    assert (run_dir / "metrics.json").is_file()
    card = (run_dir / "model_card.md").read_text()
    assert "updates clipped to 0.5" in card and "one data file per site (--sites-from)" in card


@pytest.mark.parametrize(
    ("federated", "expected"),
    [
        ({"rounds": 0}, "federated.rounds"),
        ({"sites": 40}, "federated.sites is 40 but the training split has only"),
    ],
)
def test_federated_cli_bad_settings_exit_2(tmp_path: Path, federated: dict, expected: str) -> None:
    raw = tiny_config(tmp_path / "runs", data={"max_examples": 40}, federated=federated)
    config = write_yaml(tmp_path / "fed.yaml", raw)

    result = run_cli("federate", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr


def test_federated_cli_site_with_other_labels_exits_2(tmp_path: Path, bbc_news_dir: Path) -> None:
    sites = tmp_path / "sites"
    write_bbc_csv(sites / "a.csv", bbc_news_dir, per_topic=6)
    other = write_bbc_csv(sites / "b.csv", bbc_news_dir, per_topic=6, offset=6)
    other.write_text(other.read_text().replace(",tech\n", ",science\n"), encoding="utf-8")
    raw = tiny_config(tmp_path / "runs")
    raw["data"] = {"source": str(sites / "a.csv")}
    config = write_yaml(tmp_path / "fed.yaml", raw)

    result = run_cli("federate", str(config), "--sites-from", str(sites), cwd=tmp_path)

    assert result.returncode == 2, result.stderr[-2000:]
    message = " ".join((result.stdout + result.stderr).split())
    assert "site b.csv: label(s) science are not in the federation's label set" in message
    assert "Traceback" not in result.stdout + result.stderr


# Flower's deployment processes; a leftover one of them is a leak.
_FLOWER_PROCESSES = (
    "flower-superlink",
    "flower-supernode",
    "flower-superexec",
    "flwr-serverapp",
    "flwr-clientapp",
)


def _federate_in_background(
    log_file: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.Popen:
    """`tuneforge federate ARGS` started in the background, its output written to `log_file`."""
    from _configs import TUNEFORGE

    with log_file.open("w") as log:
        return subprocess.Popen(
            [str(TUNEFORGE), "federate", *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@dataclass(frozen=True)
class _OneSiteFederation:
    """A one-round federation config, one site's data file, a free port and a way to start
    `tuneforge federate ...` with its log under tmp_path."""

    config: Path
    site_file: Path
    port: int
    start: Callable[..., subprocess.Popen]

    def coordinate(self, *options: str, sites: int = 1, timeout_s: int = 20) -> subprocess.Popen:
        """The coordinator for `sites` sites, giving up `timeout_s` after it starts waiting."""
        return self.start(
            "coordinator.log",
            *("coordinate", str(self.config), "--sites", str(sites)),
            *("--site-timeout", str(timeout_s), "--listen", f"127.0.0.1:{self.port}", *options),
        )

    def serve_site(
        self, log_name: str, *options: str, data: Path | None = None
    ) -> subprocess.Popen:
        """A site serving the site file (or `data`) to that coordinator."""
        return self.start(
            log_name,
            *("serve-site", str(self.config), "--superlink", f"127.0.0.1:{self.port}"),
            *("--data", str(data or self.site_file), *options),
        )


def _one_site_federation(
    tmp_path: Path, bbc_news_dir: Path, federated: dict[str, Any] | None = None
) -> _OneSiteFederation:
    """The site file holds the first 8 articles of each topic, the coordinator's evaluation
    file the next 6 (later offsets are free for more sites)."""
    from _configs import BBC_TOPICS, cli_env

    from tuneforge._net import free_port

    site_file = write_bbc_csv(tmp_path / "site.csv", bbc_news_dir, per_topic=8)
    evaluation = write_bbc_csv(tmp_path / "coordinator.csv", bbc_news_dir, per_topic=6, offset=8)
    raw = tiny_config(tmp_path / "runs", **LORA_ROUNDS)
    raw["data"] = {"source": str(evaluation), "labels": list(BBC_TOPICS)}
    raw["federated"] = {"rounds": 1, "local_epochs": 1, **(federated or {})}
    config = write_yaml(tmp_path / "fed.yaml", raw)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = cli_env({"TMPDIR": str(scratch)})

    def start(log_name: str, *args: str) -> subprocess.Popen:
        return _federate_in_background(tmp_path / log_name, tmp_path, env, *args)

    return _OneSiteFederation(config, site_file, free_port(), start)


def _flower_processes_under(folder: Path) -> list[str]:
    """Live Flower processes whose FLWR_HOME lies under `folder`."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.info["status"] == psutil.STATUS_ZOMBIE or not any(
            name in command for name in _FLOWER_PROCESSES
        ):
            continue
        try:
            home = process.environ().get("FLWR_HOME", "")
        except psutil.Error:
            continue
        if home.startswith(str(folder)):
            found.append(f"{process.pid} {command}")
    return found


@pytest.mark.parametrize(
    ("secure", "tls"),
    [(False, False), (True, False), (False, True)],
    ids=["fedavg", "secagg+", "tls+site-keys"],
)
def test_federated_deployment_two_sites_one_round_leaves_no_process(
    tmp_path: Path, bbc_news_dir: Path, secure: bool, tls: bool
) -> None:
    import signal

    from _configs import BBC_TOPICS, cli_env

    from tuneforge._net import free_port
    from tuneforge.federated.processes import wait_for_port
    from tuneforge.federated.site_keys import write_site_key
    from tuneforge.federated.tls import write_certificates
    from tuneforge.predict import load_predictor

    site_files = [
        write_bbc_csv(tmp_path / "a.csv", bbc_news_dir, per_topic=8),
        write_bbc_csv(tmp_path / "b.csv", bbc_news_dir, per_topic=8, offset=8),
    ]
    evaluation = write_bbc_csv(tmp_path / "coordinator.csv", bbc_news_dir, per_topic=6, offset=16)
    raw = tiny_config(tmp_path / "runs", **LORA_ROUNDS)
    raw["data"] = {"source": str(evaluation), "labels": list(BBC_TOPICS)}
    raw["federated"] = {"rounds": 1, "local_epochs": 1, "secure_aggregation": secure}
    config = write_yaml(tmp_path / "fed.yaml", raw)
    port = free_port()
    # The sites' temporary FLWR_HOME folders go under tmp_path too, where the leak check looks.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = cli_env({"TMPDIR": str(scratch)})
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        return _federate_in_background(logs / f"{name}.log", tmp_path, env, *args)

    address = f"127.0.0.1:{port}"
    # Each site has 32 training rows (8 articles of 5 topics, 80% train).
    secure_options = ["--max-site-rows", "40"] if secure else []
    coordinator_tls: list[str] = []
    site_tls: dict[str, list[str]] = {path.stem: [] for path in site_files}
    if tls:
        # TLS, and only the two sites whose public keys the coordinator registers may join.
        files = write_certificates(tmp_path / "certs", ["127.0.0.1"])
        coordinator_tls = [
            *("--ssl-ca-certfile", str(files["ca.crt"])),
            *("--ssl-certfile", str(files["server.pem"])),
            *("--ssl-keyfile", str(files["server.key"])),
        ]
        for name in site_tls:
            private, public = write_site_key(tmp_path / f"keys-{name}", name)
            coordinator_tls += ["--site-key", str(public)]
            site_tls[name] = [
                *("--root-certificates", str(files["ca.crt"])),
                *("--site-key", str(private)),
            ]
    coordinator = start(
        "coordinator",
        "coordinate",
        str(config),
        "--sites",
        "2",
        "--listen",
        address,
        *secure_options,
        *coordinator_tls,
    )
    site_processes: list[subprocess.Popen] = []
    try:
        wait_for_port("127.0.0.1", port, coordinator, 120)
        for path in site_files:
            site_processes.append(
                start(
                    path.stem,
                    "serve-site",
                    str(config),
                    "--superlink",
                    address,
                    "--data",
                    str(path),
                    *site_tls[path.stem],
                )
            )
        coordinator.wait(timeout=900)
        assert coordinator.returncode == 0, (logs / "coordinator.log").read_text()[-4000:]
    finally:
        for process in [coordinator, *site_processes]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [coordinator, *site_processes]:
            process.wait(timeout=120)

    site_outputs = [(logs / f"{path.stem}.log").read_text() for path in site_files]
    for process, site_output in zip(site_processes, site_outputs, strict=True):
        assert process.returncode == 0, site_output[-3000:]
        assert "stopped" in site_output
    run_dir = tmp_path / "runs" / "run"
    report = json.loads((run_dir / "federated.json").read_text())
    assert [row["round"] for row in report["rounds"]] == [0, 1]
    assert sorted(report["sites"]) == ["a.csv", "b.csv"]
    assert report["sites"]["a.csv"]["train"] > 0
    last = report["rounds"][-1]
    assert sorted(last["trained_sites"]) == ["a.csv", "b.csv"]
    assert sorted(last["sites"]) == ["a.csv", "b.csv"] and last["worst_site"] is not None
    assert last["bytes_from_sites"] > 0
    assert all("lora_" in n or "classifier" in n for n in report["exchanged_tensors"])
    card = (run_dir / "model_card.md").read_text()
    assert "2 sites" in card and "real sites, each reading its own data file" in card
    assert ("Secure aggregation: SecAgg+" in card) is secure
    coordinator_output = (logs / "coordinator.log").read_text()
    assert ("(TLS)" in coordinator_output) is tls
    assert ("2 site key(s) registered: a, b; no other site can join" in coordinator_output) is tls
    assert ("(plain text)" in coordinator_output) is not tls
    assert (run_dir / "metrics.json").is_file()
    predictor = load_predictor(run_dir)
    assert len(predictor.predict(["The film won three awards at the festival."])) == 1
    # Flower's state stayed in the run folder and the sites' scratch folders (now removed);
    # no Flower process of this test survives, nor any child of this one.
    assert (run_dir / ".flwr" / "superlink.log").is_file()
    assert list(scratch.glob("tuneforge-site-*")) == []
    assert _flower_processes_under(tmp_path) == []
    assert psutil.Process().children(recursive=True) == []


def test_federated_secure_aggregation_matches_plain_fedavg(tmp_path: Path) -> None:
    """SecAgg+ (3 sites, 1 round) changes only how the sum is computed: the global model equals
    plain FedAvg's on the same seed within SecAgg+'s quantisation step (16 / 2**22 per
    parameter at clipping range 8)."""
    import torch
    from safetensors.torch import load_file

    from tuneforge.config import config_from_dict
    from tuneforge.federated import federate

    def run(name: str, secure: bool) -> Any:
        raw = tiny_config(tmp_path / name, data={"max_examples": 150}, **LORA_ROUNDS)
        raw["federated"].update(rounds=1, local_epochs=2, secure_aggregation=secure)
        return federate(config_from_dict(raw), show_progress=False)

    plain, secure = run("plain", False), run("secure", True)

    rounds = secure.report["rounds"]
    assert [row["round"] for row in rounds] == [0, 1]
    assert rounds[1]["trained_sites"] == ["site-0", "site-1", "site-2"]
    assert sorted(rounds[1]["sites"]) == ["site-0", "site-1", "site-2"]
    # Masked vectors travel as bytes: about one 8-byte integer per parameter and site.
    assert rounds[1]["bytes_from_sites"] > plain.report["rounds"][1]["bytes_from_sites"]
    expected = plain.report["rounds"][1]["global"]["loss"]
    assert rounds[1]["global"]["loss"] == pytest.approx(expected, abs=1e-4)
    assert secure.report["exchanged_tensors"] == plain.report["exchanged_tensors"]
    plain_files = sorted((plain.run_dir / "model").rglob("*.safetensors"))
    assert plain_files
    for path in plain_files:
        ours = load_file(secure.run_dir / path.relative_to(plain.run_dir))
        theirs = load_file(path)
        assert ours.keys() == theirs.keys()
        for key, tensor in theirs.items():
            assert torch.allclose(ours[key].float(), tensor.float(), atol=1e-4), key
    assert "Secure aggregation: SecAgg+" in (secure.run_dir / "model_card.md").read_text()


def test_federated_coordinator_stopped_while_waiting_leaves_no_process(
    tmp_path: Path, bbc_news_dir: Path
) -> None:
    """SIGTERM to a coordinator whose ServerApp waits for sites stops the SuperLink, its
    detached flower-superexec and the flwr-serverapp it started."""
    import signal
    import time

    from _configs import BBC_TOPICS, cli_env

    from tuneforge._net import free_port
    from tuneforge.federated.processes import wait_for_port

    evaluation = write_bbc_csv(tmp_path / "coordinator.csv", bbc_news_dir, per_topic=6)
    raw = tiny_config(tmp_path / "runs")
    raw["data"] = {"source": str(evaluation), "labels": list(BBC_TOPICS)}
    config = write_yaml(tmp_path / "fed.yaml", raw)
    port = free_port()
    log_file = tmp_path / "coordinator.log"
    coordinator = _federate_in_background(
        log_file,
        tmp_path,
        cli_env(),
        *("coordinate", str(config), "--sites", "2", "--listen", f"127.0.0.1:{port}"),
    )
    try:
        wait_for_port("127.0.0.1", port, coordinator, 120)
        deadline = time.monotonic() + 300
        while "0 of 2 site(s) connected" not in log_file.read_text():
            assert time.monotonic() < deadline, log_file.read_text()[-3000:]
            assert coordinator.poll() is None, log_file.read_text()[-3000:]
            time.sleep(1)
        assert any("flwr-serverapp" in line for line in _flower_processes_under(tmp_path))
    finally:
        coordinator.send_signal(signal.SIGTERM)
        coordinator.wait(timeout=120)

    assert coordinator.returncode == 130, log_file.read_text()[-3000:]
    assert "Interrupted" in log_file.read_text()
    assert _flower_processes_under(tmp_path) == []
    assert psutil.Process().children(recursive=True) == []


def test_federated_site_with_another_ca_cannot_join_a_tls_coordinator(
    tmp_path: Path, bbc_news_dir: Path
) -> None:
    """TLS is verified, not only offered: a site that trusts another CA never connects, and the
    coordinator gives up after --site-timeout with what happened."""
    import signal

    from tuneforge.federated.processes import wait_for_port
    from tuneforge.federated.tls import write_certificates

    ours = write_certificates(tmp_path / "ours", ["127.0.0.1"])
    theirs = write_certificates(tmp_path / "theirs", ["127.0.0.1"])
    federation = _one_site_federation(tmp_path, bbc_news_dir)
    coordinator = federation.coordinate(
        *("--ssl-ca-certfile", str(ours["ca.crt"]), "--ssl-certfile", str(ours["server.pem"])),
        *("--ssl-keyfile", str(ours["server.key"])),
    )
    site = None
    try:
        wait_for_port("127.0.0.1", federation.port, coordinator, 120)
        site = federation.serve_site("site.log", "--root-certificates", str(theirs["ca.crt"]))
        coordinator.wait(timeout=300)
    finally:
        for process in (coordinator, site):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)

    output = (tmp_path / "coordinator.log").read_text()
    assert coordinator.returncode not in (0, None), output[-3000:]
    assert "only 0 of 1 site(s) connected in 20 s" in output, output[-3000:]
    assert not (tmp_path / "runs" / "run" / "metrics.json").exists()
    assert _flower_processes_under(tmp_path) == []


def test_federated_site_without_a_registered_key_cannot_join(
    tmp_path: Path, bbc_news_dir: Path
) -> None:
    """With site keys, TLS and the CA certificate are not enough: a site whose key the
    coordinator did not register, and a site with no key, never join; the coordinator gives up
    after --site-timeout."""
    import signal

    from tuneforge.federated.processes import wait_for_port
    from tuneforge.federated.site_keys import write_site_key
    from tuneforge.federated.tls import write_certificates

    files = write_certificates(tmp_path / "certs", ["127.0.0.1"])
    _, registered = write_site_key(tmp_path / "registered", "a")
    stranger, _ = write_site_key(tmp_path / "stranger", "b")
    federation = _one_site_federation(tmp_path, bbc_news_dir)
    coordinator = federation.coordinate(
        *("--site-key", str(registered)),
        *("--ssl-ca-certfile", str(files["ca.crt"]), "--ssl-certfile", str(files["server.pem"])),
        *("--ssl-keyfile", str(files["server.key"])),
    )
    sites: list[subprocess.Popen] = []
    try:
        wait_for_port("127.0.0.1", federation.port, coordinator, 120)
        ca = ("--root-certificates", str(files["ca.crt"]))
        sites.append(federation.serve_site("stranger.log", *ca, "--site-key", str(stranger)))
        sites.append(federation.serve_site("keyless.log", *ca, "--name", "keyless"))
        coordinator.wait(timeout=300)
    finally:
        for process in (coordinator, *sites):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)

    output = (tmp_path / "coordinator.log").read_text()
    # Each site stops and says why, in words rather than Flower's exit codes.
    assert [site.returncode for site in sites] == [2, 2]
    stranger_output = " ".join((tmp_path / "stranger.log").read_text().split())
    assert "the coordinator refused this site's key" in stranger_output, stranger_output
    keyless_output = " ".join((tmp_path / "keyless.log").read_text().split())
    assert "the coordinator admits registered sites only" in keyless_output, keyless_output
    assert "1 site key(s) registered: a; no other site can join" in output, output[-3000:]
    assert coordinator.returncode not in (0, None), output[-3000:]
    assert "only 0 of 1 site(s) connected in 20 s" in output, output[-3000:]
    assert not (tmp_path / "runs" / "run" / "metrics.json").exists()
    assert _flower_processes_under(tmp_path) == []


@pytest.mark.parametrize("threshold", [0.67, 1.0])
def test_federated_secure_aggregation_outlives_a_site_that_drops_out(
    tmp_path: Path, bbc_news_dir: Path, threshold: float
) -> None:
    """SecAgg+ with secure_aggregation_threshold 0.67: of 3 sites, one fails its training after
    the key exchange (its 48 training rows exceed --max-site-rows 40, so it refuses to fit) and
    says why on its console; the server unmasks the sum of the two that stayed, the round counts
    one dropped site and the run finishes. With the default 1.0 the same round cannot be
    unmasked without the third site's shares, and the run stops saying so."""
    import signal

    from tuneforge.federated.processes import wait_for_port

    secure = {"secure_aggregation": True, "secure_aggregation_threshold": threshold}
    federation = _one_site_federation(tmp_path, bbc_news_dir, federated=secure)
    second = write_bbc_csv(tmp_path / "second.csv", bbc_news_dir, per_topic=8, offset=14)
    large = write_bbc_csv(tmp_path / "large.csv", bbc_news_dir, per_topic=12, offset=22)
    coordinator = federation.coordinate("--max-site-rows", "40", sites=3, timeout_s=300)
    sites: list[subprocess.Popen] = []
    try:
        wait_for_port("127.0.0.1", federation.port, coordinator, 120)
        sites.append(federation.serve_site("site.log"))
        sites.append(federation.serve_site("second.log", data=second))
        sites.append(federation.serve_site("large.log", data=large))
        coordinator.wait(timeout=900)
    finally:
        for process in (coordinator, *sites):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (coordinator, *sites):
            process.wait(timeout=120)

    output = (tmp_path / "coordinator.log").read_text()
    large_output = " ".join((tmp_path / "large.log").read_text().split())
    assert "a round's work failed here" in large_output, large_output[-3000:]
    assert "more than the coordinator's --max-site-rows 40" in large_output, large_output[-3000:]
    assert _flower_processes_under(tmp_path) == []
    if threshold == 1.0:
        assert coordinator.returncode not in (0, None), output[-4000:]
        flat = " ".join(output.split())
        assert "SecAgg+ round 1 aggregated no site's update: 1 site(s) failed" in flat, flat[-3000:]
        assert not (tmp_path / "runs" / "run" / "metrics.json").exists()
        return
    assert coordinator.returncode == 0, output[-4000:]
    report = json.loads((tmp_path / "runs" / "run" / "federated.json").read_text())
    last = report["rounds"][-1]
    assert last["round"] == 1 and sorted(last["trained_sites"]) == ["second.csv", "site.csv"]
    assert last["dropped_sites"] == 1
    assert "sites dropped" in output
    card = (tmp_path / "runs" / "run" / "model_card.md").read_text()
    assert "67% of a round's sites needed to unmask" in card

"""The deployment runtime's own parts: a site refuses bad input with exit 2 before it starts
any process, a stopped process takes its detached helpers with it, the generated Flower app has
no dependencies of its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import psutil
import pytest
from _configs import BBC_TOPICS, assert_user_error, invoke, tiny_config, write_bbc_csv, write_yaml

from tuneforge._net import free_port
from tuneforge.errors import ConfigError
from tuneforge.federated.deployment import parse_address, write_flower_app
from tuneforge.federated.processes import flower_process, wait_for_port

needs_flower = pytest.mark.skipif(
    importlib.util.find_spec("flwr") is None, reason="the federated extra is not installed"
)


def _site_config(folder: Path, labels: list[str] | None) -> Path:
    raw = tiny_config(folder / "runs")
    raw["data"] = {"source": "builtin:bbc-news", "labels": labels}
    return write_yaml(folder / "fed.yaml", raw)


@needs_flower
@pytest.mark.parametrize(
    ("labels", "data", "superlink", "expected"),
    [
        (list(BBC_TOPICS), "missing.csv", "127.0.0.1:9092", "--data missing.csv: no such file"),
        (list(BBC_TOPICS), "site.csv", "localhost", "--superlink localhost: expected HOST:PORT"),
        (None, "site.csv", "127.0.0.1:9092", "a deployed site needs the federation's label set"),
        (
            list(BBC_TOPICS),
            "other.csv",
            "127.0.0.1:9092",
            "site other.csv: label(s) science are not in the federation's label set",
        ),
        (
            list(BBC_TOPICS),
            "site.csv",
            "coordinator.example:9092",
            "--superlink coordinator.example is not a loopback address: model updates would "
            "cross the network unencrypted. Give --root-certificates",
        ),
    ],
)
def test_deployment_serve_site_bad_input_exits_2(
    tmp_path: Path,
    bbc_news_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    labels: list[str] | None,
    data: str,
    superlink: str,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "300")
    write_bbc_csv(tmp_path / "site.csv", bbc_news_dir, per_topic=4)
    other = write_bbc_csv(tmp_path / "other.csv", bbc_news_dir, per_topic=4)
    other.write_text(other.read_text().replace(",tech\n", ",science\n"), encoding="utf-8")
    config = _site_config(tmp_path, labels)
    before = psutil.Process().children(recursive=True)

    code, out, err = invoke(
        monkeypatch,
        capsys,
        "federate",
        "serve-site",
        str(config),
        "--superlink",
        superlink,
        "--data",
        data,
    )

    assert_user_error(code, out, err, expected)
    assert psutil.Process().children(recursive=True) == before


@pytest.mark.parametrize("address", ["9092", "host:", "host:port", "host:70000", ":9092"])
def test_deployment_parse_address_rejects(address: str) -> None:
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_address(address, "--listen")


def test_deployment_parse_address_accepts_ipv6_and_names() -> None:
    assert parse_address("127.0.0.1:9092", "--listen") == ("127.0.0.1", 9092)
    assert parse_address("[::1]:9092", "--listen") == ("::1", 9092)
    assert parse_address("coordinator.example:80", "--listen") == ("coordinator.example", 80)


def test_deployment_flower_app_has_no_dependencies(tmp_path: Path) -> None:
    folder = write_flower_app(tmp_path / "app", {"run-dir": "/runs/a b", "sites": 3})
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == []
    assert project["tool"]["flwr"]["app"]["components"] == {
        "serverapp": "tuneforge.federated.apps:server_app",
        "clientapp": "tuneforge.federated.apps:client_app",
    }
    assert project["tool"]["flwr"]["app"]["config"] == {"run-dir": "/runs/a b", "sites": 3}


# A process that starts a helper in a detached session of its own (as a SuperLink starts its
# flower-superexec), which starts a child; then waits.
_DETACHING = """
import subprocess, sys, time
helper = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", helper], start_new_session=True)
time.sleep(600)
"""


def test_deployment_stopped_process_takes_detached_helpers(tmp_path: Path) -> None:
    with flower_process([sys.executable, "-c", _DETACHING], tmp_path / "log") as process:
        root = psutil.Process(process.pid)
        for _ in range(100):
            family = root.children(recursive=True)
            if len(family) == 2:
                break
            psutil.wait_procs([], timeout=0.1)
        assert len(family) == 2
        assert len({member.pid for member in family} | {process.pid}) == 3
    assert process.returncode is not None
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []


def test_deployment_wait_for_port_reports_an_early_exit(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ConfigError, match="exited with status 3 before it listened"):
        wait_for_port("127.0.0.1", free_port(), process, timeout=30)


@needs_flower
def test_deployment_secure_aggregation_needs_max_site_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    config = _site_config(tmp_path, list(BBC_TOPICS))

    code, out, err = invoke(
        monkeypatch,
        capsys,
        "federate",
        "coordinate",
        str(config),
        "--set",
        "federated.secure_aggregation=true",
    )

    assert_user_error(code, out, err, "federated.secure_aggregation needs --max-site-rows N")
    assert not (tmp_path / "runs").exists()


class _Grid:
    def __init__(self, nodes: list[int]) -> None:
        self.nodes = nodes

    def get_node_ids(self) -> list[int]:
        return self.nodes


def test_deployment_wait_for_sites_gives_up_after_the_timeout() -> None:
    from tuneforge.errors import RunError
    from tuneforge.federated.deployment import wait_for_sites

    wait_for_sites(_Grid([7, 9]), 2, timeout=0)
    with pytest.raises(RunError, match="only 1 of 2 site"):
        wait_for_sites(_Grid([7]), 2, timeout=0)


def test_deployment_sites_are_numbered_by_name() -> None:
    from tuneforge.federated.server import ServerLog
    from tuneforge.federated.sites import SiteSummary

    log = ServerLog()
    # Replies came from b.csv first.
    log.sites = {0: SiteSummary("b.csv", 5, 1), 1: SiteSummary("a.csv", 3, 1)}
    log.node_sites = {1001: 0, 1002: 1}
    log.round(1).trained_sites = [0, 1]
    log.round(1).site_metrics = {0: {"accuracy": 0.2}, 1: {"accuracy": 0.9}}

    log.number_sites_by_name()

    assert [site.name for site in log.site_list()] == ["a.csv", "b.csv"]
    assert log.node_sites == {1001: 1, 1002: 0}
    assert log.rounds[1].trained_sites == [1, 0]
    assert log.rounds[1].site_metrics == {1: {"accuracy": 0.2}, 0: {"accuracy": 0.9}}


@needs_flower
def test_deployment_coordinate_on_a_busy_port_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    config = _site_config(tmp_path, list(BBC_TOPICS))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        code, out, err = invoke(
            monkeypatch,
            capsys,
            "federate",
            "coordinate",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
        )

    assert_user_error(code, out, err, f"--listen 127.0.0.1:{port}: cannot listen there")
    assert not (tmp_path / "runs").exists()


@needs_flower
def test_deployment_coordinate_refuses_plain_text_on_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    config = _site_config(tmp_path, list(BBC_TOPICS))
    before = psutil.Process().children(recursive=True)
    code, out, err = invoke(
        monkeypatch, capsys, "federate", "coordinate", str(config), "--listen", "0.0.0.0:9092"
    )
    assert_user_error(code, out, err, "--listen 0.0.0.0 is not a loopback address")
    assert "or --insecure to accept plain text" in " ".join((out + err).split())
    assert not (tmp_path / "runs").exists()  # refused before any run folder or process
    assert psutil.Process().children(recursive=True) == before


@needs_flower
def test_deployment_coordinate_refuses_site_keys_without_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuneforge.federated.site_keys import write_site_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    config = _site_config(tmp_path, list(BBC_TOPICS))
    _, public = write_site_key(tmp_path, "a")
    code, out, err = invoke(
        monkeypatch,
        capsys,
        *("federate", "coordinate", str(config), "--sites", "1", "--site-key", str(public)),
    )
    assert_user_error(code, out, err, "--site-key needs TLS")
    assert not (tmp_path / "runs").exists()


def test_site_shows_its_client_app_failures_from_the_supernode_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deployed site's ClientApp runs under its SuperNode, whose log only `serve-site` reads:
    the failure lines reach the site's operator once each, a line cut mid-write when it is
    complete, the rest of the log (Flower's own chatter, tracebacks) not at all."""
    from tuneforge.federated.deployment import SITE_FAILURE_MARK, _FailureRelay

    log = tmp_path / "supernode.log"
    relay = _FailureRelay(log, "clinic-a")
    relay.show_new()  # no log yet
    log.write_text(f"INFO : connected\n{SITE_FAILURE_MARK}ValueError: too many rows\nTrace")
    relay.show_new()
    with log.open("a") as handle:
        handle.write(f"back (most recent call last)\n{SITE_FAILURE_MARK}OSError: disk ")
    relay.show_new()
    first = " ".join(capsys.readouterr().err.split())
    assert first.count("site clinic-a: a round's work failed here") == 1
    assert "ValueError: too many rows" in first and "connected" not in first
    assert "Traceback" not in first and "OSError" not in first
    with log.open("a") as handle:
        handle.write("full\n")
    relay.show_new()
    relay.show_new()
    second = " ".join(capsys.readouterr().err.split())
    assert second.count("OSError: disk full") == 1 and "too many rows" not in second

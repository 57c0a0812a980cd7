"""TLS for deployed federations: the certificates made for trying it out form a valid chain for
the named hosts, and plain text or half-given TLS settings are refused with a clear message."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from tuneforge.errors import ConfigError
from tuneforge.federated.deployment import _write_connection
from tuneforge.federated.tls import (
    certificate_names,
    coordinator_tls,
    is_loopback,
    site_tls,
    write_certificates,
)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_certificates(
        tmp_path_factory.mktemp("certs"), ["coordinator.example", "10.1.2.3"], days=30
    )


def test_certificates_form_a_chain_for_the_named_hosts(certificates: dict[str, Path]) -> None:
    ca = x509.load_pem_x509_certificate(certificates["ca.crt"].read_bytes())
    server = x509.load_pem_x509_certificate(certificates["server.pem"].read_bytes())
    server.verify_directly_issued_by(ca)  # raises when the CA did not sign it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = certificate_names(certificates["server.pem"])
    assert names[:2] == ["coordinator.example", "localhost"]
    assert {"10.1.2.3", "127.0.0.1", "::1"} <= set(names)
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert lifetime.days == 30
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE(certificates[key].stat().st_mode) == 0o600


def test_certificates_never_overwrite(certificates: dict[str, Path]) -> None:
    before = certificates["ca.key"].read_bytes()
    with pytest.raises(ConfigError, match="exist already"):
        write_certificates(certificates["ca.crt"].parent, ["coordinator.example"])
    assert certificates["ca.key"].read_bytes() == before
    with pytest.raises(ConfigError, match="at least one host"):
        write_certificates(certificates["ca.crt"].parent / "other", [])


def test_coordinator_tls_checks_its_three_files(certificates: dict[str, Path]) -> None:
    ca, cert, key = certificates["ca.crt"], certificates["server.pem"], certificates["server.key"]
    tls = coordinator_tls("0.0.0.0", ca, cert, key, insecure=False)
    assert tls is not None
    assert tls.superlink_arguments() == [
        "--ssl-ca-certfile",
        str(ca),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
    ]
    # The coordinator's own `flwr run` must connect by a name the certificate holds.
    assert tls.connect_host("127.0.0.1") == "127.0.0.1"
    assert tls.connect_host("10.1.2.3") == "10.1.2.3"
    with pytest.raises(ConfigError, match="--ssl-keyfile missing"):
        coordinator_tls("0.0.0.0", ca, cert, None, insecure=False)
    with pytest.raises(ConfigError, match="contradict"):
        coordinator_tls("0.0.0.0", ca, cert, key, insecure=True)
    with pytest.raises(ConfigError, match=r"--ssl-certfile .*: not a PEM certificate"):
        coordinator_tls("0.0.0.0", ca, key, key, insecure=False)
    with pytest.raises(ConfigError, match=r"--ssl-keyfile .*: not an unencrypted PEM private key"):
        coordinator_tls("0.0.0.0", ca, cert, cert, insecure=False)
    with pytest.raises(ConfigError, match=r"--ssl-ca-certfile .*nope.crt: no such file"):
        coordinator_tls("0.0.0.0", ca.parent / "nope.crt", cert, key, insecure=False)


def test_plain_text_only_on_loopback_or_when_asked_for() -> None:
    assert coordinator_tls("127.0.0.1", None, None, None, insecure=False) is None
    assert coordinator_tls("localhost", None, None, None, insecure=False) is None
    assert coordinator_tls("::1", None, None, None, insecure=False) is None
    assert coordinator_tls("0.0.0.0", None, None, None, insecure=True) is None
    with pytest.raises(ConfigError, match=r"--listen 0.0.0.0 is not a loopback address"):
        coordinator_tls("0.0.0.0", None, None, None, insecure=False)
    assert site_tls("127.0.0.1", None, insecure=False) is None
    assert site_tls("coordinator.example", None, insecure=True) is None
    with pytest.raises(ConfigError, match=r"--superlink coordinator.example is not a loopback"):
        site_tls("coordinator.example", None, insecure=False)
    assert not is_loopback("0.0.0.0") and not is_loopback("coordinator.example")


def test_site_tls_checks_the_ca_certificate(certificates: dict[str, Path]) -> None:
    assert site_tls("coordinator.example", certificates["ca.crt"], insecure=False) == (
        certificates["ca.crt"].resolve()
    )
    with pytest.raises(ConfigError, match=r"--root-certificates .*: not a PEM certificate"):
        site_tls("coordinator.example", certificates["server.key"], insecure=False)
    with pytest.raises(ConfigError, match="contradict"):
        site_tls("coordinator.example", certificates["ca.crt"], insecure=True)


def test_flwr_connection_uses_the_ca_certificate(tmp_path: Path) -> None:
    import tomllib

    _write_connection(tmp_path, "127.0.0.1:9093", tmp_path / "ca.crt")
    secure = tomllib.loads((tmp_path / "config.toml").read_text())["superlink"]["tuneforge"]
    assert secure == {"address": "127.0.0.1:9093", "root-certificates": str(tmp_path / "ca.crt")}
    _write_connection(tmp_path, "127.0.0.1:9093", None)
    plain = tomllib.loads((tmp_path / "config.toml").read_text())["superlink"]["tuneforge"]
    assert plain == {"address": "127.0.0.1:9093", "insecure": True}


def test_certificates_command_writes_the_set_and_says_who_gets_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from _configs import assert_user_error, invoke

    monkeypatch.setenv("COLUMNS", "300")
    out_dir = tmp_path / "certs"
    args = ("federate", "certificates", "--out", str(out_dir), "--host", "coordinator.example")
    code, out, err = invoke(monkeypatch, capsys, *args)
    assert code == 0, err
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "ca.crt",
        "ca.key",
        "server.key",
        "server.pem",
    ]
    said = " ".join((out + err).split())
    assert f"--ssl-certfile {out_dir / 'server.pem'}" in said
    assert "--superlink coordinator.example:9092 --root-certificates ca.crt" in said
    code, out, err = invoke(monkeypatch, capsys, *args)
    assert_user_error(code, out, err, "exist already")

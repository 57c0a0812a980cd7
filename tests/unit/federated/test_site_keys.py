"""Site keys for deployed federations (Flower's SuperNode authentication): the pair a site makes
is what Flower reads, private keys stay owner-only, and the coordinator refuses keys that could
not admit a site (wrong kind, private by mistake, duplicated, fewer than the sites, no TLS)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from _configs import invoke
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tuneforge.errors import ConfigError
from tuneforge.federated.deployment import _site_keys_for, join_address
from tuneforge.federated.site_keys import (
    check_site_private_key,
    public_site_keys,
    write_site_key,
)


def test_site_key_pair_is_what_flower_reads(tmp_path: Path) -> None:
    private, public = write_site_key(tmp_path / "keys", "clinic-a")
    assert (private.name, public.name) == ("clinic-a", "clinic-a.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    # Flower's SuperNode loads the private key, `flwr supernode register` the public one.
    key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    registered = serialization.load_ssh_public_key(public.read_bytes())
    assert registered.public_numbers() == key.public_key().public_numbers()
    assert public.read_text().endswith(" clinic-a\n")
    assert check_site_private_key(private) == private.resolve()
    assert public_site_keys([public]) == public_site_keys([tmp_path / "keys"])
    assert [site.name for site in public_site_keys([tmp_path / "keys"])] == ["clinic-a"]


def test_site_key_never_overwrites_and_wants_a_plain_name(tmp_path: Path) -> None:
    write_site_key(tmp_path, "a")
    with pytest.raises(ConfigError, match="exist already"):
        write_site_key(tmp_path, "a")
    for name in ("", "../a", ".hidden"):
        with pytest.raises(ConfigError, match="a plain file name"):
            write_site_key(tmp_path, name)


def test_public_site_keys_refuse_what_cannot_admit_a_site(tmp_path: Path) -> None:
    private, public = write_site_key(tmp_path / "a", "a")
    (tmp_path / "empty").mkdir()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "rsa.pub").write_bytes(
        rsa_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    (tmp_path / "garbage.pub").write_text("not a key\n")
    (tmp_path / "copy.pub").write_bytes(public.read_bytes())
    cases = {
        tmp_path / "missing.pub": "no such file or folder",
        tmp_path / "empty": "holds no .pub file",
        private: "a private key; the coordinator takes the site's .pub file",
        tmp_path / "rsa.pub": "not an EC key on a NIST curve",
        tmp_path / "garbage.pub": "not an OpenSSH public key",
    }
    for path, expected in cases.items():
        with pytest.raises(ConfigError, match=re.escape(expected)):
            public_site_keys([path])
    with pytest.raises(ConfigError, match=r"the same key as .*each site needs its own"):
        public_site_keys([public, tmp_path / "copy.pub"])


def test_site_private_key_is_checked(tmp_path: Path) -> None:
    _, public = write_site_key(tmp_path, "a")
    with pytest.raises(ConfigError, match="no such file"):
        check_site_private_key(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not an unencrypted OpenSSH private key"):
        check_site_private_key(public)


def test_coordinator_site_keys_need_tls_and_one_per_site(tmp_path: Path) -> None:
    write_site_key(tmp_path, "a")
    write_site_key(tmp_path, "b")
    assert _site_keys_for([], sites=2, tls=False) == []
    with pytest.raises(ConfigError, match="--site-key needs TLS"):
        _site_keys_for([tmp_path], sites=2, tls=False)
    with pytest.raises(ConfigError, match="--sites 3 but only 2 site key"):
        _site_keys_for([tmp_path], sites=3, tls=True)
    assert [key.name for key in _site_keys_for([tmp_path], sites=2, tls=True)] == ["a", "b"]


def test_connection_address_brackets_ipv6() -> None:
    assert join_address("::1", 9092) == "[::1]:9092"
    assert join_address("127.0.0.1", 9092) == "127.0.0.1:9092"
    assert join_address("coordinator.example", 443) == "coordinator.example:443"


def test_site_key_command_says_which_file_goes_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    code, out, err = invoke(
        monkeypatch, capsys, "federate", "site-key", "--out", str(tmp_path), "--name", "a"
    )
    assert code == 0, err
    said = " ".join((out + err).split())
    assert f"serve-site CONFIG ... --site-key {tmp_path / 'a'}" in said
    assert "coordinate CONFIG ... --site-key a.pub" in said

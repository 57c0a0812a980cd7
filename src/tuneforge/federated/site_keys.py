"""Which sites may join: Flower's SuperNode authentication, one key pair per site.

TLS alone proves the coordinator to the sites, not the sites to the coordinator: anyone who
reaches the SuperLink and trusts its CA could join as a site and read the global model every
round (and send updates into it). With site keys, the coordinator starts the SuperLink with
`--enable-supernode-auth` and registers each site's public key before the sites connect; a
SuperNode signs its requests with its private key, and one whose key was not registered is
refused. The private key never leaves its site: the site makes the pair
(`tuneforge federate site-key`) and hands the coordinator only the `.pub` file.

Keys are ECDSA on NIST P-384 in OpenSSH format, what Flower reads (`ssh-keygen -t ecdsa -b 384`
makes the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuneforge.errors import ConfigError

PUBLIC_SUFFIX = ".pub"


@dataclass(frozen=True)
class SiteKey:
    """A site's public key as the coordinator registers it."""

    name: str
    path: Path


def public_site_keys(paths: list[Path]) -> list[SiteKey]:
    """The public keys under `paths` (each a `.pub` file or a folder of them), checked, one
    per site, named by file name without `.pub`.

    Raises:
        ConfigError: a path missing, a folder without `.pub` files, a file that is not an
            OpenSSH NIST-curve EC public key (a private key given by mistake says so), or two
            files holding the same key.
    """
    keys: list[SiteKey] = []
    for path in paths:
        if path.is_dir():
            files = sorted(path.glob(f"*{PUBLIC_SUFFIX}"))
            if not files:
                raise ConfigError(f"--site-key {path}: the folder holds no {PUBLIC_SUFFIX} file")
        elif path.is_file():
            files = [path]
        else:
            raise ConfigError(f"--site-key {path}: no such file or folder")
        keys.extend(SiteKey(file.name.removesuffix(PUBLIC_SUFFIX), file) for file in files)
    seen: dict[bytes, Path] = {}
    for key in keys:
        raw = _load_public_key(key.path)
        if raw in seen:
            raise ConfigError(
                f"--site-key {key.path}: the same key as {seen[raw]}; each site needs its own"
            )
        seen[raw] = key.path
    return keys


def check_site_private_key(path: Path) -> Path:
    """`path` resolved, once it holds an unencrypted OpenSSH EC private key.

    Raises:
        ConfigError: missing, or not such a key.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    if not path.is_file():
        raise ConfigError(f"--site-key {path}: no such file")
    try:
        key = load_ssh_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ConfigError(
            f"--site-key {path}: not an unencrypted OpenSSH private key ({error}); make one "
            "with `tuneforge federate site-key`"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"--site-key {path}: not an EC key (Flower signs with ECDSA)")
    return path.resolve()


def write_site_key(folder: Path, name: str) -> tuple[Path, Path]:
    """A new key pair for the site `name`: `folder/name` (private, owner-only; it stays at the
    site) and `folder/name.pub` (for the coordinator). Returns (private, public).

    Raises:
        ConfigError: a bad name, or either file exists already (nothing is overwritten).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tuneforge.federated.tls import write_new_file

    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"--name {name!r}: a plain file name, e.g. the site's organisation")
    private_path, public_path = folder / name, folder / f"{name}{PUBLIC_SUFFIX}"
    existing = [str(path) for path in (private_path, public_path) if path.exists()]
    if existing:
        raise ConfigError(f"{', '.join(existing)} exist already; choose another --name or --out")
    key = ec.generate_private_key(ec.SECP384R1())
    folder.mkdir(parents=True, exist_ok=True)
    write_new_file(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    write_new_file(public_path, public + f" {name}\n".encode(), private=False)
    return private_path, public_path


def _load_public_key(path: Path) -> bytes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        raise ConfigError(
            f"--site-key {path}: a private key; the coordinator takes the site's .pub file "
            "(the private key stays at the site)"
        )
    try:
        key = serialization.load_ssh_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ConfigError(f"--site-key {path}: not an OpenSSH public key ({error})") from None
    # OpenSSH holds ECDSA keys on NIST curves only: an EC key here is one Flower accepts.
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(
            f"--site-key {path}: not an EC key on a NIST curve (make one with "
            "`tuneforge federate site-key` or `ssh-keygen -t ecdsa -b 384`)"
        )
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)

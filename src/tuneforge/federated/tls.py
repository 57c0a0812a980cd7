"""TLS between the coordinator's SuperLink and the sites' SuperNodes (Flower's own TLS).

Model updates cross the network between organisations: a deployed federation speaks TLS unless
told otherwise. The coordinator gives Flower's SuperLink a CA certificate, its server certificate
and key; each site verifies the SuperLink against the CA certificate. Plain text is accepted
without a word only on the loopback interface (everything on one machine); anywhere else it takes
`--insecure`, said out loud.

`write_certificates` makes a CA and a server certificate for trying this out; in production the
certificates come from the organisation's own PKI.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from tuneforge.errors import ConfigError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class SuperLinkTls:
    """The coordinator's side: Flower's --ssl-ca-certfile, --ssl-certfile, --ssl-keyfile."""

    ca_certfile: Path
    certfile: Path
    keyfile: Path

    def connect_host(self, preferred: str) -> str:
        """The host this machine's `flwr run` connects to: `preferred` (the listening address,
        or loopback) when the server certificate names it, else a loopback name it names, else
        the first name it holds (TLS verifies the name, so an address the certificate does not
        name would be refused)."""
        names = certificate_names(self.certfile)
        for candidate in (preferred, "127.0.0.1", "localhost", "::1"):
            if candidate in names:
                return candidate
        return names[0] if names else preferred

    def superlink_arguments(self) -> list[str]:
        return [
            "--ssl-ca-certfile",
            str(self.ca_certfile),
            "--ssl-certfile",
            str(self.certfile),
            "--ssl-keyfile",
            str(self.keyfile),
        ]


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def coordinator_tls(
    host: str,
    ca_certfile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
    insecure: bool,
) -> SuperLinkTls | None:
    """The SuperLink's TLS files, checked; None for plain text (loopback or --insecure).

    Raises:
        ConfigError: some of the three files given but not all, a file missing or not PEM, TLS
            files together with --insecure, or plain text on a non-loopback address without
            --insecure.
    """
    given = {
        "--ssl-ca-certfile": ca_certfile,
        "--ssl-certfile": certfile,
        "--ssl-keyfile": keyfile,
    }
    named = [option for option, path in given.items() if path is not None]
    if named and insecure:
        raise ConfigError(f"--insecure and {', '.join(named)} contradict each other: give one")
    if named and len(named) < len(given):
        missing = [option for option in given if option not in named]
        raise ConfigError(f"TLS needs all three files: {', '.join(missing)} missing")
    if not named:
        if not insecure:
            _refuse_plain_text(
                host, "--listen", "--ssl-ca-certfile, --ssl-certfile and --ssl-keyfile"
            )
        return None
    assert ca_certfile is not None and certfile is not None and keyfile is not None
    _check_certificate(ca_certfile, "--ssl-ca-certfile")
    _check_certificate(certfile, "--ssl-certfile")
    _check_private_key(keyfile, "--ssl-keyfile")
    return SuperLinkTls(ca_certfile.resolve(), certfile.resolve(), keyfile.resolve())


def site_tls(host: str, root_certificates: Path | None, insecure: bool) -> Path | None:
    """The CA certificate a site verifies the SuperLink with; None for plain text.

    Raises:
        ConfigError: as `coordinator_tls`, for --root-certificates.
    """
    if root_certificates is not None and insecure:
        raise ConfigError("--insecure and --root-certificates contradict each other: give one")
    if root_certificates is None:
        if not insecure:
            _refuse_plain_text(host, "--superlink", "--root-certificates (the CA certificate)")
        return None
    _check_certificate(root_certificates, "--root-certificates")
    return root_certificates.resolve()


def _refuse_plain_text(host: str, option: str, tls_options: str) -> None:
    if is_loopback(host):
        return
    raise ConfigError(
        f"{option} {host} is not a loopback address: model updates would cross the network "
        f"unencrypted. Give {tls_options} for TLS (`tuneforge federate certificates` makes a "
        "set for trying it out), or --insecure to accept plain text"
    )


def certificate_names(path: Path) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for (its subjectAltName)."""
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = extension.value
    return [
        *names.get_values_for_type(x509.DNSName),
        *(str(address) for address in names.get_values_for_type(x509.IPAddress)),
    ]


def _check_certificate(path: Path, option: str) -> None:
    from cryptography import x509

    try:
        x509.load_pem_x509_certificate(_read(path, option))
    except ValueError as error:
        raise ConfigError(f"{option} {path}: not a PEM certificate ({error})") from None


def _check_private_key(path: Path, option: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(_read(path, option), password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"{option} {path}: not an unencrypted PEM private key ({error})"
        ) from None


def _read(path: Path, option: str) -> bytes:
    if not path.is_file():
        raise ConfigError(f"{option} {path}: no such file")
    return path.read_bytes()


def write_certificates(folder: Path, hosts: list[str], days: int = 365) -> dict[str, Path]:
    """A CA and a server certificate signed by it, valid for `hosts` (names or IP addresses)
    and the loopback names, for `days`; written to `folder` as ca.crt, ca.key, server.pem and
    server.key (keys readable by the owner only). Returns the four paths by file name.

    Raises:
        ConfigError: the files exist already (nothing is overwritten), or no host given.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ConfigError("--host: name at least one host the sites will connect to")
    paths = {name: folder / name for name in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY)}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise ConfigError(f"{', '.join(existing)} exist already; choose another --out folder")
    now = datetime.datetime.now(datetime.UTC)
    until = now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tuneforge federation CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1", "::1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    write_new_file(paths[CA_CERT], ca_cert.public_bytes(pem), private=False)
    write_new_file(paths[SERVER_CERT], server_cert.public_bytes(pem), private=False)
    for name, key in ((CA_KEY, ca_key), (SERVER_KEY, server_key)):
        write_new_file(
            paths[name],
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            private=True,
        )
    return paths


def write_new_file(path: Path, data: bytes, private: bool) -> None:
    """Write `data` to a file that must not exist yet, owner-only when `private`."""
    # A private key is created owner-only from the start, never readable by others in between.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)

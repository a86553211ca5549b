"""Fixtures for the capture tests: a self-signed upstream certificate, the upstream
servers in their own process, a private mitmproxy confdir, and a running capture."""

from __future__ import annotations

import datetime
import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import necto_nb as nn
from tests.conftest import server_process



@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost, as an upstream would have."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("upstream-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "necto-test-upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Upstream:
    http: str
    https: str
    ws: str
    wss: str
    h2: str
    cert: Path
    #: plain HTTP: how many connections each origin (http, https, h2) has accepted
    connections: str


@pytest.fixture(scope="session")
def upstream(tls_files):
    """tests/capture/upstream.py in its own process: HTTP, HTTPS, WS and WSS on loopback."""
    cert, key = tls_files
    with server_process("tests.capture.upstream", str(cert), str(key)) as ports:
        yield Upstream(
            http=f"http://127.0.0.1:{ports['http']}", https=f"https://127.0.0.1:{ports['https']}",
            ws=f"ws://127.0.0.1:{ports['ws']}", wss=f"wss://127.0.0.1:{ports['wss']}",
            h2=f"https://127.0.0.1:{ports['h2']}", cert=cert, connections=f"http://127.0.0.1:{ports['http']}/connections",
        )


@pytest.fixture(scope="session")
def confdir(tmp_path_factory) -> Path:
    """A private mitmproxy confdir: the tests make their own CA, never touch ~/.mitmproxy."""
    return tmp_path_factory.mktemp("mitmproxy-conf")


@pytest.fixture
def session() -> nn.Session:
    return nn.Session("capture test")


@pytest.fixture
def proxy(session, confdir):
    """A running capture on a free port, trusting the test upstream's self-signed cert."""
    before = set(threading.enumerate())
    p = session.capture(port=0, confdir=confdir, ssl_insecure=True)
    yield p
    p.stop()
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running after stop(): {leaked}"

"""What a client needs to go through the proxy and trust it: the proxy variables, a CA
bundle of the system's CAs plus ours, and our CA's key pin for Chromium.

Clients read different variables: OpenSSL (curl, urllib, aiohttp, httpx) `SSL_CERT_FILE`,
requests `REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`), curl `CURL_CA_BUNDLE`, Node
`NODE_EXTRA_CA_CERTS` (added to its own roots). A bundle of only our CA would make every
host not going through the proxy fail verification, so the bundle holds the CAs the
environment trusted already (its `SSL_CERT_FILE`, or the system's, or certifi's) too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from necto_nb.capture.proxy import Proxy

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
#: every variable `proxy_env` sets (an intercept restores each)
VARIABLES = (*PROXY_VARIABLES, *NO_PROXY_VARIABLES, *CA_VARIABLES, "NODE_USE_ENV_PROXY")


def system_ca_file() -> Path | None:
    """The CA bundle clients trusted before us: the environment's, OpenSSL's default, or certifi's."""
    candidates = [os.environ.get("SSL_CERT_FILE"), os.environ.get("REQUESTS_CA_BUNDLE"),
                  ssl.get_default_verify_paths().cafile]
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def ca_bundle(proxy: Proxy) -> Path:
    """A PEM file of the system's CAs and the proxy's, kept in the proxy's confdir."""
    ours = Path(proxy.ca_cert_path).read_bytes()
    bundle = proxy.confdir / "necto-ca-bundle.pem"
    system = system_ca_file()
    if system is not None and system.resolve() == bundle.resolve():
        system = None  # made inside an intercept: the bundle is what is trusted already
    content = (system.read_bytes().rstrip() + b"\n" if system else b"") + ours
    if not bundle.is_file() or bundle.read_bytes() != content:
        temporary = bundle.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(content)
        temporary.replace(bundle)  # atomic: a client reading it never sees half a file
    return bundle


def spki_pin(proxy: Proxy) -> str:
    """base64 SHA-256 of the proxy CA's public key, as `--ignore-certificate-errors-spki-list`
    wants it (mitmproxy signs its certificates with the CA's key, so the pin matches them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(Path(proxy.ca_cert_path).read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def proxy_env(proxy: Proxy, *, no_proxy: Iterable[str] = ()) -> dict[str, str]:
    """The variables a subprocess needs to go through `proxy` and trust it (see the module doc)."""
    if isinstance(no_proxy, str):
        no_proxy = [no_proxy]
    hosts = ",".join(no_proxy)
    bundle = str(ca_bundle(proxy))
    env = {name: proxy.url for name in PROXY_VARIABLES}
    # Set even when empty: an inherited NO_PROXY=localhost would silently skip the capture.
    env.update({name: hosts for name in NO_PROXY_VARIABLES})
    env.update({name: bundle for name in CA_VARIABLES})
    env["NODE_USE_ENV_PROXY"] = "1"  # Node 24+: fetch and https follow HTTP(S)_PROXY
    return env

"""proxy.intercept() and proxy.env(): clients in this process, in a fresh kernel and in
subprocesses go through the capture with no set-up, against an HTTPS server on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import textwrap
import urllib.request

import nbformat
import pytest

from necto_nb.capture.trust import spki_pin
from tests.capture.test_proxy import settle
from tests.kernel import execute

pytestmark = [pytest.mark.integration, pytest.mark.proxy]

CLIENTS = ["requests", "httpx", "httpx-async", "urllib", "urllib3", "aiohttp"]


def _patched_state():
    import aiohttp
    import urllib3
    from aiohttp import connector

    return (urllib3.PoolManager.urlopen, aiohttp.ClientSession.__init__, connector._SSL_CONTEXT_VERIFIED,
            urllib.request._opener)


def call_every_client(base: str) -> None:
    import aiohttp
    import httpx
    import requests
    import urllib3

    assert requests.get(f"{base}/echo?client=requests").status_code == 200
    assert httpx.get(f"{base}/echo?client=httpx").status_code == 200
    assert urllib.request.urlopen(f"{base}/echo?client=urllib").status == 200
    assert urllib3.PoolManager().request("GET", f"{base}/echo?client=urllib3").status == 200

    async def both() -> None:
        async with httpx.AsyncClient() as c:
            assert (await c.get(f"{base}/echo?client=httpx-async")).status_code == 200
        async with aiohttp.ClientSession() as c, c.get(f"{base}/echo?client=aiohttp") as r:
            assert r.status == 200

    asyncio.run(both())


def test_every_client_goes_through_with_no_arguments_and_all_is_restored(proxy, upstream):
    environ, patched = dict(os.environ), _patched_state()
    with proxy.intercept():
        call_every_client(upstream.https)
        assert _patched_state() != patched
    assert dict(os.environ) == environ and _patched_state() == patched
    settle(proxy)
    df = proxy.session.df
    assert sorted(u.split("client=")[1] for u in df.url) == sorted(CLIENTS)
    assert (df.status == 200).all()
    assert "_cell" not in proxy.session.entries[0]  # not under IPython


def test_everything_is_restored_when_the_block_raises(proxy, upstream):
    environ, patched = dict(os.environ), _patched_state()
    with pytest.raises(ZeroDivisionError), proxy.intercept():
        assert os.environ["HTTPS_PROXY"] == proxy.url
        1 / 0
    assert dict(os.environ) == environ and _patched_state() == patched


def test_one_intercept_at_a_time(proxy):
    with proxy.intercept(), pytest.raises(RuntimeError, match="active already"), proxy.intercept():
        pass


def test_env_takes_curl_and_node_through_the_proxy_and_keeps_the_system_cas(proxy, upstream, tmp_path):
    env = proxy.env()
    assert {env[k] for k in ("HTTP_PROXY", "https_proxy", "ALL_PROXY")} == {proxy.url}
    assert env["NO_PROXY"] == env["no_proxy"] == ""
    bundle = env["SSL_CERT_FILE"]
    assert env["REQUESTS_CA_BUNDLE"] == env["CURL_CA_BUNDLE"] == env["NODE_EXTRA_CA_CERTS"] == bundle
    system = ssl.create_default_context()
    ours = ssl.create_default_context(cafile=bundle)
    assert len(ours.get_ca_certs()) == len(system.get_ca_certs()) + 1  # every system CA, and ours
    if not shutil.which("curl"):
        pytest.skip("curl is not installed (apt-get install curl)")
    run_env = {**os.environ, **env}
    out = subprocess.run(["curl", "-sS", f"{upstream.https}/echo?via=curl"], env=run_env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and '"uri": "/echo?via=curl"' in out.stdout, out.stderr
    direct = subprocess.run(["curl", "-sS", "--cacert", str(upstream.cert), f"{upstream.https}/echo?via=direct"],
                            env={**os.environ, **proxy.env(no_proxy=["127.0.0.1"])},
                            capture_output=True, text=True, timeout=30)
    assert direct.returncode == 0, direct.stderr
    settle(proxy)
    urls = list(proxy.session.df.url)
    assert f"{upstream.https}/echo?via=curl" in urls and f"{upstream.https}/echo?via=direct" not in urls
    if not shutil.which("node"):
        pytest.skip("node is not installed (apt-get install nodejs)")
    # Node 20 has no proxy support of its own: tunnel by hand, verify with NODE_EXTRA_CA_CERTS.
    script = tmp_path / "through.js"
    script.write_text(textwrap.dedent(f"""
        const http = require('http'), tls = require('tls');
        const proxy = new URL(process.env.HTTPS_PROXY), target = new URL('{upstream.https}/echo?via=node');
        http.request({{host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target.host}})
          .on('connect', (res, socket) => {{
            const s = tls.connect({{socket, servername: 'localhost'}}, () => {{
              s.write(`GET ${{target.pathname}}${{target.search}} HTTP/1.1\\r\\nHost: ${{target.host}}\\r\\nConnection: close\\r\\n\\r\\n`);
            }});
            s.on('data', d => process.stdout.write(d)).on('error', e => {{ console.error(e.code); process.exit(1); }});
          }}).end();
    """))
    node = subprocess.run(["node", str(script)], env=run_env, capture_output=True, text=True, timeout=30)
    assert node.returncode == 0 and node.stdout.startswith("HTTP/1.1 200"), node.stderr
    without = {k: v for k, v in run_env.items() if k != "NODE_EXTRA_CA_CERTS"}
    refused = subprocess.run(["node", str(script)], env=without, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "SELF_SIGNED" in refused.stderr or "UNABLE" in refused.stderr


def test_spki_pin_is_the_key_of_the_certificates_the_proxy_makes(proxy, upstream):
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    host, port = upstream.https.removeprefix("https://").split(":")
    import socket

    with socket.create_connection(proxy.address) as raw:
        raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert raw.recv(1024).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(proxy.ca_cert_path))
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64encode(hashlib.sha256(spki).digest()).decode() == spki_pin(proxy)


def test_a_fresh_kernel_captures_every_client_and_tags_each_cell(upstream, confdir, tmp_path):
    base = upstream.https
    cell = nbformat.v4.new_code_cell
    cells = [
        cell(textwrap.dedent(f"""
            import os, asyncio, urllib.request
            import necto_nb as nn, requests, httpx, urllib3, aiohttp
            environ = dict(os.environ)
            s = nn.Session("kernel")
            proxy = s.capture(port=0, confdir={str(confdir)!r}, ssl_insecure=True)
            intercept = proxy.intercept().__enter__()
            base = {base!r}
        """)),
        cell("requests.get(f'{base}/echo?client=requests').raise_for_status()"),
        cell("httpx.get(f'{base}/echo?client=httpx').raise_for_status()"),
        cell("async with httpx.AsyncClient() as c:\n    (await c.get(f'{base}/echo?client=httpx-async')).raise_for_status()"),
        cell("assert urllib.request.urlopen(f'{base}/echo?client=urllib').status == 200"),
        cell("assert urllib3.request('GET', f'{base}/echo?client=urllib3').status == 200"),
        cell("async with aiohttp.ClientSession() as c, c.get(f'{base}/echo?client=aiohttp') as r:\n    assert r.status == 200"),
        cell("intercept.__exit__(None, None, None); proxy.stop()\nassert dict(os.environ) == environ"),
        cell("%load_ext necto_nb"),
        cell(f"%%necto_capture calls confdir={str(confdir)!r} ssl_insecure=True\nrequests.get(f'{base}/echo?client=magic')"),
        cell(textwrap.dedent("""
            import json
            got = {e["request"]["url"].split("client=")[1]: (e["response"]["status"], e.get("_cell")) for e in s.entries}
            magic = [(e["response"]["status"], e.get("_cell")) for e in calls.entries]
            print(json.dumps({"got": got, "magic": magic, "environ_restored": dict(os.environ) == environ}))
        """)),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    execute(notebook, tmp_path, timeout=300)
    import json

    result = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert result["environ_restored"]
    got = result["got"]
    assert sorted(got) == sorted(CLIENTS)
    for position, name in enumerate(CLIENTS, start=2):  # cell i ran as execution count i
        status, tag = got[name]
        assert status == 200 and tag["executionCount"] == position, (name, got[name])
    assert result["magic"] == [[200, {"executionCount": 10}]]

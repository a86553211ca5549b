"""read_urlscan against a loopback server that answers as Cloudflare's documented v2 API does."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

import necto_nb as nn
from necto_nb.urlscan import UrlscanError, read_urlscan

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
SCAN = "095be615-a8ad-4c33-8e9c-c7612fbf6c9f"
TOKEN = "Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQqnFTOFYY-test"
EMAIL = "user@example.com"
KEY = "144c9defac04969c7bfad8efaa8ea194"
HAR_FILE = "chrome-har__sitespeed-greenweb-0.11.4.har"


def _envelope_error(code: int, message: str) -> bytes:
    return json.dumps({"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                       "result": None}).encode()


class FakeCloudflare(ThreadingHTTPServer):
    """Routes and auth as documented; the scan id picks what the scan's answer is."""

    daemon_threads = True

    def __init__(self, har: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Api)
        self.har = har
        self.seen: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/client/v4"


class _Api(BaseHTTPRequestHandler):
    server: FakeCloudflare

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        prefix = f"/client/v4/accounts/{ACCOUNT}/urlscanner/v2/har/"
        if not self.path.startswith("/client/v4/accounts/"):
            return self._send(404, _envelope_error(7000, "No route for that URI"))
        if "Authorization" not in self.headers and "X-Auth-Key" not in self.headers:
            return self._send(400, _envelope_error(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"))
        good = self.headers.get("Authorization") == f"Bearer {TOKEN}" or (
            self.headers.get("X-Auth-Email") == EMAIL and self.headers.get("X-Auth-Key") == KEY)
        scan = self.path.removeprefix(prefix) if self.path.startswith(prefix) else None
        if scan == "echo-credentials":  # a broken gateway that repeats what it was sent
            said = f"bad header {self.headers.get('Authorization')} {self.headers.get('X-Auth-Key')}"
            return self._send(401, _envelope_error(10000, said))
        if not good:
            return self._send(401, _envelope_error(10000, "Authentication error"))
        if scan is None:  # another account: the token has no rights there
            return self._send(403, _envelope_error(10000, "Authentication error"))
        match scan:
            case s if s == SCAN:
                self._send(200, self.server.har)
            case "wrapped":
                body = b'{"success":true,"errors":[],"messages":[],"result":' + self.server.har + b"}"
                self._send(200, body)
            case "rate-limited":
                self._send(429, _envelope_error(971, "Please wait and consider throttling your request speed"),
                           Retry_After="30")
            case "unavailable":
                self._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            case "html":
                self._send(200, b"<!doctype html><title>Sign in</title>", "text/html")
            case "json-list":
                self._send(200, b"[1, 2, 3]")
            case "not-har":
                self._send(200, json.dumps({"success": True, "result": {"scan": {"task": {}}}}).encode())
            case "other-keys":
                self._send(200, json.dumps({"task": {}, "page": {}}).encode())
            case "bad-har":
                self._send(200, b'{"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}}}')
            case _:
                self._send(404, _envelope_error(1002, "Scan not found or in progress"))


@pytest.fixture(scope="module")
def har_bytes(corpus) -> bytes:
    return (corpus / HAR_FILE).read_bytes()


@pytest.fixture
def api(har_bytes):
    server = FakeCloudflare(har_bytes)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_token_import_gives_the_scan_as_a_session(api, har_bytes):
    session = read_urlscan(ACCOUNT, SCAN, token=TOKEN, base_url=api.base_url)
    expected = nn.read_har(har_bytes)
    assert isinstance(session, nn.Session)
    assert session.name == f"urlscan {SCAN}"
    assert len(session) == len(expected) == 51
    assert session.pages == expected.pages
    assert session.log["creator"]["name"] == "chrome-har"
    first = session.entries[0]  # chrome-har's custom fields survive (0.11.4 predates _resourceType)
    assert {"_initiator_type", "_priority", "_requestId"} <= first.keys()
    assert "_transferSize" in first["response"]
    assert session.pages[0]["pageTimings"] == expected.pages[0]["pageTimings"]
    assert session.to_har() == expected.to_har()  # lossless: the same HAR as reading the file
    sent = api.seen[-1]
    assert sent["path"] == f"/client/v4/accounts/{ACCOUNT}/urlscanner/v2/har/{SCAN}"
    assert sent["authorization"] == f"Bearer {TOKEN}"
    assert "x-auth-key" not in sent


def test_email_and_global_key(api):
    session = read_urlscan(ACCOUNT, SCAN, email=EMAIL, api_key=KEY, base_url=api.base_url, name="scan")
    assert session.name == "scan" and len(session) == 51
    sent = api.seen[-1]
    assert (sent["x-auth-email"], sent["x-auth-key"]) == (EMAIL, KEY)
    assert "authorization" not in sent


def test_result_envelope_is_unwrapped(api):
    session = read_urlscan(ACCOUNT, "wrapped", token=TOKEN, base_url=api.base_url)
    assert len(session) == 51


def test_credentials_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    assert len(read_urlscan(ACCOUNT, SCAN, base_url=api.base_url)) == 51
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", EMAIL)
    monkeypatch.setenv("CLOUDFLARE_API_KEY", KEY)
    assert len(read_urlscan(ACCOUNT, SCAN, base_url=api.base_url)) == 51
    assert api.seen[-1]["x-auth-key"] == KEY


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "read_urlscan needs credentials"),
        ({"email": EMAIL}, "read_urlscan needs credentials"),
        ({"token": TOKEN, "api_key": KEY}, "either token, or email with api_key"),
        ({"token": "  "}, "token must be a non-empty string"),
    ],
)
def test_credential_mistakes_are_caught_before_any_request(api, monkeypatch, kwargs, message):
    for var in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match=message):
        read_urlscan(ACCOUNT, SCAN, base_url=api.base_url, **kwargs)
    assert api.seen == []


@pytest.mark.parametrize("account, scan", [("../x", SCAN), (ACCOUNT, "a/b"), (ACCOUNT, ""), (ACCOUNT, None)])
def test_ids_must_be_plain(account, scan):
    with pytest.raises(ValueError, match="must be letters, digits"):
        read_urlscan(account, scan, token=TOKEN)


@pytest.mark.parametrize("base_url", ["http://api.cloudflare.com/client/v4", "ftp://127.0.0.1/", "http://127.0.0.1.example.com/"])
def test_credentials_are_only_sent_over_tls_or_loopback(base_url):
    with pytest.raises(ValueError, match="base_url must be https://"):
        read_urlscan(ACCOUNT, SCAN, token=TOKEN, base_url=base_url)


@pytest.mark.parametrize(
    ("auth", "account", "scan", "status", "words"),
    [
        ({"token": "wrong-token-value"}, ACCOUNT, SCAN, 401, ["credentials were rejected (401", "Authentication error [10000]"]),
        ({"email": EMAIL, "api_key": "wrong-key-value"}, ACCOUNT, SCAN, 401, ["401 Unauthorized"]),
        ({"token": TOKEN}, "f" * 32, SCAN, 403, ["403 Forbidden", "URL Scanner Read"]),
        ({"token": TOKEN}, ACCOUNT, "00000000-0000-0000-0000-000000000000", 404,
         ["no such scan, or it has not finished yet", "Scan not found or in progress [1002]"]),
        ({"token": TOKEN}, ACCOUNT, "unavailable", 502, ["Cloudflare's API failed (502)"]),
    ],
)
def test_http_errors_are_explained(api, auth, account, scan, status, words):
    with pytest.raises(UrlscanError) as raised:
        read_urlscan(account, scan, base_url=api.base_url, **auth)
    error = raised.value
    assert isinstance(error, nn.HarError) and isinstance(error, ValueError)
    assert error.status == status
    assert str(error).startswith(f"URL Scanner scan {scan} (account {account}): ")
    for word in words:
        assert word in str(error)


def test_rate_limit_carries_retry_after(api):
    with pytest.raises(UrlscanError, match=r"rate limited \(429 Too Many Requests\): retry after 30 s") as raised:
        read_urlscan(ACCOUNT, "rate-limited", token=TOKEN, base_url=api.base_url)
    assert raised.value.status == 429
    assert raised.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("scan", "words"),
    [
        ("html", "the response is not JSON"),
        ("json-list", "the response is JSON but not an object"),
        ("not-har", "the response's result holds no HAR"),
        ("other-keys", "found keys: page, task"),
        ("bad-har", "the HAR in the response cannot be read"),
    ],
)
def test_a_body_that_is_not_a_har(api, scan, words):
    with pytest.raises(UrlscanError, match=words) as raised:
        read_urlscan(ACCOUNT, scan, token=TOKEN, base_url=api.base_url)
    assert raised.value.status == 200


def test_an_unreachable_api(api):
    closed_port = api.server_address[1]
    api.shutdown()
    api.server_close()
    with pytest.raises(UrlscanError, match=rf"could not reach http://127.0.0.1:{closed_port}/client/v4: ConnectError") as raised:
        read_urlscan(ACCOUNT, SCAN, token=TOKEN, base_url=f"http://127.0.0.1:{closed_port}/client/v4")
    assert raised.value.status is None


def _every_text(session: nn.Session) -> str:
    report = session.report
    return "\n".join([
        repr(session), session._repr_html_(), repr(report), report._repr_html_(), "\n".join(map(str, report)),
        orjson.dumps(session.to_har()).decode(), session.df.to_csv(), json.dumps(session.log), json.dumps(session.pages),
    ])


def test_the_credentials_never_reach_the_session(api):
    for auth in ({"token": TOKEN}, {"email": EMAIL, "api_key": KEY}):
        session = read_urlscan(ACCOUNT, SCAN, base_url=api.base_url, **auth)
        text = _every_text(session)
        for secret in auth.values():
            assert secret not in text


@pytest.mark.parametrize(
    "scan", ["echo-credentials", "00000000-0000-0000-0000-000000000000", "html", "rate-limited", "bad-har"]
)
@pytest.mark.parametrize("auth", [{"token": TOKEN}, {"email": EMAIL, "api_key": KEY}])
def test_the_credentials_never_reach_an_error(api, scan, auth):
    with pytest.raises(UrlscanError) as raised:
        read_urlscan(ACCOUNT, scan, base_url=api.base_url, **auth)
    error = raised.value
    texts = [str(error), repr(error), *map(str, error.args), *map(str, error.issues)]
    if scan == "echo-credentials":
        assert "***" in str(error)  # the echoed credential was there, and was scrubbed
    # No exception with the request (and so its headers) is chained onto ours.
    assert error.__cause__ is None
    assert error.__context__ is None or not hasattr(error.__context__, "request")
    secrets = [TOKEN] if "token" in auth else [KEY]
    for secret in secrets:
        assert all(secret not in text for text in texts)

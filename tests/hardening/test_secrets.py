"""Secrets: no credential shape survives `to_har(redact=True)` anywhere in the written bytes.

Each shape puts one or more secrets where real traffic carries them; the test writes the
redacted export (plain and gzip) and looks for every secret in the bytes, as written, as
percent-encoded and as JSON-escaped text. Redaction must also say what it replaced, leave
innocent values alone, and keep the export valid HAR.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest

import necto_nb as nn
from tests.conftest import corpus_files, each_corpus_file
from tests.factory import entry, har

JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxNzAwMDAwMDAwfQ"
       ".c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYWJjZGVm")
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"


@dataclass(frozen=True)
class Shape:
    name: str
    secrets: tuple[str, ...]
    place: Callable[[dict, dict], None]  # (entry, document) -> None: put the secrets in

    def __str__(self) -> str:
        return self.name


def header(side: str, name: str, value: str) -> Callable[[dict, dict], None]:
    return lambda e, doc: e[side]["headers"].append({"name": name, "value": value})


def url(value: str, query: list[tuple[str, str]] = ()) -> Callable[[dict, dict], None]:
    def place(e, doc):
        e["request"]["url"] = value
        e["request"]["queryString"] = [{"name": n, "value": v} for n, v in query]
    return place


def post(mime: str, text: str, params: list[tuple[str, str]] | None = None) -> Callable[[dict, dict], None]:
    def place(e, doc):
        e["request"]["method"] = "POST"
        e["request"]["postData"] = {"mimeType": mime, "text": text}
        if params is not None:
            e["request"]["postData"]["params"] = [{"name": n, "value": v} for n, v in params]
    return place


def body(mime: str, text: str) -> Callable[[dict, dict], None]:
    def place(e, doc):
        e["response"]["content"] = {"size": len(text), "mimeType": mime, "text": text}
    return place


def websocket(*messages: str) -> Callable[[dict, dict], None]:
    def place(e, doc):
        e["_resourceType"] = "websocket"
        e["_webSocketMessages"] = [{"type": "send", "time": 1.5, "opcode": 1, "data": m} for m in messages]
    return place


def both(*places: Callable[[dict, dict], None]) -> Callable[[dict, dict], None]:
    def place(e, doc):
        for p in places:
            p(e, doc)
    return place


def set_key(path: list, value) -> Callable[[dict, dict], None]:
    def place(e, doc):
        node = e
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return place


def page_title(title: str) -> Callable[[dict, dict], None]:
    def place(e, doc):
        e["pageref"] = "page_1"
        doc["log"]["pages"] = [{"id": "page_1", "title": title, "startedDateTime": "2026-11-01T10:00:00.000Z",
                                "pageTimings": {"onContentLoad": 10, "onLoad": 20}}]
    return place


MULTIPART = ('--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n'
             '--xyz\r\nContent-Disposition: form-data; name="password"\r\n\r\nMultiPass!42\r\n--xyz--\r\n')
PRESIGNED = ("https://bucket.s3.amazonaws.com/file.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=ASIAQNZGKEXAMPLE1234%2F20261101%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Signature=9f2b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b"
             "&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLESESSIONTOKEN")
CODE_URL = "https://app.example/callback?code=oc_SplxlOBeZQQYbYS6WxSb&state=af0ifjsldkj"

SHAPES = [
    Shape("bearer token header", ("tok_9f8e7d6c5b4a39281706",),
          header("request", "Authorization", "Bearer tok_9f8e7d6c5b4a39281706")),
    Shape("basic auth header", (base64.b64encode(b"alice:Pa55w0rd!xyz").decode(),),
          header("request", "Authorization", "Basic " + base64.b64encode(b"alice:Pa55w0rd!xyz").decode())),
    Shape("proxy authorization header", (base64.b64encode(b"proxyuser:ProxyPass123").decode(),),
          header("request", "Proxy-Authorization", "Basic " + base64.b64encode(b"proxyuser:ProxyPass123").decode())),
    Shape("cookie header", ("sess_AbCdEf123456",), header("request", "Cookie", "sessionid=sess_AbCdEf123456; theme=dark")),
    Shape("request cookies", ("sess_List7654321",),
          set_key(["request", "cookies"], [{"name": "sessionid", "value": "sess_List7654321"}])),
    Shape("set-cookie header", ("setc_Zyx987654321",),
          header("response", "Set-Cookie", "auth=setc_Zyx987654321; Path=/; HttpOnly; Secure")),
    Shape("response cookies", ("setc_List11223344",),
          set_key(["response", "cookies"], [{"name": "auth", "value": "setc_List11223344", "httpOnly": True}])),
    Shape("api key header", ("ak_live_5566778899aabbcc",), header("request", "X-API-Key", "ak_live_5566778899aabbcc")),
    Shape("csrf token header", ("csrf_0a1b2c3d4e5f6a7b",), header("request", "X-CSRF-Token", "csrf_0a1b2c3d4e5f6a7b")),
    Shape("api key in query", ("qk_1122334455667788",),
          url("https://api.example.com/v1/items?api_key=qk_1122334455667788&page=2",
              [("api_key", "qk_1122334455667788"), ("page", "2")])),
    Shape("access token in query", ("at_q_99887766554433",),
          url("https://api.example.com/me?access_token=at_q_99887766554433", [("access_token", "at_q_99887766554433")])),
    Shape("google api key in query", ("AIzaSyD-abcdefghijklmnopqrstuvwxyz12345",),
          url("https://maps.example.com/js?key=AIzaSyD-abcdefghijklmnopqrstuvwxyz12345",
              [("key", "AIzaSyD-abcdefghijklmnopqrstuvwxyz12345")])),
    Shape("aws presigned url", ("ASIAQNZGKEXAMPLE1234", "9f2b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b",
                                "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"), url(PRESIGNED)),
    Shape("userinfo in url", ("UrlPass987",), url("https://alice:UrlPass987@api.example.com/v1/")),
    Shape("password in form body", ("FormPass!234",),
          post("application/x-www-form-urlencoded", "username=alice&password=FormPass%21234",
               [("username", "alice"), ("password", "FormPass!234")])),
    Shape("password in form params only", ("ParamOnly!99",),
          post("application/x-www-form-urlencoded; charset=UTF-8", "", [("password", "ParamOnly!99")])),
    Shape("password in a form body sent as text/plain", ("PlainForm!55",),
          post("text/plain;charset=UTF-8", "username=alice&password=PlainForm%2155")),
    Shape("password in multipart body", ("MultiPass!42",), post("multipart/form-data; boundary=xyz", MULTIPART,
                                                                [("username", "alice"), ("password", "MultiPass!42")])),
    Shape("password in json body", ("JsonPass!5678",),
          post("application/json", json.dumps({"user": "alice", "password": "JsonPass!5678"}))),
    Shape("graphql variables", ("GqlPass!314",), post("application/json", json.dumps(
        [{"query": "mutation Login($password: String!) { login }", "variables": {"password": "GqlPass!314"}}]))),
    Shape("client secret nested in json", ("cs_abcdef0123456789",), post("text/plain;charset=UTF-8", json.dumps(
        {"client": {"client_id": "app", "client_secret": "cs_abcdef0123456789"}, "grant_type": "client_credentials"}))),
    Shape("password in a truncated json body", ("TruncPass77",),
          post("application/json", '{"password": "TruncPass77", "data": "' + "a" * 200)),
    Shape("oauth tokens in json response", ("at_resp_00112233445566", "rt_7766554433221100"), body("application/json", json.dumps(
        {"access_token": "at_resp_00112233445566", "refresh_token": "rt_7766554433221100", "expires_in": 3600}))),
    Shape("jwt in an innocent header", (JWT,), header("request", "X-Request-Context", JWT)),
    Shape("jwt in an html body", (JWT,), body("text/html", f'<script>window.idToken = "{JWT}";</script>')),
    Shape("aws access key id in text", ("AKIAZ7Q3EXAMPLEKEY12",), body("text/plain", "key id: AKIAZ7Q3EXAMPLEKEY12\n")),
    Shape("aws secret key in json", ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",), body("application/json", json.dumps(
        {"aws_access_key_id": "AKIAZ7Q3EXAMPLEKEY12", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}))),
    Shape("github token in json", ("ghp_16C7e42F292c6912E7710c838347Ae178B4a",),
          body("application/json", json.dumps({"note": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"}))),
    Shape("slack token in text", ("xoxb-123456789012-abcdefghijklmnopqrstuvwx",),
          body("text/plain", "configured with xoxb-123456789012-abcdefghijklmnopqrstuvwx")),
    Shape("stripe key in script", ("sk_live_51H8abcdefGHIJKLmnopQRST",),
          body("application/javascript", 'const stripe = Stripe("sk_live_51H8abcdefGHIJKLmnopQRST");')),
    Shape("api key in a javascript object", ("js_key_5566778899",),
          body("application/javascript", "const config = {apiKey: 'js_key_5566778899', region: 'eu'};")),
    Shape("private key in a body", (PEM_BODY,), body("text/plain", f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n"
                                                                    "-----END RSA PRIVATE KEY-----\n")),
    Shape("oauth code in redirectURL and Location", ("oc_SplxlOBeZQQYbYS6WxSb",), both(
        set_key(["response", "redirectURL"], CODE_URL), header("response", "Location", CODE_URL),
        set_key(["response", "status"], 302))),
    Shape("oauth code in Referer", ("oc_SplxlOBeZQQYbYS6WxSb",), header("request", "Referer", CODE_URL)),
    Shape("oauth implicit token in a Location fragment", ("imp_tok_0099887766",), header(
        "response", "Location", "https://app.example/cb#access_token=imp_tok_0099887766&token_type=bearer")),
    Shape("token in redirectURL", ("rd_tok_5544332211",),
          set_key(["response", "redirectURL"], "https://app.example/next?access_token=rd_tok_5544332211")),
    Shape("websocket json message", ("ws_tok_123456789",), websocket('{"type": "auth", "token": "ws_tok_123456789"}')),
    Shape("websocket socket.io message", ("sio_tok_123456789",), websocket('42["auth",{"token":"sio_tok_123456789"}]')),
    Shape("websocket bearer text", ("wsb_tok_abcdefgh1234",), websocket("AUTH Bearer wsb_tok_abcdefgh1234")),
    Shape("token in an initiator url", ("init_tok_1234567890",), set_key(
        ["_initiator"], {"type": "script", "url": "https://app.example/x.js?access_token=init_tok_1234567890"})),
    Shape("token in a page title", ("pt_tok_987654321",), page_title("https://app.example/?token=pt_tok_987654321")),
]


def doc_with(*shapes: Shape) -> dict:
    doc = har(entry())
    doc["log"]["entries"] = []
    for shape in shapes:
        e = entry()
        shape.place(e, doc)
        doc["log"]["entries"].append(e)
    return doc


def forms(secret: str) -> set[bytes]:
    """The secret as it may appear in output bytes: as is, percent-encoded, JSON-escaped, base64."""
    return {secret.encode(), quote(secret, safe="").encode(), json.dumps(secret)[1:-1].encode(),
            json.dumps(secret, ensure_ascii=False)[1:-1].encode()}


def survivors(data: bytes, shape: Shape) -> list[str]:
    return [secret for secret in shape.secrets if any(form in data for form in forms(secret))]


def test_there_are_at_least_twenty_shapes():
    assert len(SHAPES) >= 20 and len({s.name for s in SHAPES}) == len(SHAPES)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_shape_is_in_the_plain_export(shape):
    """Without redaction every secret is exported: the test above it looks at real output."""
    data = json.dumps(nn.read_har(doc_with(shape)).to_har(), ensure_ascii=False).encode()
    assert survivors(data, shape) == list(shape.secrets)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_no_secret_survives_a_redacted_export(shape, tmp_path):
    s = nn.read_har(doc_with(shape))
    plain = s.to_har(tmp_path / "out.har", redact=True).read_bytes()
    packed = gzip.decompress(s.to_har(tmp_path / "out.har.gz", redact=True).read_bytes())
    as_dict = json.dumps(s.to_har(redact=True), ensure_ascii=False).encode()
    for data in (plain, packed, as_dict):
        assert survivors(data, shape) == [], shape
    assert json.loads(plain)["log"]["_redaction"]["replaced"], f"{shape}: the export does not say what it redacted"


def test_every_shape_at_once_is_reported_and_stays_valid_har(har_schema, tmp_path):
    s = nn.read_har(doc_with(*SHAPES))
    doc = json.loads(s.to_har(tmp_path / "all.har", redact=True).read_bytes())
    data = json.dumps(doc, ensure_ascii=False).encode()
    assert [str(shape) for shape in SHAPES if survivors(data, shape)] == []
    redaction = doc["log"]["_redaction"]
    assert redaction["marker"] == nn.Redactor().marker
    assert sum(redaction["replaced"].values()) >= len(SHAPES)
    assert list(har_schema.iter_errors(doc)) == []


def test_innocent_values_are_left_alone():
    doc = doc_with(*SHAPES)
    innocent = entry(url="https://api.example.com/v1/items?page=2&sort=name")
    innocent["request"]["headers"].append({"name": "Referer", "value": "https://app.example/list?page=3"})
    innocent["response"]["content"]["text"] = json.dumps({"keyboard": "qwerty", "count": 3})
    doc["log"]["entries"].append(innocent)
    out = nn.read_har(doc).to_har(redact=True)["log"]["entries"][-1]
    assert out["request"]["url"] == "https://api.example.com/v1/items?page=2&sort=name"
    assert {"name": "Accept", "value": "*/*"} in out["request"]["headers"]
    assert {"name": "Referer", "value": "https://app.example/list?page=3"} in out["request"]["headers"]
    assert json.loads(out["response"]["content"]["text"]) == {"keyboard": "qwerty", "count": 3}


@pytest.mark.parametrize("path", each_corpus_file(corpus_files()), ids=lambda p: p.name)
def test_a_redacted_corpus_file_is_as_valid_as_its_plain_export(path, har_schema):
    try:
        s = nn.read_har(path)
    except nn.HarError:
        pytest.skip("not a readable HAR (the corpus's broken files)")
    plain = {e.message for e in har_schema.iter_errors(s.to_har())}
    redacted = {e.message for e in har_schema.iter_errors(s.to_har(redact=True))}
    assert redacted <= plain

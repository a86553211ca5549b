"""Redaction: what counts as a secret, what it is replaced with, and the record of it."""

from __future__ import annotations

import json

import necto_nb as nn
from tests.factory import entry, har

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def secret_entry() -> dict:
    e = entry(url="https://user:hunter2@api.example.com/v1?access_token=tok123&page=2")
    e["request"]["headers"] += [
        {"name": "Authorization", "value": "Bearer abcdefghijk123"},
        {"name": "Cookie", "value": "sid=s3cr3t"},
        {"name": "X-Api-Key", "value": "key-999"},
        {"name": "X-Trace", "value": f"token {JWT}"},
    ]
    e["request"]["cookies"] = [{"name": "sid", "value": "s3cr3t"}]
    e["request"]["queryString"] = [{"name": "access_token", "value": "tok123"}, {"name": "page", "value": "2"}]
    e["request"]["method"] = "POST"
    e["request"]["postData"] = {"mimeType": "application/json",
                                "text": json.dumps({"user": "ann", "password": "pw-1", "nested": {"client_secret": "cs"}})}
    e["response"]["headers"].append({"name": "Set-Cookie", "value": "sid=s3cr3t; HttpOnly"})
    e["response"]["content"]["text"] = json.dumps({"access_token": "at-1", "aws": "AKIAABCDEFGHIJKLMNOP"})
    e["_webSocketMessages"] = [{"type": "send", "time": 1.0, "opcode": 1, "data": json.dumps({"token": "ws-1"})}]
    return e


SECRETS = ["hunter2", "tok123", "abcdefghijk123", "s3cr3t", "key-999", JWT, "pw-1", "cs", "at-1",
           "AKIAABCDEFGHIJKLMNOP", "ws-1"]


def test_no_secret_survives_and_the_export_says_what_it_did(har_schema):
    s = nn.read_har(har(secret_entry()))
    doc = s.to_har(redact=True)
    text = json.dumps(doc)
    survivors = [secret for secret in SECRETS if secret in text]
    assert survivors == []
    replaced = doc["log"]["_redaction"]["replaced"]
    assert replaced["request header authorization"] == 1
    assert replaced["query access_token"] == 1
    assert "page=2" in doc["log"]["entries"][0]["request"]["url"]  # innocent values stay
    assert list(har_schema.iter_errors(doc)) == []


def test_a_websocket_close_keeps_its_code_and_loses_secrets_in_its_reason():
    e = entry()
    e["_webSocketClose"] = {"code": 1000, "reason": f"bye {JWT}", "by": "client"}
    doc = nn.read_har(har(e)).to_har(redact=True)
    assert doc["log"]["entries"][0]["_webSocketClose"] == {"code": 1000, "reason": "bye [REDACTED]", "by": "client"}
    assert doc["log"]["_redaction"]["replaced"] == {"websocket close reason": 1}


def test_without_redact_everything_is_kept():
    doc = nn.read_har(har(secret_entry())).to_har()
    assert all(secret in json.dumps(doc) for secret in SECRETS)
    assert "_redaction" not in doc["log"]


def test_the_lists_are_configurable():
    redactor = nn.Redactor(headers=frozenset({"x-custom"}), marker="***", cookies=False)
    e = entry()
    e["request"]["headers"].append({"name": "X-Custom", "value": "private"})
    e["request"]["cookies"] = [{"name": "theme", "value": "dark"}]
    doc = nn.read_har(har(e)).to_har(redact=redactor)
    request = doc["log"]["entries"][0]["request"]
    assert {"name": "X-Custom", "value": "***"} in request["headers"]
    assert request["cookies"] == [{"name": "theme", "value": "dark"}]


def test_a_redactor_is_settings_each_export_counts_its_own():
    redactor = nn.Redactor()
    session = nn.read_har(har(secret_entry()))
    first = session.to_har(redact=redactor)["log"]["_redaction"]
    second = session.to_har(redact=redactor)["log"]["_redaction"]
    assert first["replaced"] and second == first
    one = session.to_har(rows=[0], redact=redactor)["log"]["_redaction"]
    assert one == first  # not the sum of the exports before it


def test_a_redaction_counts_what_one_export_replaced():
    redaction = nn.Redactor().redaction()
    doc = nn.read_har(har(secret_entry())).to_har(redact=redaction)
    assert redaction.summary() == doc["log"]["_redaction"] and sum(redaction.counts.values()) > 0


def test_bodies_without_secrets_come_back_as_they_were():
    e = entry()
    e["request"]["method"] = "POST"
    e["request"]["postData"] = {"mimeType": "text/plain", "text": "q=caf%C3%A9+au+lait&page=2&&x="}
    e["response"]["content"] = {"size": 30, "mimeType": "text/css", "text": "a { color: red; width: 100px }"}
    redacted = nn.read_har(har(e)).to_har(redact=True)["log"]["entries"][0]
    assert redacted["request"]["postData"] == e["request"]["postData"]
    assert redacted["response"]["content"] == e["response"]["content"]

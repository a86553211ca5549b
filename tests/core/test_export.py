"""to_har: rows as pandas selections, bodies, redaction, pages, atomic files."""

from __future__ import annotations

import gzip
import json
import os

import pytest

import necto_nb as nn
from tests.factory import entry, har


@pytest.fixture
def session():
    entries = [entry(url=f"https://example.com/{i}", status=200 if i % 3 else 500, pageref=f"p{i % 2}")
               for i in range(6)]
    pages = [{"id": f"p{i}", "title": f"page {i}", "startedDateTime": "2026-11-01T10:00:00.000Z",
              "pageTimings": {"onLoad": 100}} for i in range(3)]
    return nn.read_har(har(*entries, pages=pages, comment="kept", _custom={"x": 1}))


def urls(doc):
    return [e["request"]["url"] for e in doc["log"]["entries"]]


def test_everything_by_default(session):
    doc = session.to_har()
    assert len(doc["log"]["entries"]) == 6
    assert [p["id"] for p in doc["log"]["pages"]] == ["p0", "p1", "p2"]
    assert doc["log"]["comment"] == "kept" and doc["log"]["_custom"] == {"x": 1}


@pytest.mark.parametrize("rows", [
    lambda s: s.df[s.df.status >= 500],
    lambda s: s.df.status >= 500,
    lambda s: s.df.index[s.df.status >= 500],
    lambda s: [0, 3],
])
def test_rows_by_filtered_frame_mask_or_labels(session, rows):
    doc = session.to_har(rows=rows(session))
    assert urls(doc) == ["https://example.com/0", "https://example.com/3"]
    assert [p["id"] for p in doc["log"]["pages"]] == ["p0", "p1"]  # only pages the entries use


def test_a_mask_of_the_wrong_length_is_refused(session):
    with pytest.raises(ValueError, match="length 2"):
        session.to_har(rows=[True, False])


def test_an_unknown_row_is_refused(session):
    with pytest.raises(IndexError, match="no entry 9"):
        session.to_har(rows=[9])


def test_bodies(session):
    binary = entry()
    binary["response"]["content"] = {"size": 3, "mimeType": "image/png", "text": "AAEC", "encoding": "base64"}
    s = nn.read_har(har(entry(), binary))
    text_only = s.to_har(bodies="text")["log"]["entries"]
    assert "text" in text_only[0]["response"]["content"]
    assert "text" not in text_only[1]["response"]["content"]
    none = s.to_har(bodies="none")["log"]["entries"]
    assert all("text" not in e["response"]["content"] for e in none)
    with pytest.raises(ValueError, match="bodies must be one of"):
        s.to_har(bodies="some")


def test_files_plain_and_gzip_are_written_atomically(session, tmp_path):
    plain = session.to_har(tmp_path / "out.har")
    assert plain == tmp_path / "out.har"
    assert len(json.loads(plain.read_bytes())["log"]["entries"]) == 6
    zipped = session.to_har(tmp_path / "out.har.gz")
    assert json.loads(gzip.decompress(zipped.read_bytes())) == json.loads(plain.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.har", "out.har.gz"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(session, tmp_path, monkeypatch):
    target = tmp_path / "out.har"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        session.to_har(target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.har"]


def test_export_never_modifies_the_source(session, tmp_path):
    source = tmp_path / "in.har"
    source.write_text(json.dumps(har(entry())))
    before = source.read_bytes()
    s = nn.read_har(source)
    s.to_har(tmp_path / "out.har", redact=True)
    assert source.read_bytes() == before


def test_exports_are_valid_har(session, har_schema):
    for options in [{}, {"redact": True}, {"bodies": "none"}, {"rows": [1]}]:
        assert list(har_schema.iter_errors(session.to_har(**options))) == []


def test_an_empty_session_exports(har_schema):
    doc = nn.Session("empty").to_har()
    assert doc["log"]["entries"] == [] and list(har_schema.iter_errors(doc)) == []


def test_an_export_gets_an_ordinary_files_mode_or_keeps_the_one_it_replaces(session, tmp_path):
    fresh = session.to_har(tmp_path / "fresh.har")
    assert fresh.stat().st_mode & 0o777 == 0o644
    kept = tmp_path / "kept.har"
    kept.write_text("old")
    kept.chmod(0o640)
    session.to_har(kept)
    assert kept.stat().st_mode & 0o777 == 0o640

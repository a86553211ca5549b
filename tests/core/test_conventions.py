"""HAR's conventions, written once and used by every layer."""

from __future__ import annotations

import pathlib
import re

import necto_nb as nn
from necto_nb.har.conventions import BARE_PERCENT, DEFAULT_PORTS, PHASES, no_response, total_time
from tests.factory import entry, har

PACKAGE = pathlib.Path(nn.__file__).parent


def test_total_time_adds_the_phases_that_apply_and_not_ssl_twice():
    timings = {"blocked": 1, "dns": -1, "connect": 30, "ssl": 20, "send": 0.5, "wait": 25, "receive": 4,
               "comment": "x"}
    assert total_time(timings) == 60.5
    assert total_time({"send": True, "wait": float("nan"), "receive": float("inf")}) == 0


def test_a_no_response_entry_is_valid_har_and_reads_as_status_0():
    session = nn.read_har(har(entry(response=no_response("connection refused"))))
    assert session.report.ok
    row = session.df.iloc[0]
    assert row.status == 0 and row.error == "connection refused"


def test_bare_percent_and_default_ports():
    assert BARE_PERCENT.sub("%25", "/a%20b%zz%") == "/a%20b%25zz%25"
    assert DEFAULT_PORTS["https"] == 443 and DEFAULT_PORTS["ws"] == 80


def test_no_other_module_writes_the_conventions_again():
    phases = re.compile(r'"blocked",\s*"dns",\s*"connect"')
    bare = re.escape(BARE_PERCENT.pattern)
    for path in PACKAGE.rglob("*.py"):
        if path.name == "conventions.py":
            continue
        text = path.read_text()
        assert not phases.search(text), f"{path} lists the timing phases: import PHASES"
        assert not re.search(bare, text), f"{path} writes the bare-percent pattern: import BARE_PERCENT"
        assert '"https": 443' not in text and '"https": "443"' not in text, f"{path}: import DEFAULT_PORTS"
    assert PHASES[3] == "ssl"

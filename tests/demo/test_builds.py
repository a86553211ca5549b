"""The demo site deploys builds: hashed static files under a build folder, renamed every build."""

from __future__ import annotations

import re

import httpx
import pytest

from necto_nb.demo import serve


def test_a_build_renames_every_static_file_and_serves_it():
    with serve(build=1041) as site, httpx.Client(base_url=site.url) as client:
        first = re.findall(r'(?:src|href)="(/[^"]+)"', client.get("/").text)
        assert first and all(re.fullmatch(r"/build-1041/static/.+\.[0-9a-f]{8}\.\w+", p) for p in first)
        assert all(client.get(p).status_code == 200 for p in first)
        assert client.get(first[0]).content == client.get(re.sub(r"/build-1041|\.[0-9a-f]{8}", "", first[0])).content
        site.build = 1042
        second = re.findall(r'(?:src|href)="(/[^"]+)"', client.get("/").text)
        assert len(second) == len(first) and not set(first) & set(second)
        site.build = None
        assert all(p.startswith("/static/") for p in re.findall(r'(?:src|href)="(/[^"]+)"', client.get("/").text))
        with pytest.raises(ValueError, match="build must be a whole number from 0, or None, not -1"):
            site.build = -1

"""Filters and sort orders of the grid's view, on a real frame."""

from __future__ import annotations

import pytest

import necto_nb as nn
from necto_nb.widgets.view import Filter, options, order
from tests.factory import entry, har


@pytest.fixture
def df():
    entries = [
        entry("https://api.example.com/users?id=1", 200),
        entry("https://api.example.com/users?id=2", 404),
        entry("https://cdn.example.net/app.js", 200, response={**entry()["response"], "status": 304,
              "content": {"size": 0, "mimeType": "application/javascript"}}),
        entry("https://api.example.com/orders", 500),
        entry("https://other.test/login", 0),
    ]
    entries[3]["request"]["method"] = "POST"
    return nn.read_har(har(*entries)).df


def test_no_filter_keeps_every_row_in_entry_order(df):
    assert order(df, Filter()).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("search", "expected"), [
    ("users", [0, 1]),
    ("API.EXAMPLE", [0, 1, 3]),           # case-insensitive, host is part of the URL
    ("post", [3]),                        # a method
    ("example users", [0, 1]),            # every word must match
    ("id=2", [1]),                        # query text is searched too
    ("nothing-like-this", []),
    ("(", []),                            # plain text, not a regular expression
])
def test_search_over_url_host_and_method(df, search, expected):
    assert order(df, Filter(search=search)).tolist() == expected


@pytest.mark.parametrize(("status", "expected"), [
    ("2xx", [0]), ("3xx", [2]), ("4xx", [1]), ("5xx", [3]), ("failed", [4]), ("1xx", []),
])
def test_status_class_filter(df, status, expected):
    assert order(df, Filter(status=status)).tolist() == expected


def test_method_and_type_filters_combine_with_search(df):
    assert order(df, Filter(method="POST")).tolist() == [3]
    assert order(df, Filter(type="script")).tolist() == [2]
    assert order(df, Filter(search="example", method="GET", status="2xx")).tolist() == [0]


def test_sorting_is_stable_with_missing_values_last(df):
    assert order(df, Filter(), "status").tolist() == [4, 0, 2, 1, 3]
    assert order(df, Filter(), "status", ascending=False).tolist() == [3, 1, 2, 0, 4]
    assert order(df, Filter(), "#", ascending=False).tolist() == [4, 3, 2, 1, 0]
    hosts = df.loc[order(df, Filter(), "host"), "host"].tolist()
    assert hosts == sorted(hosts)


def test_sort_and_filter_names_are_checked(df):
    with pytest.raises(ValueError, match="cannot sort by 'colour'"):
        order(df, Filter(), "colour")
    with pytest.raises(ValueError, match="unknown status class '6xx'"):
        order(df, Filter(status="6xx"))


def test_options_are_the_values_present(df):
    assert options(df, "method") == ["GET", "POST"]
    assert "script" in options(df, "resource_type")


def test_an_empty_frame_has_an_empty_view():
    empty = nn.Session().df
    assert order(empty, Filter(search="x", status="4xx"), "time").tolist() == []

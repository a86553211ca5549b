"""One error tree: every mistake a user can make is an `nn.Error`, with the built-in base it had."""

from __future__ import annotations

import inspect

import pytest

import necto_nb as nn
from necto_nb import errors
from necto_nb.cli import main
from tests.factory import har

TREE = {name: cls for name, cls in vars(errors).items() if inspect.isclass(cls) and issubclass(cls, Exception)}


def test_the_docstring_draws_every_error_and_the_package_exports_it():
    for name, cls in TREE.items():
        assert issubclass(cls, nn.Error)
        assert f" {name} " in errors.__doc__, f"{name} missing from the drawn tree"
        assert getattr(nn, name) is cls and name in nn.__all__


@pytest.mark.parametrize("error, base", [
    (nn.HarError, ValueError), (nn.UrlscanError, nn.HarError), (nn.ArgumentError, ValueError),
    (nn.ArgumentTypeError, TypeError), (nn.RowError, IndexError), (nn.ProxyError, OSError),
    (nn.CaptureRunningError, RuntimeError),
])
def test_built_in_bases_users_catch_are_kept(error, base):
    assert issubclass(error, base)


def test_a_proxy_error_is_still_an_os_error_with_its_errno():
    error = nn.ProxyError(98, "cannot listen on 127.0.0.1:8080: address in use")
    assert error.errno == 98 and "address in use" in str(error)


@pytest.mark.parametrize("mistake, error", [
    (lambda s: nn.read_har(b"not json"), nn.HarError),
    (lambda s: s.to_har(bodies="some"), nn.ArgumentError),
    (lambda s: s.to_har(rows=[5]), nn.RowError),
    (lambda s: s.to_har(rows=[True, False, True]), nn.ArgumentError),
    (lambda s: nn.concat([]), nn.ArgumentError),
    (lambda s: nn.read_urlscan("acc", "bad id!", token="t"), nn.ArgumentError),
    (lambda s: nn.compare_timings([], [s]), nn.ArgumentError),
    (lambda s: nn.compare_timings([s], [42]), nn.ArgumentTypeError),
    (lambda s: nn.diff(s, s, ignore_paths=["items"]), nn.ArgumentError),
    (lambda s: nn.waterfall([]), nn.ArgumentError),
    (lambda s: nn.waterfall(s, page="no-such-page"), nn.ArgumentError),
    (lambda s: nn.replay(s, base_url="nowhere"), nn.ArgumentError),
], ids=["read_har", "bodies", "rows", "mask", "concat", "urlscan", "no runs", "not a run", "diff paths",
        "waterfall", "page", "replay"])
def test_a_users_mistake_anywhere_is_an_nn_error(mistake, error):
    session = nn.read_har(har())
    with pytest.raises(error) as caught:
        mistake(session)
    assert isinstance(caught.value, nn.Error)


def test_the_command_line_reports_any_nn_error_in_one_line(tmp_path, capsys):
    path = tmp_path / "a.har"
    nn.read_har(har()).to_har(path)
    assert main(["diff", str(path), str(path), "--ignore-path", "items"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("necto-nb diff: error: ignore_paths: 'items' is not a JSON path") and "Traceback" not in err

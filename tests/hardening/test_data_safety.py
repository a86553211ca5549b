"""Data safety: exports are atomic even when the writer is killed, imports never change their
source, and a side file (`_file`) is never read from outside the HAR's own folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import necto_nb as nn
from tests.conftest import corpus_files, each_corpus_file
from tests.factory import entry, har

ROOT = Path(__file__).resolve().parents[2]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- atomic exports -------------------------------------------------------------------------

# The writer: a Session large enough that each export takes a while, exported again and
# again with a generation number, announcing each finished file on stdout.
WRITER = """
import sys, necto_nb as nn
from tests.factory import entry
target = sys.argv[1]
s = nn.Session("big", [entry(url=f"https://example.com/{i}") | {"_body": "x" * 2000} for i in range(12000)])
for generation in range(10**6):
    s.log["comment"] = f"generation {generation}"
    s.to_har(target)
    print(generation, flush=True)
"""


def _kill_while_writing(target: Path, how: signal.Signals, rng: random.Random) -> int:
    """Start the writer, let it finish at least one file, kill it at a random moment."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        finished = int(proc.stdout.readline())  # one whole file exists
        time.sleep(rng.uniform(0.0, 1.5))
        os.kill(proc.pid, how)
        proc.wait(timeout=60)
        return finished
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".har", ".har.gz"])
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT (interrupt kernel)"])
def test_a_writer_killed_mid_write_leaves_the_old_file_or_the_whole_new_one(tmp_path, suffix, how):
    rng = random.Random(f"{suffix}{how}")
    target = tmp_path / f"out{suffix}"
    left = 0
    for _ in range(6):
        finished = _kill_while_writing(target, how, rng)
        data = target.read_bytes()
        doc = json.loads(gzip.decompress(data) if suffix == ".har.gz" else data)  # whole: it parses
        assert len(doc["log"]["entries"]) == 12000
        assert int(doc["log"]["comment"].split()[1]) >= finished  # the last finished file, or a later whole one
        others = sorted(p.name for p in tmp_path.iterdir() if p != target)
        if how == signal.SIGINT:  # KeyboardInterrupt: the writer removes its temporary file itself
            assert others == []
        left += len(others)
    # SIGKILL leaves no chance to clean up: the next export removes what dead writers left
    nn.read_har(har(entry())).to_har(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name], "a temporary file was left behind"
    if how == signal.SIGKILL and suffix == ".har":
        assert left > 0, "no kill landed mid-write: the test did not test the write"


def test_an_export_the_disk_refuses_keeps_the_old_file(tmp_path):
    """A real write failure (the file size limit, as a full disk would): the old file stays."""
    target = tmp_path / "out.har"
    nn.read_har(har(entry())).to_har(target)
    before = sha(target)
    code = ("import resource, signal, sys, necto_nb as nn; from tests.factory import entry; "
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000)); "
            "s = nn.Session('big', [entry() | {'_body': 'x' * 2000} for _ in range(1000)])\n"
            "try:\n    s.to_har(sys.argv[1])\nexcept OSError as e:\n    print(e.errno)")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == str(__import__("errno").EFBIG), out.stderr
    assert sha(target) == before and [p.name for p in tmp_path.iterdir()] == ["out.har"]


def test_an_export_into_a_missing_folder_names_the_folder(tmp_path):
    folder = tmp_path / "not" / "made"
    with pytest.raises(FileNotFoundError, match="no folder to write out.har into") as raised:
        nn.read_har(har(entry())).to_har(folder / "out.har")
    assert raised.value.filename == str(folder)
    assert not (tmp_path / "not").exists()


# -- imports never modify their source ------------------------------------------------------


def _sources(folder: Path) -> list[Path]:
    data = json.dumps(har(entry(), entry(url="https://example.com/b"))).encode()
    (folder / "plain.har").write_bytes(data)
    (folder / "packed.har.gz").write_bytes(gzip.compress(data))
    (folder / "mitm.zhar").write_bytes(zlib.compress(data))
    side = entry(url="https://example.com/side")
    side["response"]["content"] = {"size": 5, "mimeType": "text/plain", "_file": "bodies/side.txt"}
    (folder / "bodies").mkdir()
    (folder / "bodies" / "side.txt").write_bytes(b"hello")
    (folder / "with-side-file.har").write_bytes(json.dumps(har(side)).encode())
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_imports_and_everything_after_them_never_modify_the_source(tmp_path):
    files = _sources(tmp_path)
    before = {p: (sha(p), p.stat().st_mode, p.stat().st_mtime_ns) for p in files}
    for path in files:
        os.chmod(path, 0o444)  # reading needs no write permission either
    for path in [p for p in files if p.suffix in (".har", ".gz", ".zhar")]:
        s = nn.read_har(path)
        s.df, s.entries[0], s.response_body(0), s.request_body(0)
        s.extend([entry()])
        s.to_har(tmp_path / f"export-{path.name}.har", redact=True)
        with path.open("rb") as f:  # a file object too
            nn.read_har(f)
    nn.read_har((tmp_path / "plain.har").read_bytes())
    for path in files:
        os.chmod(path, before[path][1])
        assert (sha(path), path.stat().st_mode, path.stat().st_mtime_ns) == before[path], path.name
    assert nn.read_har(tmp_path / "with-side-file.har").response_body(0) == b"hello"


@pytest.mark.parametrize("path", each_corpus_file(corpus_files()), ids=lambda p: p.name)
def test_corpus_files_are_unchanged_by_import_and_export(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    before = sha(copy)
    try:
        s = nn.read_har(copy)
    except nn.HarError:
        assert sha(copy) == before
        return
    s.to_har(tmp_path / "out.har", redact=True)
    s.to_har(tmp_path / "out.har.gz")
    assert sha(copy) == before


# -- side files stay inside the HAR's folder ------------------------------------------------


@pytest.fixture
def folders(tmp_path):
    har_dir, outside = tmp_path / "har", tmp_path / "outside"
    har_dir.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"SECRET-OUTSIDE")
    (har_dir / "inside.bin").write_bytes(b"inside")
    (har_dir / "link-out.txt").symlink_to(outside / "secret.txt")
    (har_dir / "dir-out").symlink_to(outside, target_is_directory=True)
    (har_dir / "loop-a").symlink_to(har_dir / "loop-b")
    (har_dir / "loop-b").symlink_to(har_dir / "loop-a")
    (har_dir / "link-in.bin").symlink_to(har_dir / "inside.bin")
    return har_dir, outside


def _read_side_file(har_dir: Path, name: str) -> tuple[nn.Session, bytes | str]:
    e = entry()
    e["response"]["content"] = {"size": 6, "mimeType": "application/octet-stream", "_file": name}
    (har_dir / "t.har").write_text(json.dumps(har(e)))
    s = nn.read_har(har_dir / "t.har")
    try:
        return s, s.response_body(0)
    except nn.HarError as error:
        return s, str(error)


@pytest.mark.parametrize("name", ["../outside/secret.txt", "{outside}/secret.txt", "link-out.txt", "dir-out/secret.txt",
                                  "sub/../../outside/secret.txt", "./../outside/secret.txt", "..", "/"])
def test_a_side_file_outside_the_folder_is_refused_and_reported(folders, name):
    har_dir, outside = folders
    s, body = _read_side_file(har_dir, name.format(outside=outside))
    assert isinstance(body, str) and "outside the HAR's folder" in body
    assert [i.severity for i in s.report if i.path.endswith("_file")] == ["warning"]


@pytest.mark.parametrize("name", ["loop-a", "a\x00b", "x" * 5000, "inside.bin/../" * 400 + "inside.bin"],
                         ids=["symlink loop", "NUL byte", "name too long", "very deep"])
def test_a_side_file_name_that_cannot_be_resolved_is_a_clear_error(folders, name):
    s, body = _read_side_file(folders[0], name)
    assert isinstance(body, (str, bytes))  # a HarError (its message) or, for a name that does resolve, the body
    if isinstance(body, bytes):
        assert body == b"inside"


def test_a_side_file_inside_the_folder_is_read(folders):
    assert _read_side_file(folders[0], "inside.bin")[1] == b"inside"
    assert _read_side_file(folders[0], "link-in.bin")[1] == b"inside"  # a symlink that stays inside


def test_a_har_not_read_from_a_folder_reads_no_side_file(folders):
    e = entry()
    e["response"]["content"] = {"size": 6, "mimeType": "text/plain", "_file": str(folders[1] / "secret.txt")}
    s = nn.read_har(json.dumps(har(e)).encode())
    with pytest.raises(nn.HarError, match="not read from a folder"):
        s.response_body(0)

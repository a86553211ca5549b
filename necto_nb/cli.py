"""The `necto-nb` command: lab, validate, convert, diff, compare, capture and demo.

Each subcommand is a thin layer over the library (read_har, Session.to_har, diff,
compare_timings, Session.capture, demo.serve): whatever it does, a notebook can do the
same way. Exit status: 0 done, 1 warnings with `validate --strict` (or differences with
`diff --exit-code`, regressions with `compare --exit-code`), 2 errors.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from necto_nb.errors import CommandError, Error

OK, WARNINGS, ERRORS = 0, 1, 2
HAR_SUFFIXES = (".har", ".har.gz")
FRAME_SUFFIXES = (".parquet", ".csv")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return args.run(args)
    except Error as e:  # every mistake necto_nb reports: one line, no traceback
        print(f"necto-nb {args.command}: error: {e}", file=sys.stderr)
        return ERRORS
    except BrokenPipeError:  # e.g. `necto-nb validate ... | head`
        sys.stderr.close()
        return ERRORS


def _parser() -> argparse.ArgumentParser:
    from necto_nb import __version__

    parser = argparse.ArgumentParser(
        prog="necto-nb",
        description="Capture, import, inspect and compare HTTP traffic as HAR 1.2.",
        epilog="Run 'necto-nb COMMAND -h' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"necto-nb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], summary: str, description: str,
                **kw: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        sub.set_defaults(run=run, parser=sub)
        return sub

    lab = command(
        "lab", _lab, "open JupyterLab on the example notebooks (or a folder)",
        "Start JupyterLab with PATH as its root folder: by default the notebooks/ folder\n"
        "of the necto_nb source tree, else ./notebooks. Options JupyterLab knows that are\n"
        "not listed here are passed on, e.g. --IdentityProvider.token=secret.",
    )
    lab.add_argument("path", nargs="?", help="folder to open (default: the example notebooks)")
    lab.add_argument("--port", type=int, help="port for JupyterLab (default: its own, 8888 or the next free one)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a web browser")

    validate = command(
        "validate", _validate, "check HAR files and print what was wrong and repaired",
        "Read each FILE as necto_nb does (.har, .har.gz, .zhar; '-' for standard input) and\n"
        "print its report: each kind of problem once, with its JSON path, how often it\n"
        "occurred and what was done about it.\n\n"
        "exit status: 0 every file readable (warnings allowed), 1 warnings with --strict,\n"
        "2 a file could not be read.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="HAR files to check")
    validate.add_argument("--strict", action="store_true", help="exit 1 when any file needed repairs (warnings)")
    validate.add_argument("-q", "--quiet", action="store_true", help="one line per file, no issue list")

    convert = command(
        "convert", _convert, "convert HAR files to HAR, gzipped HAR, Parquet or CSV, or many to a dataset",
        "Read FILE and write it as OUT; the format follows OUT's suffix:\n"
        "  .har / .har.gz   HAR 1.2 (every field kept, repairs applied)\n"
        "  .parquet / .csv  the request table (one row per request)\n"
        "  FOLDER/          a Parquet dataset partitioned by run: the request table of every\n"
        "                   file and each entry's JSON (nn.read_parquet reads it back); FILE\n"
        "                   may then be several files, folders or quoted globs ('runs/*.har').\n"
        "                   Runs already in the dataset with the same names are replaced; a\n"
        "                   file that cannot be read is named, the others written (exit 2).\n"
        "With --redact, credentials (Authorization, cookies, tokens in URLs and bodies) are\n"
        "replaced by [REDACTED] first, whatever the format.",
    )
    convert.add_argument("files", nargs="+", metavar="FILE",
                         help="HAR to read ('-' for standard input); for a dataset, files, folders or globs")
    convert.add_argument("-o", "--output", required=True, metavar="OUT",
                         help="file to write (.har, .har.gz, .parquet, .csv) or dataset folder (ending in /)")
    convert.add_argument("--redact", action="store_true", help="replace credentials with [REDACTED]")
    convert.add_argument("--bodies", choices=["all", "text", "none"], default="all",
                         help="bodies to keep in a HAR: all, text (drop binary) or none (default: %(default)s)")

    diff = command(
        "diff", _diff, "compare the requests of two HAR files",
        "Match the requests of A and B (method and URL) and print what changed: status,\n"
        "headers (volatile ones such as Date ignored), JSON body paths; and the requests\n"
        "only in A or only in B.",
    )
    diff.add_argument("a", metavar="A", help="the baseline HAR")
    diff.add_argument("b", metavar="B", help="the HAR to compare with it")
    diff.add_argument("--ignore-header", action="append", default=[], metavar="NAME",
                      help="also ignore this header (repeatable)")
    diff.add_argument("--all-headers", action="store_true", help="compare volatile headers such as Date too")
    diff.add_argument("--ignore-path", action="append", default=[], metavar="JSONPATH",
                      help="ignore this JSON body path and below, e.g. '$.items[*].updated_at' (repeatable)")
    diff.add_argument("--no-bodies", action="store_true", help="compare status and headers only")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences")

    compare = command(
        "compare", _compare, "compare the timings of runs before and after a change",
        "Read the runs of BEFORE and AFTER (each a HAR file, a folder of them, a quoted\n"
        "glob such as 'runs/before/*.har' or a Parquet dataset of runs that\n"
        "`necto-nb convert ... -o FOLDER/` wrote; or list files with --before and --after), pair\n"
        "their requests (renamed assets, moved build folders, varying query values and\n"
        "renamed hosts included) and print the requests that got slower, beyond the\n"
        "thresholds and, with several runs a side, beyond chance (q-value under --alpha).\n\n"
        "exit status: 0 done (1 with --exit-code when something got slower), 2 errors.",
    )
    compare.add_argument("sides", nargs="*", metavar="BEFORE AFTER", help="the runs before and after the change")
    compare.add_argument("--before", nargs="+", action="extend", default=[], metavar="FILE",
                         help="HAR files of the runs before (instead of BEFORE)")
    compare.add_argument("--after", nargs="+", action="extend", default=[], metavar="FILE",
                         help="HAR files of the runs after (instead of AFTER)")
    compare.add_argument("--host", action="append", default=[], metavar="A=B",
                         help="host A before is host B after, e.g. www.example.com=staging.example.com (repeatable)")
    compare.add_argument("--ignore-query", action="append", default=[], metavar="NAME",
                         help="also ignore this query parameter when pairing (repeatable)")
    compare.add_argument("--threshold", type=float, default=0.10, help="relative growth to flag (default: %(default)s)")
    compare.add_argument("--min-delta", type=float, default=5.0, help="ms of growth to flag (default: %(default)s)")
    compare.add_argument("--alpha", type=float, default=0.05, help="q-value to flag, with runs (default: %(default)s)")
    compare.add_argument("--html", metavar="OUT", help="also write an HTML report (self-contained) to OUT")
    compare.add_argument("--exit-code", action="store_true", help="exit 1 when a request got slower")

    capture = command(
        "capture", _capture, "record traffic through a proxy until interrupted, then write a HAR",
        "Start mitmproxy on HOST:PORT and record every request made through it. On Ctrl-C\n"
        "(SIGINT) or SIGTERM, stop and write what was recorded to OUT (.har or .har.gz).\n"
        "For HTTPS, make the client trust mitmproxy's CA certificate (its path is printed).",
    )
    capture.add_argument("--port", type=int, default=8080, help="proxy port; 0 picks a free one (default: %(default)s)")
    capture.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    capture.add_argument("-o", "--output", required=True, metavar="OUT", help="HAR file to write on exit (.har, .har.gz)")
    capture.add_argument("--name", default="capture", help="name of the recording (default: %(default)s)")
    capture.add_argument("--redact", action="store_true", help="replace credentials with [REDACTED] when writing")
    capture.add_argument("--ignore-hosts", action="append", default=[], metavar="REGEX",
                         help="host:port pattern to pass through unrecorded (repeatable)")
    capture.add_argument("--max-body", metavar="SIZE", help="keep at most SIZE bytes of each body, e.g. 10m")
    capture.add_argument("--confdir", help="mitmproxy's folder with its CA (default: ~/.mitmproxy)")

    demo = command(
        "demo", _demo, "serve the built-in demo site until interrupted",
        "Serve the demo site (a page with CSS, JS and images, a JSON API, a redirect, gzip,\n"
        "/slow?ms=N, /error, /drop and a WebSocket echo) on loopback, for trying capture.",
    )
    demo.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    demo.add_argument("--slow-ms", type=int, default=0, help="extra delay for /slow, in ms (default: %(default)s)")
    return parser


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


# -- lab ------------------------------------------------------------------------------


def _notebooks() -> Path:
    for folder in (Path(__file__).resolve().parents[1] / "notebooks", Path.cwd() / "notebooks"):
        if folder.is_dir():
            return folder
    raise CommandError("no notebooks/ folder found beside the necto_nb sources or here: give a folder, necto-nb lab PATH")


def _lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise CommandError("JupyterLab is not installed: pip install jupyterlab")
    root = Path(args.path).expanduser() if args.path else _notebooks()
    if not root.is_dir():
        raise CommandError(f"{root} is not a folder")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root.resolve()}", f"--ip={args.ip}"]
    if args.port is not None:
        command.append(f"--port={args.port}")
    if args.no_browser:
        command.append("--no-browser")
    if os.geteuid() == 0:  # JupyterLab refuses root without it; containers and CI run as root
        command.append("--allow-root")
    command += args.extra
    sys.stdout.flush()
    # Replace this process: Ctrl-C and SIGTERM then reach JupyterLab directly.
    os.execv(sys.executable, command)
    return OK  # not reached


# -- validate -------------------------------------------------------------------------


def _source(name: str) -> Any:
    return sys.stdin.buffer if name == "-" else name


def _shown(name: str) -> str:
    """What messages call FILE: as given, standard input by its usual name."""
    return "<stdin>" if name == "-" else name


def _reason(name: str, error: Exception) -> str:
    """The error's message without the file name it starts with: the caller names the file once."""
    return str(error).removeprefix(f"{_shown(name)}: ")


def _validate(args: argparse.Namespace) -> int:
    from necto_nb import HarError, read_har

    worst = OK
    counts = {"valid": 0, "with warnings": 0, "unreadable": 0}
    for name in args.files:
        try:
            session = read_har(_source(name), name=_shown(name))
        except HarError as e:
            counts["unreadable"] += 1
            worst = ERRORS
            print(f"{name}: cannot be read: {_reason(name, e)}")
            if not args.quiet:
                for issue in e.issues:
                    print(f"  {issue}")
            continue
        report = session.report
        errors, warnings = len(report.errors), len(report.warnings)
        notes = len(report) - errors - warnings
        if errors:
            worst = ERRORS
        elif warnings and args.strict:
            worst = max(worst, WARNINGS)
        counts["with warnings" if errors or warnings else "valid"] += 1
        found = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in
                 ((errors, "error"), (warnings, "warning"), (notes, "note")) if n]
        print(f"{name}: {_entries(len(session))}, " + (", ".join(found) if found else "valid"))
        if not args.quiet:
            for issue, n in report.grouped():
                print(f"  {issue}" + (f" [{n} times]" if n > 1 else ""))
    if len(args.files) > 1:
        print(f"{len(args.files)} files: " + ", ".join(f"{n} {what}" for what, n in counts.items() if n))
    return worst


# -- convert --------------------------------------------------------------------------


def _format(path: str, allowed: tuple[str, ...], folder: bool = False) -> str:
    lowered = path.lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if lowered.endswith(suffix):
            return suffix
    also = " (or a dataset folder ending in /)" if folder else ""
    raise CommandError(f"cannot tell the format of {path}: give a name ending in {', '.join(allowed)}{also}")


def _read(name: str):
    from necto_nb import HarError, read_har

    try:
        return read_har(_source(name), name=_shown(name))
    except HarError as e:
        raise CommandError(f"cannot read {_shown(name)}: {_reason(name, e)}") from None


def _is_dataset(out: str) -> bool:
    return out.endswith(("/", os.sep)) or Path(out).is_dir()


def _convert(args: argparse.Namespace) -> int:
    from necto_nb import Redactor, read_har
    from necto_nb.atomic import replacing

    if _is_dataset(args.output):
        return _convert_to_dataset(args)
    suffix = _format(args.output, HAR_SUFFIXES + FRAME_SUFFIXES, folder=True)
    if len(args.files) > 1:
        raise CommandError(f"{len(args.files)} files go to a dataset, not to one {suffix} file: "
                           "give a folder ending in /, e.g. -o history/")
    session = _read(args.files[0])
    redaction = Redactor().redaction() if args.redact else None  # counts what this export replaced
    out = Path(args.output)
    try:
        if suffix in HAR_SUFFIXES:
            session.to_har(out, redact=redaction or False, bodies=args.bodies)
        else:
            if redaction is not None:  # the table of the redacted HAR: redaction means the same everywhere
                session = read_har(session.to_har(redact=redaction, bodies="none"), name=session.name)
            with replacing(out) as file:
                if suffix == ".parquet":
                    session.df.to_parquet(file)
                else:
                    session.df.to_csv(file, mode="wb")
    except OSError as e:
        raise CommandError(f"cannot write {out}: {e.strerror or e}") from None
    replaced = sum(redaction.counts.values()) if redaction is not None else 0
    note = f", {replaced} credential(s) redacted" if redaction is not None else ""
    print(f"wrote {_entries(len(session))} to {out}{note}")
    return OK


def _convert_to_dataset(args: argparse.Namespace) -> int:
    """Many HAR files to a Parquet dataset; an unreadable file is reported, the others kept."""
    from necto_nb import HarError, read_hars

    if "-" in args.files:
        raise CommandError("a dataset is made from files, not standard input")
    if args.redact or args.bodies != "all":
        raise CommandError("--redact and --bodies apply to one file; a dataset keeps the entries as read")
    try:
        runs = read_hars(args.files)
        runs.to_parquet(args.output)
    except HarError as e:
        raise CommandError(str(e)) from None
    except OSError as e:
        raise CommandError(f"cannot write {args.output}: {e.strerror or e}") from None
    for issue in runs.report:
        print(f"{issue.path}: cannot be read: {issue.message}", file=sys.stderr)
    print(f"wrote {len(runs)} run(s), {_entries(len(runs.df))} to {args.output}")
    return ERRORS if runs.report.errors else OK


# -- diff -----------------------------------------------------------------------------


def _clip(value: object, width: int = 160) -> str:
    text = repr(value) if not isinstance(value, str) else value.replace("\n", " | ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _diff(args: argparse.Namespace) -> int:
    from necto_nb.analysis import VOLATILE_HEADERS, diff

    a, b = _read(args.a), _read(args.b)
    ignored = set(args.ignore_header) | (set() if args.all_headers else set(VOLATILE_HEADERS))
    changes = diff(a, b, ignore_headers=ignored, ignore_paths=args.ignore_path, bodies=not args.no_bodies)
    only = changes[changes["part"] == "request"]
    removed, added = only[only["change"] == "removed"], only[only["change"] == "added"]
    changed = changes[changes["part"] != "request"]
    matched = len(a) - len(removed)
    n_changed = changed["entry_a"].nunique()
    print(f"A: {args.a} ({_entries(len(a))})")
    print(f"B: {args.b} ({_entries(len(b))})")
    print(f"{matched} matched ({n_changed} changed, {matched - n_changed} the same), "
          f"{len(removed)} only in A, {len(added)} only in B")
    for title, rows, side in (("only in A", removed, "a"), ("only in B", added, "b")):
        for row in rows.itertuples(index=False):
            print(f"{title}: {row.method} {getattr(row, side)}")
    for (entry, method, url, occurrence), rows in changed.groupby(
            ["entry_a", "method", "url", "occurrence"], sort=False):
        repeat = f" (repeat {occurrence + 1})" if occurrence else ""
        print(f"\n{method} {url}{repeat}")
        for row in rows.itertuples(index=False):
            name = f" {row.name}" if row.name else ""
            if row.change == "changed":
                print(f"  {row.part}{name}: {_clip(row.a)} -> {_clip(row.b)}")
            else:
                print(f"  {row.part}{name} {row.change}: {_clip(row.b if row.change == 'added' else row.a)}")
    return WARNINGS if args.exit_code and len(changes) else OK


# -- compare --------------------------------------------------------------------------


def _har_files(spec: str) -> list[str]:
    """A file, a folder (its .har and .har.gz files) or a glob, sorted."""
    import glob

    path = Path(spec).expanduser()
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir() if p.name.lower().endswith(HAR_SUFFIXES))
        if not found:
            raise CommandError(f"{spec}: a folder without .har or .har.gz files")
        return found
    if path.is_file():
        return [str(path)]
    if glob.has_magic(spec):
        found = sorted(glob.glob(str(path)))
        if not found:
            raise CommandError(f"{spec}: no file matches")
        return found
    raise CommandError(f"{spec}: no such file or folder")


def _runs(specs: list[str]):
    """One side's runs: a Parquet dataset of runs (a folder `Runs.to_parquet` wrote), or HAR
    files, folders and globs read as one (`read_hars`); an unreadable file is an error."""
    from necto_nb import HarError, read_hars, read_parquet
    from necto_nb.parquet import RUNS_FILE

    try:
        if len(specs) == 1 and (Path(specs[0]) / RUNS_FILE).is_file():
            return read_parquet(specs[0])
        runs = read_hars([f for spec in specs for f in _har_files(spec)], progress=False)
    except HarError as e:
        raise CommandError(str(e)) from None
    if runs.report.errors:
        first = runs.report.errors[0]
        raise CommandError(f"cannot read {first.path}: {first.message}")
    return runs


def _hosts(pairs: list[str]) -> dict[str, str]:
    hosts = {}
    for pair in pairs:
        before, sep, after = pair.partition("=")
        if not sep or not before or not after:
            raise CommandError(f"--host {pair!r}: give BEFORE=AFTER, e.g. www.example.com=staging.example.com")
        hosts[before.strip().lower()] = after.strip().lower()
    return hosts


def _compare(args: argparse.Namespace) -> int:
    from necto_nb.analysis import compare_timings
    from necto_nb.match import CACHE_BUSTERS

    if args.sides and (args.before or args.after):
        raise CommandError("give BEFORE AFTER or --before/--after, not both")
    if args.sides:
        if len(args.sides) != 2:
            raise CommandError(f"{len(args.sides)} arguments: give BEFORE and AFTER (quote globs: 'runs/a/*.har'), "
                           "or list files with --before ... --after ...")
        runs_before, runs_after = (_runs([side]) for side in args.sides)
    elif args.before and args.after:
        runs_before, runs_after = _runs(args.before), _runs(args.after)
    else:
        raise CommandError("give BEFORE and AFTER, or --before FILE... and --after FILE...")
    before, after = runs_before.files, runs_after.files
    try:
        table = compare_timings(runs_before, runs_after, hosts=_hosts(args.host),
                                ignore_query=CACHE_BUSTERS | {n.lower() for n in args.ignore_query},
                                threshold=args.threshold, min_delta=args.min_delta, alpha=args.alpha)
    except ValueError as e:
        raise CommandError(str(e)) from None
    lines = _compare_summary(table, before, after)
    print("\n".join(lines))
    if args.html:
        from necto_nb.har.write import replacing
        from necto_nb.plots.report import comparison_html

        out = Path(args.html)
        try:
            with replacing(out) as file:
                file.write(comparison_html(table, before, after).encode("utf-8"))
        except OSError as e:
            raise CommandError(f"cannot write {out}: {e.strerror or e}") from None
        print(f"wrote {out}")
    return WARNINGS if args.exit_code and table["regression"].any() else OK


def _compare_summary(table: Any, before: list[str], after: list[str]) -> list[str]:
    counts = table["change"].value_counts()
    several = max(table.settings["runs"].values()) > 1
    flagged = table[table["regression"]].sort_values("time_delta", ascending=False)
    lines = [f"before: {len(before)} run(s), after: {len(after)} run(s)",
             f"{counts.get('matched', 0)} requests matched ("
             + ", ".join(f"{n} {stage}" for stage, n in table["matched_by"].value_counts().items())
             + f"), {counts.get('removed', 0)} only before, {counts.get('added', 0)} only after",
             f"{len(flagged)} got slower" + (":" if len(flagged) else "")]
    for row in flagged.itertuples(index=False):
        detail = f"{row.time_baseline:,.1f} -> {row.time_candidate:,.1f} ms ({row.time_delta:+,.1f} ms"
        if several:
            detail += (f"; shift {row.time_shift:+,.1f} ms, CI {row.time_shift_low:+,.1f}..{row.time_shift_high:+,.1f}"
                       f", q={row.q_value:.2g}")
        lines.append(f"  {row.method} {_clip(row.url, 120)}: {detail})")
    return lines


# -- capture and demo: run until SIGINT or SIGTERM -------------------------------------


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP end a long-running command, for `wait()` to return.

    Installed before the command says it is ready, so a signal sent as soon as the
    address is printed is not lost. After the first, a second Ctrl-C interrupts as
    usual: files are written atomically, so none is left half-written.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._done = threading.Event()
        self._signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
        self._previous = {s: signal.signal(s, self._handler) for s in self._signals}

    def _handler(self, signum: int, frame: object) -> None:
        self.received = signum
        self._done.set()
        self.restore()

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def wait(self) -> str:
        """Block until a signal arrives; its name."""
        while not self._done.wait(0.5):  # a timeout keeps the main thread responsive everywhere
            pass
        return signal.Signals(self.received).name if self.received is not None else "stopped"


def _capture(args: argparse.Namespace) -> int:
    from necto_nb import Session

    _format(args.output, HAR_SUFFIXES)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise CommandError(f"cannot write {out}: the folder {out.parent} does not exist")
    session = Session(args.name)
    stop = _StopSignals()
    options: dict[str, Any] = {"port": args.port, "host": args.host, "ignore_hosts": args.ignore_hosts}
    if args.max_body is not None:
        options["max_body"] = args.max_body
    if args.confdir is not None:
        options["confdir"] = args.confdir
    try:
        proxy = session.capture(**options)
    except Error:
        stop.restore()
        raise
    try:
        for warning in proxy.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"capturing through {proxy.url} (CA certificate for HTTPS: {proxy.ca_cert_path})", flush=True)
        print(f"press Ctrl-C (or send SIGTERM) to stop and write {out}", flush=True)
        print(f"{stop.wait()}: stopping", flush=True)
    finally:
        proxy.stop()
        # Written even when stopping went wrong: what was recorded is the point of the command.
        try:
            session.to_har(out, redact=args.redact)
        except OSError as e:
            raise CommandError(f"cannot write {out}: {e.strerror or e}") from None
    for error in proxy.errors:
        print(f"warning: {error}", file=sys.stderr)
    print(f"wrote {_entries(len(session))} to {out}", flush=True)
    return OK


def _demo(args: argparse.Namespace) -> int:
    from necto_nb.demo import serve

    stop = _StopSignals()
    try:
        site = serve(args.port, args.host, slow_ms=args.slow_ms)
    except (OSError, Error) as e:  # a busy port is the command's problem to report, too
        stop.restore()
        raise CommandError(str(e)) from None
    with site:
        print(f"demo site at {site.url}/ (WebSocket echo at {site.ws_url}); Ctrl-C to stop", flush=True)
        stop.wait()
    return OK


if __name__ == "__main__":
    sys.exit(main())

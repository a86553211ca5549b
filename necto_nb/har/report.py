"""What an import found: issues with a severity, a JSON path, a message and the action taken."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
_ORDER = {"error": 0, "warning": 1, "info": 2}
_INDEX = re.compile(r"\[\d+\]")
# A value a message quotes (a URL, a date). Possessive: a quoted value of megabytes is matched
# without a backtracking state kept per character (that took a gigabyte).
_QUOTED = re.compile(r"'(?:[^'\\]++|\\.)*+'")


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    path: str
    message: str
    action: str = ""

    def __str__(self) -> str:
        action = f" ({self.action})" if self.action else ""
        return f"{self.severity}: {self.path}: {self.message}{action}"


class Report:
    """Issues in the order they were found; renders as a grouped, escaped table."""

    def __init__(self, issues: Iterable[Issue] = ()) -> None:
        self._issues = list(issues)

    def add(self, severity: Severity, path: str, message: str, action: str = "") -> None:
        self._issues.append(Issue(severity, path, message, action))

    def extend(self, issues: Iterable[Issue]) -> None:
        self._issues.extend(issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self._issues)

    def __len__(self) -> int:
        return len(self._issues)

    def __getitem__(self, i: int) -> Issue:
        return self._issues[i]

    def __bool__(self) -> bool:
        return bool(self._issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self._issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self._issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when nothing needed a repair (info notes allowed)."""
        return not any(i.severity != "info" for i in self._issues)

    def grouped(self) -> list[tuple[Issue, int]]:
        """One row per kind of issue: the first occurrence and how often it happened.

        Paths are grouped with their indices folded (`entries[*]`), and messages and actions
        with the values they quote folded ('...'), so a file where every entry lacks a field,
        or has a URL to percent-encode, gives one row, not fifty thousand.
        """
        groups: dict[tuple, list] = {}
        for issue in self._issues:
            key = (issue.severity, _INDEX.sub("[*]", issue.path), _QUOTED.sub("'...'", issue.message),
                   _QUOTED.sub("'...'", issue.action))
            if key in groups:
                groups[key][1] += 1
            else:
                groups[key] = [issue, 1]
        rows = [(first, n) for first, n in groups.values()]
        return sorted(rows, key=lambda row: _ORDER[row[0].severity])

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            [(i.severity, i.path, i.message, i.action) for i in self._issues],
            columns=["severity", "path", "message", "action"],
        )

    def __repr__(self) -> str:
        if not self._issues:
            return "Report: no issues"
        lines = [f"Report: {len(self._issues)} issue(s)"]
        for first, n in self.grouped():
            more = f" [x{n}]" if n > 1 else ""
            lines.append(f"  {first}{more}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self._issues:
            return "<p>No issues: the file follows HAR 1.2.</p>"
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(first.severity)}</td><td><code>{esc(first.path)}</code></td>"
            f"<td>{esc(first.message)}</td><td>{esc(first.action)}</td><td>{n}</td></tr>"
            for first, n in self.grouped()
        )
        return (
            "<table><thead><tr><th>severity</th><th>first path</th><th>message</th>"
            f"<th>action</th><th>count</th></tr></thead><tbody>{rows}</tbody></table>"
        )


"""The live rule list and the mitmproxy addon that applies it.

The addon's hooks are plain functions: with no rules, or none matching, a flow costs its
URL, one regular expression of all the rules' globs (`_Plan`) and a call per predicate
rule, and returns None, so mitmproxy never schedules a coroutine for it.
A flow a rule matched gets a coroutine that runs its rules in `KINDS` order, awaiting
delays and callbacks without holding up any other flow.
"""

from __future__ import annotations

import collections
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, SupportsIndex

from necto_nb.errors import ArgumentTypeError
from necto_nb.rules.base import Rule, note
from necto_nb.rules.pacing import Pacing

if TYPE_CHECKING:
    from mitmproxy import connection, http
    from mitmproxy.proxy.server_hooks import ServerConnectionHookData

#: the order rules of different kinds run in on one flow
KINDS = ("delay", "throttle", "route", "rewrite", "callback", "respond")
_CHOSEN = "necto_nb.rules"
log = logging.getLogger(__name__)


class _Plan:
    """The rules' URL globs as one regular expression: a flow whose URL none of them matches
    (most flows, with rules for a few URLs) is looked at by the other rules only, in one C
    call instead of a Python call per rule."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        patterns = {r: r._pattern for r in rules if r._pattern is not None and type(r).matches is Rule.matches}
        self.globs = re.compile("|".join(f"(?:{p.pattern})" for p in patterns.values()), re.DOTALL) if patterns else None
        #: rules that match by a predicate, or every flow, in their order
        self.others = tuple(r for r in rules if r not in patterns)


def _checked(rule: Any, where: str) -> Rule:
    if not isinstance(rule, Rule):
        raise ArgumentTypeError(f"{where} must be a rule from nn.rules (Delay, Mock, ...), not {rule!r}")
    return rule


class RuleList(list):
    """A list of rules the proxy reads for every new flow: append, insert, remove or clear it
    at any time. Only rules go in (a wrong value fails when added); earlier rules win over
    later ones of the same kind."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        super().__init__(_checked(r, f"rules[{i}]") for i, r in enumerate(rules))

    def append(self, rule: Rule) -> None:
        super().append(_checked(rule, "rule"))

    def insert(self, index: SupportsIndex, rule: Rule) -> None:
        super().insert(index, _checked(rule, "rule"))

    def extend(self, rules: Iterable[Rule]) -> None:
        super().extend([_checked(r, f"rules[{i}]") for i, r in enumerate(rules)])

    def __iadd__(self, rules: Iterable[Rule]) -> RuleList:  # type: ignore[override, misc]  # as list's own stub
        self.extend(rules)
        return self

    def __setitem__(self, index, value) -> None:
        if isinstance(index, slice):
            value = [_checked(r, f"rules[{i}]") for i, r in enumerate(value)]
        else:
            _checked(value, f"rules[{index}]")
        super().__setitem__(index, value)

    def __repr__(self) -> str:
        return f"RuleList({list.__repr__(self)})"


class RuleEngine:
    """mitmproxy addon: applies `rules` and notes on each flow which rules touched it (`_rule`)
    and what failed (`_ruleError`, and `errors`, which the proxy shows)."""

    def __init__(self, rules: RuleList) -> None:
        from necto_nb.capture.convert import url_of  # here: capture/ imports this module
        from necto_nb.capture.recorder import WHOLE_BODY

        self.rules = rules
        self._url, self._whole = url_of, WHOLE_BODY
        #: what rules raised: "<when> <rule> on <method> <url>: <error>"
        self.errors: collections.deque[str] = collections.deque(maxlen=1000)
        #: the connections a Throttle paces (the proxy gives it mitmproxy's connection handlers)
        self.pacing = Pacing()
        self._planned: tuple[Rule, ...] = ()
        self._plan = _Plan(())

    def request(self, flow: http.HTTPFlow):
        rules = tuple(self.rules)  # the user may change the list meanwhile
        chosen = self._choose(flow, rules) if rules else None
        throttle = chosen.get("throttle") if chosen else None
        if throttle is not None or self.pacing.rates:  # a connection paced for an earlier flow is released
            self.pacing.set(flow, throttle.kbps if throttle is not None else None)  # type: ignore[attr-defined]
        if not chosen:
            return None
        ordered = [chosen[k] for k in KINDS if k in chosen]
        flow.metadata[_CHOSEN] = ordered
        note(flow, "_rule", "; ".join(map(repr, ordered)))
        return self._run(flow, ordered, "request")

    def _choose(self, flow: http.HTTPFlow, rules: tuple[Rule, ...]) -> dict[str, Rule]:
        """The first matching rule of each kind."""
        if rules != self._planned:  # the same rules (by identity) as for the last flow: the plan holds
            self._planned, self._plan = rules, _Plan(rules)
        url = self._url(flow.request)  # as the entry will show it, so a glob copied from s.df matches
        if self._plan.globs is None or self._plan.globs.match(url) is None:
            rules = self._plan.others  # no glob matches the URL: only the other rules can apply
        chosen: dict[str, Rule] = {}
        for rule in rules:
            if rule.kind in chosen:
                continue
            try:
                if rule.matches(flow, url):
                    chosen[rule.kind] = rule
            except Exception as e:  # a user's predicate: keep the error, the rule does not apply
                self._failed(flow, rule, "matching", e)
        return chosen

    def server_connected(self, data: ServerConnectionHookData) -> None:
        if self.pacing.rates:
            self.pacing.server_connected(data)

    def client_disconnected(self, client: connection.Client) -> None:
        if self.pacing.rates:
            self.pacing.client_disconnected(client.id)

    def done(self) -> None:
        self.pacing.cancel()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        ordered = flow.metadata.get(_CHOSEN)
        if ordered and any(rule.whole_response for rule in ordered):
            flow.metadata[self._whole] = True  # the recorder leaves it unstreamed: the rule sees it first

    def response(self, flow: http.HTTPFlow):
        ordered = flow.metadata.get(_CHOSEN)
        if not ordered or flow.response is None:
            return None
        return self._run(flow, ordered, "response")

    async def _run(self, flow: http.HTTPFlow, ordered: list[Rule], phase: str) -> None:
        for rule in ordered:
            if phase == "request" and (flow.response is not None or flow.error is not None):
                break  # answered (a mock, a callback) or killed: nothing else goes upstream
            try:
                pending = getattr(rule, phase)(flow)
                if pending is not None:
                    await pending
            except Exception as e:
                self._failed(flow, rule, phase, e)

    def _failed(self, flow: http.HTTPFlow, rule: Rule, phase: str, error: Exception) -> None:
        message = f"{rule!r} on the {phase}: {type(error).__name__}: {error}"
        self.errors.append(f"{time.strftime('%H:%M:%S')} {flow.request.method} {flow.request.pretty_url}: {message}")
        fields = flow.metadata.get("necto_nb.entry", {})
        note(flow, "_ruleError", f"{fields['_ruleError']}; {message}" if "_ruleError" in fields else message)

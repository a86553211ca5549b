"""Rules that change traffic through a capture, as mitmproxy addons.

    proxy.rules.append(nn.rules.Delay("*/api/search*", ms=300))
    proxy.rules.append(nn.rules.Mock("*/api/flags", json={"beta": True}))
    s.capture(rules=[nn.rules.Replay(nn.read_har("prod.har"))])

Rules match by URL glob, method or a predicate; of several matching rules of one kind
(two mocks, two delays) the first in the list applies; different kinds combine. Every
entry a rule touched names it in `_rule`.
"""

from necto_nb.rules.base import Rule
from necto_nb.rules.callback import Callback
from necto_nb.rules.engine import RuleEngine, RuleList
from necto_nb.rules.modify import REMOVE, MapRemote, Rewrite
from necto_nb.rules.replay import Replay
from necto_nb.rules.respond import Fail, MapLocal, Mock
from necto_nb.rules.timing import Delay, Throttle

__all__ = ["REMOVE", "Callback", "Delay", "Fail", "MapLocal", "MapRemote", "Mock", "Replay", "Rewrite", "Rule",
           "RuleEngine", "RuleList", "Throttle"]

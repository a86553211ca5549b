"""Capture inside the kernel: mitmproxy in a background thread filling a Session live.

`Session.capture(**kw)` is the door; `start(session, **kw)` is the same thing.
"""

from necto_nb.capture.convert import flow_to_entry
from necto_nb.capture.proxy import Proxy, start
from necto_nb.errors import ProxyError
from necto_nb.capture.recorder import Recorder

__all__ = ["Proxy", "ProxyError", "Recorder", "flow_to_entry", "start"]

"""The built-in demo site: `nn.demo.serve()` gives capture something to record with no internet."""

from .server import DemoServer, serve
from .samples import record_samples
from .visit import visit

__all__ = ["DemoServer", "record_samples", "serve", "visit"]

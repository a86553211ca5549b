"""The built-in demo site: `nn.demo.serve()` gives capture something to record with no internet."""

from .server import DemoServer, serve

__all__ = ["DemoServer", "serve"]

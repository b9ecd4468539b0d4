"""kitcore: a small toolkit for Python microservices in the spirit of Go kit.

Each concern lives in its own module (``kitcore.endpoint``, ``kitcore.errors``,
``kitcore.transport.http`` ...) and can be used alone.
"""

__version__ = "0.1.0"

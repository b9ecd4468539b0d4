"""The template service: items with an id and a name, served over HTTP and gRPC."""

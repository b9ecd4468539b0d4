"""The book service: the catalogue, served over gRPC (primary) and HTTP."""

"""Transports: turn wire requests into endpoint calls and back (HTTP on Flask, gRPC on grpcio)."""

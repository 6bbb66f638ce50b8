"""Filling projection misses from the owning service (architecture: "A projection miss is
not an answer"): the owners' internal endpoints, reached with service tokens, and one
`ProjectionSource` per projection, single-flight and bounded per id."""

from mss_projections.owners import OwnerClient, OwnerUnreachable
from mss_projections.source import Fetched, OwnerUnavailable, ProjectionSource

__all__ = ["Fetched", "OwnerClient", "OwnerUnavailable", "OwnerUnreachable", "ProjectionSource"]

"""The index backends this build of leadgen can build and open, by the name a manifest records.

The interface (leadgen.model.vector_index) names no engine, so code that only searches imports no
implementation; this registry is the one place that knows them all.
"""

from __future__ import annotations

from leadgen.errors import ArtifactError
from leadgen.model.faiss_index import FAISS
from leadgen.model.vector_index import DEFAULT_BACKEND, IndexBackend

BACKENDS: dict[str, IndexBackend] = {FAISS.name: FAISS}


def backend(name: str = DEFAULT_BACKEND) -> IndexBackend:
    """The backend a manifest entry names."""
    found = BACKENDS.get(name)
    if found is None:
        raise ArtifactError(f"index backend {name!r} is not available in this build of leadgen")
    return found

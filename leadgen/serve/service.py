"""The scoring service: clean leads in, typed answers out, duplicates short-circuited.

Every front end (the Lambda handler, the local server, `leadgen score`) calls `score_leads` with
leads validated at its edge (leadgen.serve.schemas). A lead already known is answered from the
duplicate check without being embedded; the others are scored together against the current
version (leadgen.serve.lifecycle) and then recorded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from leadgen.config import GradeBands, ServiceConfig
from leadgen.model.embedders import Embedder
from leadgen.serve.duplicate_check import DuplicateCheck, DuplicateState
from leadgen.serve.lifecycle import FailureHook, ModelLifecycle
from leadgen.serve.schemas import CleanLead, Duplicate, Health, Score
from leadgen.serve.scorer import LeadScores, Scorer
from leadgen.stores.artifacts import read_pointer
from leadgen.stores.blob import Store, open_store
from leadgen.stores.duplicates import DuplicateHit, DuplicateStore
from leadgen.stores.function import parse_pin


class ScoringService:
    def __init__(
        self,
        config: ServiceConfig,
        embedder: Embedder,
        duplicates: DuplicateStore | None,
        store: Store | None = None,
        on_refresh_failure: FailureHook | None = None,
    ) -> None:
        self.config = config
        pin = parse_pin(config.artifact_pin) if config.artifact_pin else None
        self.lifecycle = ModelLifecycle(
            store or open_store(config.artifacts_uri),
            config.cache_dir,
            embedder,
            config.refresh_seconds,
            on_failure=on_refresh_failure,
            pointer_source=(lambda _store: pin) if pin else read_pointer,
        )
        self.duplicates = duplicates

    def scorer(self) -> Scorer:
        """The version answering now (no I/O; ArtifactError while there is none)."""
        return self.lifecycle.current()

    def health(self) -> Health:
        scorer = self.scorer()
        m = scorer.manifest
        return Health(
            status="ok",
            artifact_version=scorer.version,
            artifact_age_seconds=round(artifact_age_seconds(m.created_at), 1),
            embedder=m.embedder,
            customers=m.customers,
            k=m.k,
            graded_on=scorer.bundle.head.headline_name,
        )

    def score_leads(
        self,
        leads: Sequence[CleanLead],
        bands: GradeBands | None = None,
        n_neighbors: int = 5,
        scorer: Scorer | None = None,
    ) -> list[Score]:
        """Score a batch: duplicates short-circuit (not embedded), the rest are scored together.
        `scorer` is the version the leads were validated against (default: the current one)."""
        scorer = scorer or self.scorer()
        check = DuplicateCheck(
            self.duplicates, self.config.email_hash_key, self.config.lead_ttl_days * 86400
        )
        states = [check.lookup(lead.email) for lead in leads]
        fresh = [i for i, s in enumerate(states) if s.hit is None]
        scored = scorer.score([leads[i] for i in fresh], bands, n_neighbors)
        answers: dict[int, Score] = {
            i: _duplicate(s.hit, scorer.version) for i, s in enumerate(states) if s.hit is not None
        }
        for i, parts in zip(fresh, scored, strict=True):
            ref = leads[i].lead_id or str(uuid.uuid4())
            state = check.record(states[i], ref)
            answers[i] = (
                _duplicate(state.hit, scorer.version)
                if state.hit is not None
                else _scored(parts, state, scorer.version, ref)
            )
        return [answers[i] for i in range(len(leads))]


def artifact_age_seconds(created_at: str) -> float:
    """Seconds since the version was built (a stalled refresh shows as a growing age)."""
    return max(0.0, time.time() - datetime.fromisoformat(created_at).timestamp())


def _scored(parts: LeadScores, state: DuplicateState, version: str, ref: str) -> Score:
    return Score(
        duplicate=False,
        artifact_version=version,
        duplicate_check=state.status,
        lead_ref=ref if state.status == "done" else None,
        **parts.fields(),
    )


def _duplicate(hit: DuplicateHit, version: str) -> Score:
    ref_field = "customer_id" if hit.kind == "customer" else "lead_ref"
    ref: dict[str, Any] = {ref_field: hit.ref}
    return Score(
        duplicate=True,
        artifact_version=version,
        duplicate_check="done",
        duplicate_of=hit.kind,
        duplicate_match=Duplicate(kind="email", confidence=1.0, matched_on=["email"], **ref),
        **ref,
    )

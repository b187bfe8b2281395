"""The scoring service: clean leads in, typed answers out, known customers short-circuited.

Every front end (the Lambda handler, the local server, `leadgen score`, `score-file`) calls
`score_leads` with leads validated at its edge (leadgen.serve.schemas). A lead that is a known
customer is answered from the duplicate check without being embedded; the others are scored
together against the current version (leadgen.serve.lifecycle). A known person who is not a
customer (a record of the CRM export at another stage, or a lead scored before) is scored and
answered with `known_as`; only new people are recorded. LEADGEN_SHORT_CIRCUIT=known answers every
known person without a score instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from leadgen.config import GradeBands, ServiceConfig
from leadgen.duplicates.check import DuplicateCheck, DuplicateState, Found
from leadgen.duplicates.matching import MatchConfig
from leadgen.duplicates.normalise import key_fingerprint
from leadgen.duplicates.store import DuplicateStore
from leadgen.duplicates.store_state import Probed
from leadgen.model.embedders import Embedder
from leadgen.model.text_cache import CachedEmbedder
from leadgen.serve.lifecycle import FailureHook, ModelLifecycle, Refused
from leadgen.serve.schemas import (
    CleanLead,
    Duplicate,
    DuplicateStoreStatus,
    GradeRow,
    Health,
    RefusedVersion,
    Score,
)
from leadgen.serve.score_record import ScoreLogger
from leadgen.serve.scorer import LeadScores, Scorer
from leadgen.stores.artifacts import parse_pin, read_pointer
from leadgen.stores.blob import Store, open_store

log = logging.getLogger(__name__)


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
        if config.text_cache and not isinstance(embedder, CachedEmbedder):
            embedder = CachedEmbedder(embedder, config.text_cache)
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
        self.match = MatchConfig(
            config.fuzzy_threshold,
            config.possible_threshold,
            household=config.dup_names == "household",
        )
        self._fingerprint = key_fingerprint(config.email_hash_key)
        self._mismatch_logged: set[str] = set()
        # Where scored leads are logged (leadgen.serve.score_record); None: nowhere.
        self.score_log: ScoreLogger | None = None

    def duplicate_store_status(self, scorer: Scorer) -> DuplicateStoreStatus:
        """Whether the store can be trusted for this version: the build and this service must
        hash with the same key, or every known customer would come back as new (silently)."""
        if self.duplicates is None:
            return "disabled"
        built_with = scorer.manifest.hash_key_fingerprint
        if built_with is None:
            return "unverified"
        if built_with == self._fingerprint:
            return "ok"
        if scorer.version not in self._mismatch_logged:
            self._mismatch_logged.add(scorer.version)
            log.error(
                "duplicate check disabled: version %s was built with email hash key %s, this "
                "service has %s (set the same LEADGEN_EMAIL_HASH_KEY[_SECRET_ARN] on both)",
                scorer.version,
                built_with,
                self._fingerprint,
            )
        return "hash_key_mismatch"

    def store_health(self, scorer: Scorer) -> DuplicateStoreStatus:
        """/health's view of the store: the key check, then what a probe of its file finds (a
        deleted, read-only, locked or damaged SQLite file is not "ok")."""
        status = self.duplicate_store_status(scorer)
        if status in ("ok", "unverified") and isinstance(self.duplicates, Probed):
            state = self.duplicates.state()
            return status if state == "ok" else state
        return status

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
            graded_on_reason=scorer.bundle.head.reason or None,
            grades=[GradeRow(**g) for g in m.quality.get("grades", [])],
            duplicate_store=self.store_health(scorer),
            fallback_from=self.lifecycle.fallback_from,
            refused=_refused(self.lifecycle.refused),
        )

    def score_leads(
        self,
        leads: Sequence[CleanLead],
        bands: GradeBands | None = None,
        n_neighbors: int = 5,
        scorer: Scorer | None = None,
        log: Sequence[bool] | bool = True,
    ) -> list[Score]:
        """Score a batch: duplicates short-circuit (not embedded), the rest are scored together.
        `scorer` is the version the leads were validated against (default: the current one);
        `log`: whether each lead (or all) may go to the score log."""
        scorer = scorer or self.scorer()
        trusted = self.duplicate_store_status(scorer) in ("ok", "unverified")
        check = DuplicateCheck(
            self.duplicates if trusted else None,
            self.config.email_hash_key,
            self.config.lead_ttl_days * 86400,
            self.match,
        )
        states = [check.lookup(lead) for lead in leads]
        fresh = [i for i, s in enumerate(states) if s.hit is None or not self.short_circuits(s.hit)]
        scored = scorer.score([leads[i] for i in fresh], bands, n_neighbors)
        answers: dict[int, Score] = {
            i: _duplicate(s.hit, scorer.version)
            for i, s in enumerate(states)
            if s.hit is not None and self.short_circuits(s.hit)
        }
        for i, parts in zip(fresh, scored, strict=True):
            ref = leads[i].lead_id or str(uuid.uuid4())
            # A known person is not recorded again: the store already holds them.
            state = states[i] if states[i].hit is not None else check.record(states[i], ref)
            answers[i] = (
                _duplicate(state.hit, scorer.version)
                if state.hit is not None and self.short_circuits(state.hit)
                else _scored(parts, state, scorer.version, ref)
            )
        for i, lead in enumerate(leads):
            answers[i].warnings = [*lead.warnings, *answers[i].warnings]
        result = [answers[i] for i in range(len(leads))]
        if self.score_log is not None:
            self.score_log.record(leads, result, scorer.spec.all_cols, log)
        return result

    def short_circuits(self, hit: Found) -> bool:
        """Whether a lead that is `hit` is answered without a score: a customer always, any
        known person with LEADGEN_SHORT_CIRCUIT=known."""
        return hit.kind == "customer" or self.config.short_circuit == "known"


def artifact_age_seconds(created_at: str) -> float:
    """Seconds since the version was built (a stalled refresh shows as a growing age)."""
    return max(0.0, time.time() - datetime.fromisoformat(created_at).timestamp())


def _refused(refused: Refused | None) -> RefusedVersion | None:
    if refused is None:
        return None
    since = datetime.fromtimestamp(refused.since, UTC).isoformat(timespec="seconds")
    return RefusedVersion(version=refused.version, reason=refused.reason, since=since)


def _scored(parts: LeadScores, state: DuplicateState, version: str, ref: str) -> Score:
    known = state.hit
    if known is not None:  # scored because known but not a customer: the known one's reference
        lead_ref = known.ref if known.kind == "lead" else None
    else:
        lead_ref = ref if state.status == "done" else None
    return Score(
        duplicate=False,
        artifact_version=version,
        duplicate_check=state.status,
        lead_ref=lead_ref,
        known_as=_match(known) if known else None,
        possible_duplicate=_match(state.possible) if state.possible else None,
        **parts.fields(),
    )


def _duplicate(hit: Found, version: str) -> Score:
    return Score(
        duplicate=True,
        artifact_version=version,
        duplicate_check="done",
        duplicate_of=hit.kind,
        duplicate_match=_match(hit),
        **_ref(hit),
    )


def _ref(found: Found) -> dict[str, Any]:
    return {"lead_ref" if found.kind == "lead" else "customer_id": found.ref}


def _match(found: Found) -> Duplicate:
    return Duplicate(
        kind=found.how,
        of=found.kind,
        confidence=found.confidence,
        matched_on=list(found.matched_on),
        stage=found.stage or None,
        **_ref(found),
    )

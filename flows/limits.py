"""One E-utilities request budget for every flow that talks to NCBI.

The in-process :class:`vdmine.pubmed.eutils.RateLimiter` paces one process; several queries run
at once (several deployments, or a manual run during the nightly one) would each get their own.
A Prefect global concurrency limit named ``ncbi-eutils``, used as a rate limit (slots decay at
the allowed rate), makes all of them share NCBI's 3 (or, with an API key, 10) requests/s.
"""

from __future__ import annotations

import logging

LIMIT_NAME = "ncbi-eutils"
log = logging.getLogger("vdmine")


def ensure_ncbi_limit(has_key: bool) -> bool:
    """Create (or fix) the global rate limit on the Prefect server; False when it cannot be reached."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    rate = 10 if has_key else 3
    try:
        with get_client(sync_client=True) as client:
            try:
                current = client.read_global_concurrency_limit_by_name(LIMIT_NAME)
                if current.limit != rate or current.slot_decay_per_second != rate:
                    client.update_global_concurrency_limit(
                        LIMIT_NAME, GlobalConcurrencyLimitUpdate(limit=rate, slot_decay_per_second=rate))
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=LIMIT_NAME, limit=rate, slot_decay_per_second=rate, active=True))
        return True
    except Exception as exc:  # no server: the in-process limiter still applies
        log.warning("could not set the Prefect global rate limit %r (%s); pacing per process only", LIMIT_NAME, exc)
        return False


def ncbi_slot() -> None:
    """Take one slot of the global E-utilities rate limit (blocks while the budget is spent)."""
    from prefect.concurrency.sync import rate_limit

    rate_limit(LIMIT_NAME, occupy=1, strict=False)

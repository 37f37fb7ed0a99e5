"""Plain HTTP endpoints besides the facilitator login: health, connection challenges, and the
public settings the page needs (organisation name, crisis resources, crisis words)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crypto.challenge import issue_challenge
from crypto.encoding import b64encode
from server.clock import Clock
from server.config import Config
from server.keyring import Keyring

CHALLENGE_TTL_MS = 60_000
NO_STORE = {"Cache-Control": "no-store"}


def api_routes(config: Config, keyring: Keyring, clock: Clock) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True}, headers=NO_STORE)

    async def challenge(request: Request) -> JSONResponse:
        now = clock()
        raw = issue_challenge(keyring.challenge_key, now_ms=now, ttl_ms=CHALLENGE_TTL_MS)
        return JSONResponse(
            {"ok": True, "challenge": b64encode(raw), "expires_at": now + CHALLENGE_TTL_MS},
            headers=NO_STORE,
        )

    async def public_settings(request: Request) -> JSONResponse:
        safety = config.safety
        return JSONResponse(
            {
                "ok": True,
                "organisation": config.server.organisation_name,
                "crisis_resources": [
                    {"name": r.name, "phone": r.phone, "url": r.url, "hours": r.hours}
                    for r in safety.crisis_resources
                ],
                "crisis_words": list(safety.crisis_words),
                "crisis_resources_by_locale": {
                    name: [
                        {"name": r.name, "phone": r.phone, "url": r.url, "hours": r.hours}
                        for r in resources
                    ]
                    for name, resources in safety.crisis_resources_by_locale.items()
                },
                "crisis_words_by_locale": {
                    name: list(words) for name, words in safety.crisis_words_by_locale.items()
                },
                "crisis_phrases_by_locale": dict(safety.crisis_phrases_by_locale),
                "quick_exit_url": safety.quick_exit_url,
                "time_zone": config.groups.time_zone,
            },
            headers=NO_STORE,
        )

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/challenge", challenge, methods=["GET"]),
        Route("/api/settings", public_settings, methods=["GET"]),
    ]

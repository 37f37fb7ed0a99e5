"""Telling running servers, from the command line, that facilitator sessions have ended.

``hearth facilitator disable`` and ``reset-password`` end sessions in the database. Every server
process re-checks its facilitator sockets against the database every ``[facilitators]
session_check_seconds`` (server/realtime/facilitator_sessions.py), which is what makes the end
reliable. With ``[scale] redis_url`` the command also announces it on the cluster bus so that
every process re-checks at once; if Redis cannot be reached the command says so, and the
periodic re-check still ends the sockets' power within that interval.
"""

from __future__ import annotations

import json

from server.cluster import CHANNEL
from server.realtime.facilitator_sessions import SESSIONS_NOTICE
from server.redislink import redis_client


async def announce_sessions_ended(redis_url: str) -> bool:
    """Publish the re-check notice; False if Redis could not be reached."""
    client = redis_client(redis_url)
    try:
        await client.publish(CHANNEL, json.dumps({**SESSIONS_NOTICE, "p": "cli"}))
    except (OSError, ConnectionError, TimeoutError):
        return False
    except Exception as error:  # redis-py's own errors (redis.exceptions.RedisError)
        if type(error).__module__.startswith("redis"):
            return False
        raise
    finally:
        await client.aclose()
    return True

"""Which tiers a ``streamq`` command may name: its App's, and those that exist in Redis.

A queue prepares its tier in Redis (streams, groups, meta hash) on first use, so a misspelt
``--tier`` used to be created, and the command acted on the new, empty tier: ``streamq pause
--tier hihg`` exited 0 while ``high`` kept running. The CLI now refuses a tier that neither
the App defines nor Redis holds, before anything touches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streamq.app import App
from streamq.broker.connection import translate_errors
from streamq.config import Tier, check_name, resolve_tiers
from streamq.errors import ConfigurationError, StreamqError


def adopt(app: App, name: str) -> None:
    """Make ``name``, a tier found in Redis, one of ``app``'s tiers (with ``standard``'s
    settings, as ``App(tiers=[Tier(name)])`` would give it)."""
    if name not in app.tiers:
        app.tiers[name] = resolve_tiers([Tier(name)])[name]


async def existing(app: App, names: Iterable[str]) -> list[str]:
    """Those of the tiers ``names`` that exist in Redis (their meta hash does), in order.
    One EXISTS each: no SCAN, which the documented ACL does not grant. Writes nothing."""
    from streamq.broker.reads import queues_existing

    backend = await app.backend()
    with translate_errors(app.url):
        return await queues_existing(backend.client, app.namespace, list(names))


async def check_tiers(app: App, names: Sequence[str], *, with_app: bool) -> None:
    """Raise ``ConfigurationError`` unless each of ``names`` is a tier of ``app`` or exists
    in Redis in ``app``'s namespace; those found in Redis become ``app``'s (``adopt``).
    Writes nothing, so a refused tier leaves no key behind."""
    unknown = [check_name(name, "tier name") for name in dict.fromkeys(names)
               if name not in app.tiers]
    if not unknown:
        return
    found = await existing(app, unknown)
    for name in found:
        adopt(app, name)
    missing = [name for name in unknown if name not in found]
    if missing:
        raise ConfigurationError(await _unknown_message(app, missing, with_app))


async def _unknown_message(app: App, missing: list[str], with_app: bool) -> str:
    from streamq.broker.reads import queue_names

    try:
        backend = await app.backend()
        with translate_errors(app.url):
            others = [name for name in await queue_names(backend.client, app.namespace)
                      if name not in app.tiers]
        in_redis = (f" (and those found in Redis: {', '.join(others)})" if others
                    else " (no other found in Redis)")
    except StreamqError:  # the ACL grants no SCAN (docs/security.md): known ones are enough
        in_redis = " (and any in Redis; listing those needs SCAN)"
    hint = ("to create a new tier, add it to the App: App(tiers=[Tier(NAME)])" if with_app
            else "pass --app module:attr to use a tier your App defines")
    return (f"unknown tier{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"in namespace {app.namespace!r}: known tiers are {', '.join(sorted(app.tiers))}"
            f"{in_redis}; {hint}")

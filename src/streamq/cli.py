"""The ``streamq`` command: run workers, and inspect and manage queues from a URL alone.

Exit codes: 0 success; 1 the operation failed (Redis unreachable, queue full, ...);
2 bad usage (unknown option, bad URL, bad --app, unknown tier, bad DATA); 3 no such job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog

from streamq.app import App
from streamq.broker.connection import translate_errors
from streamq.cli_units import parse_bytes, parse_duration, positive_int
from streamq.errors import ConfigurationError, JobNotFound, StreamqError
from streamq.job import JobState
from streamq.worker import SUPERVISED_ENV

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3
ID_HELP = "the job id (write -- before an id that starts with '-': streamq job -- -x1)"

Command = Callable[[argparse.Namespace], Awaitable[int]]


def build_app(args: argparse.Namespace) -> App:
    """The App a command works on: ``--app``'s (on ``--url`` and ``--namespace`` when given),
    or one built from ``--url`` alone (the default tiers)."""
    if args.app:
        from streamq.loading import load_app

        app = load_app(args.app)
        if args.url is None and args.namespace in (None, app.namespace):
            return app
        return app.using(args.url or app.url, namespace=args.namespace)
    return App(args.url, namespace="sq" if args.namespace is None else args.namespace)


async def open_app(args: argparse.Namespace, app: App | None = None) -> App:
    """``app`` (default: ``build_app``'s) for an admin command, once each --tier is known: one
    of the App's tiers or one that exists in Redis (cli_tiers.py). An unknown tier, e.g. a
    misspelt one, is a usage error, and nothing is created for it."""
    from streamq.cli_tiers import check_tiers

    app = build_app(args) if app is None else app
    await check_tiers(app, getattr(args, "tier", None) or [], with_app=bool(args.app))
    return app


async def tiers_of(app: App, args: argparse.Namespace) -> list[str]:
    """The tiers named with --tier, else every known tier (defaults, --app's, found in Redis)."""
    if getattr(args, "tier", None):
        return list(args.tier)
    from streamq.broker.reads import queue_names
    from streamq.cli_tiers import adopt

    backend = await app.backend()
    with translate_errors(app.url):
        found = await queue_names(backend.client, app.namespace)
    for name in found:
        adopt(app, name)
    return list(dict.fromkeys([*app.tiers, *found]))


def one_tier(args: argparse.Namespace) -> str:
    tiers = getattr(args, "tier", None) or []
    if len(tiers) != 1:
        raise ConfigurationError("this command needs exactly one --tier NAME")
    return str(tiers[0])


# ----------------------------------------------------------------------------- commands


async def cmd_worker(args: argparse.Namespace) -> int:
    if not args.app:
        raise ConfigurationError("streamq worker needs --app module:attribute (your App, with "
                                 "its processors), e.g. --app myapp.jobs:app")
    app = build_app(args)
    tiers = args.tier or sorted({p.tier for p in app.processors.values()}) or ["standard"]
    worker = app.worker(tiers, args.concurrency, max_jobs=args.max_jobs,
                        max_lifetime=args.max_lifetime, max_memory=args.max_memory)
    try:
        await worker.run(burst=args.burst)
    finally:
        await app.aclose()
    return EXIT_OK


def run_processes(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """``streamq worker --processes N``: supervise N worker processes (worker/supervisor.py)."""
    from streamq.worker.supervisor import supervise

    if not args.app:
        raise ConfigurationError("streamq worker needs --app module:attribute (your App, with "
                                 "its processors), e.g. --app myapp.jobs:app")
    return supervise(list(sys.argv[1:] if argv is None else argv), args.processes,
                     burst=args.burst)


def _no_constant(name: str) -> Any:
    raise ConfigurationError(
        f"DATA must be strict JSON: {name} is not a JSON number (no NaN, Infinity or -Infinity)")


def parse_data(text: str | None) -> Any:
    """``enqueue``'s DATA argument: strict JSON (``json.loads`` would take NaN and Infinity,
    which the job's encoding refuses later)."""
    if text is None:
        return None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"DATA must be JSON, e.g. '{{\"to\": \"a@b.c\"}}': {exc}"
        ) from None


def check_enqueue_tier(app: App, args: argparse.Namespace) -> None:
    """Without --tier, the job's tier is its processor's: --app must register ``args.name``."""
    if args.tier:
        return
    if not args.app:
        raise ConfigurationError(
            "streamq enqueue needs to know the job's tier: pass --tier NAME (or --app "
            "module:attr, whose processors say each job's tier)")
    if args.name not in app.processors:
        raise ConfigurationError(
            f"no processor named {args.name!r} in --app {args.app}, so the job's tier is "
            "unknown: pass --tier NAME, or register the processor with @app.processor")


async def cmd_enqueue(args: argparse.Namespace) -> int:
    from streamq.cli_output import to_json

    data = parse_data(args.data)
    app = build_app(args)
    check_enqueue_tier(app, args)
    await open_app(args, app)
    options: dict[str, Any] = {"priority": args.priority}
    for name in ("delay", "job_id", "attempts", "timeout"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.tier:
        job = await app.queue(one_tier(args)).enqueue(args.name, data, **options)
    else:
        job = await app.enqueue(args.name, data, **options)
    print(to_json({"id": job.id, "tier": job.tier}) if args.json else job.id)
    return EXIT_OK


async def cmd_stats(args: argparse.Namespace) -> int:
    from streamq.broker.reads import oldest_waiting_ms
    from streamq.cli_output import print_table, to_json

    app = await open_app(args)
    rows = []
    backend = await app.backend()
    for name in await tiers_of(app, args):
        queue = app.queue(name)
        with translate_errors(app.url):
            oldest = await oldest_waiting_ms(backend.client, queue.keys)
        age = None if oldest is None else max(0.0, (app.now_ms() - oldest) / 1000)
        rows.append({"tier": name, **await queue.counts(), "paused": await queue.is_paused(),
                     "oldest_waiting_s": None if age is None else round(age, 1)})
    print(to_json(rows) if args.json else print_table(rows))
    return EXIT_OK


async def cmd_jobs(args: argparse.Namespace) -> int:
    from streamq.cli_output import print_table, to_json

    app = await open_app(args)
    infos = await app.queue(one_tier(args)).jobs(JobState(args.state), args.limit)
    if args.json:
        print(to_json(infos))
    else:
        rows = [{"id": i.id, "name": i.name, "state": i.state.value, "attempt": i.attempt,
                 "progress": i.progress, "error": (i.error or "")[:60]} for i in infos]
        print(print_table(rows))
    return EXIT_OK


async def cmd_schedules(args: argparse.Namespace) -> int:
    from streamq.cli_output import print_table, to_json

    app = await open_app(args)
    infos = [info for name in await tiers_of(app, args) for info in await app.schedules(name)]
    if args.json:
        print(to_json(infos))
    else:
        rows = [{"key": i.key, "name": i.name, "tier": i.tier,
                 "when": i.cron or f"every {i.every.total_seconds() if i.every else 0:g} s",
                 "tz": i.tz, "next run": i.next_run.isoformat() if i.next_run else None,
                 "paused": i.paused} for i in infos]
        print(print_table(rows))
    return EXIT_OK


async def find_job(app: App, args: argparse.Namespace) -> Any:
    """The job ``args.id`` in --tier, else in any tier."""
    for name in await tiers_of(app, args):
        info = await app.queue(name).get_job(args.id)
        if info is not None:
            return info
    raise JobNotFound(",".join(args.tier or ["any tier"]), args.id)


async def cmd_job(args: argparse.Namespace) -> int:
    from streamq.cli_output import print_job, to_json

    info = await find_job(await open_app(args), args)
    print(to_json(info) if args.json else print_job(info))
    return EXIT_OK


async def cmd_retry(args: argparse.Namespace) -> int:
    from streamq.cli_output import to_json

    app = await open_app(args)
    if args.all_failed:
        retried = await app.queue(one_tier(args)).retry_failed()
        print(to_json({"retried": retried}) if args.json else f"retried {retried} jobs")
        return EXIT_OK
    if not args.id:
        raise ConfigurationError("give a job ID, or --all-failed --tier NAME")
    info = await find_job(app, args)
    await app.queue(info.tier).retry(info.id)
    print(to_json({"retried": info.id}) if args.json else f"retried {info.id}")
    return EXIT_OK


def job_action(action: str) -> Command:
    async def run(args: argparse.Namespace) -> int:
        from streamq.cli_output import to_json

        app = await open_app(args)
        info = await find_job(app, args)
        await getattr(app.queue(info.tier), action)(info.id)
        print(to_json({action: info.id}) if args.json else f"{action}d {info.id}")
        return EXIT_OK
    return run


def queue_action(action: str) -> Command:
    async def run(args: argparse.Namespace) -> int:
        from streamq.cli_output import to_json

        app = await open_app(args)
        queue = app.queue(one_tier(args))
        if action == "clean":
            result: Any = await queue.clean(args.state, older_than=args.older_than)
        else:
            result = await getattr(queue, action)()
        summary = {"tier": queue.name, "action": action, "jobs": result}
        print(to_json(summary) if args.json else
              f"{action} {queue.name}" + (f": {result} jobs" if result is not None else ""))
        return EXIT_OK
    return run


async def cmd_demo(args: argparse.Namespace) -> int:
    from streamq.demo import run_demo

    await run_demo(quick=args.quick)
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


def build_parser(worker_only: bool = False) -> argparse.ArgumentParser:
    """The command line's parser. ``worker_only``: without the admin commands, for a command
    line that starts with ``worker`` (building their parsers took ~3 ms of a worker's start)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="Redis URL (default: $STREAMQ_URL, else redis://localhost)")
    common.add_argument("--app", help="your App as module:attribute, e.g. myapp.jobs:app")
    common.add_argument("--namespace",
                        help="key namespace (default: --app's, else sq)")
    common.add_argument("--json", action="store_true",
                        help="machine-readable output (worker: log lines as JSON)")
    tier = argparse.ArgumentParser(add_help=False)
    tier.add_argument("--tier", action="append", help="tier name (repeatable)")

    parser = argparse.ArgumentParser(prog="streamq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Command, help_: str, *parents: argparse.ArgumentParser
            ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        p.set_defaults(run=fn)
        return p

    w = add("worker", cmd_worker, "run a worker for one or more tiers", tier)
    w.add_argument("--concurrency", type=int, help="jobs at once per tier (default: the tier's)")
    w.add_argument("--burst", action="store_true", help="exit when nothing is ready or running")
    w.add_argument("--processes", type=positive_int, metavar="N",
                   help="run N worker processes and replace any that exits or dies")
    w.add_argument("--max-jobs", dest="max_jobs", type=positive_int, metavar="N",
                   help="recycle (exit 0) after N jobs")
    w.add_argument("--max-lifetime", dest="max_lifetime", type=parse_duration,
                   metavar="TIME", help="recycle after this long: 3600, 90s, 30m, 4h")
    w.add_argument("--max-memory", dest="max_memory", type=parse_bytes, metavar="SIZE",
                   help="recycle once RSS reaches it: 512MB, 2GiB, bytes")
    if not worker_only:
        add_admin_commands(add, tier)
    return parser


def add_admin_commands(add: Callable[..., argparse.ArgumentParser],
                       tier: argparse.ArgumentParser) -> None:
    """Every command but ``worker``, through ``build_parser``'s ``add``."""
    e = add("enqueue", cmd_enqueue, "add a job", tier)
    e.add_argument("name", help="job name (the processor's)")
    e.add_argument("data", nargs="?", help="job data as JSON")
    e.add_argument("--delay", type=float, help="seconds before it may run")
    e.add_argument("--priority", type=int, default=0, help="0 (soonest) to 9")
    e.add_argument("--job-id", dest="job_id", help="idempotency key")
    e.add_argument("--attempts", type=int)
    e.add_argument("--timeout", type=float, help="seconds per attempt")

    add("stats", cmd_stats, "jobs per state for each tier, paused, oldest waiting age", tier)
    add("schedules", cmd_schedules, "cron and interval schedules, next run, paused", tier)
    j = add("jobs", cmd_jobs, "list jobs of a tier in one state", tier)
    j.add_argument("--state", default="failed", choices=[s.value for s in JobState])
    j.add_argument("--limit", type=int, default=50)
    add("job", cmd_job, "everything about one job", tier).add_argument("id", help=ID_HELP)
    r = add("retry", cmd_retry, "run a failed job again (or all of a tier's)", tier)
    r.add_argument("id", nargs="?", help=ID_HELP)
    r.add_argument("--all-failed", action="store_true", help="retry every failed job of --tier")
    for action, help_ in (("remove", "delete a job in any state"),
                          ("promote", "run a delayed job now")):
        add(action, job_action(action), help_, tier).add_argument("id", help=ID_HELP)
    for action, help_ in (("pause", "stop workers starting jobs of a tier"),
                          ("resume", "let workers start jobs of a tier again"),
                          ("drain", "delete a tier's jobs that have not started")):
        add(action, queue_action(action), help_, tier)
    c = add("clean", queue_action("clean"), "delete finished jobs older than a cut-off", tier)
    c.add_argument("--state", default="completed", choices=["completed", "failed"])
    c.add_argument("--older-than", dest="older_than", type=float, default=0.0, help="seconds")
    d = add("demo", cmd_demo, "see streamq work: every tier, retries, dead letters (embedded)")
    d.add_argument("--quick", action="store_true", help="fewer jobs")


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed, else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: int = uvloop.run(main)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamq`` console script."""
    supervised = os.environ.pop(SUPERVISED_ENV, None) is not None
    given = sys.argv[1:] if argv is None else argv
    args = build_parser(worker_only=bool(given) and given[0] == "worker").parse_args(argv)
    if args.run is cmd_worker and args.json:
        from streamq.json_logs import use_json_logs

        use_json_logs()
    elif args.run is not cmd_worker and not structlog.is_configured():
        # an admin command's stdout is its output (--json): warnings, such as the server
        # settings checked at connect, go to stderr
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        if getattr(args, "processes", None):
            if not supervised:
                return run_processes(args, argv)
            print(f"streamq: --processes ignored in a supervised worker (${SUPERVISED_ENV})",
                  file=sys.stderr)
        return run_async(args.run(args))
    except ConfigurationError as exc:
        print(f"streamq: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JobNotFound as exc:
        print(f"streamq: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except StreamqError as exc:
        print(f"streamq: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


__all__ = ["main"]

"""streamq: asyncio-native background jobs on Redis Streams and Lua scripts.

    from streamq import App, Job

    app = App("redis://localhost:6379/0")

    @app.processor("send_email", tier="high")
    async def send_email(job: Job) -> dict:
        return {"sent": True}
"""

from typing import TYPE_CHECKING, Any

from streamq.app import App
from streamq.config import DEFAULT_TIERS, RateLimit, Tier
from streamq.errors import (
    ConfigurationError,
    ConnectionError,
    HookFailed,
    InvalidPayload,
    JobFailed,
    JobNotFound,
    JobStateError,
    PayloadTooLarge,
    QueueFull,
    QueueStateLost,
    RedisFull,
    RedisVersionError,
    ScheduleNotFound,
    StreamqError,
    UnknownJobType,
)
from streamq.hooks import JobOutcome
from streamq.job import Job, JobInfo, JobState
from streamq.outcomes import Fail, Retry
from streamq.queue import Queue
from streamq.scheduling.backoff import Backoff
from streamq.worker.worker import Worker

if TYPE_CHECKING:
    from streamq.scheduling.schedule import ScheduleInfo

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIERS",
    "App",
    "Backoff",
    "ConfigurationError",
    "ConnectionError",
    "Fail",
    "HookFailed",
    "InvalidPayload",
    "Job",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobOutcome",
    "JobState",
    "JobStateError",
    "PayloadTooLarge",
    "Queue",
    "QueueFull",
    "QueueStateLost",
    "RateLimit",
    "RedisFull",
    "RedisVersionError",
    "Retry",
    "ScheduleInfo",
    "ScheduleNotFound",
    "StreamqError",
    "Tier",
    "UnknownJobType",
    "Worker",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # ScheduleInfo's module brings cron and zoneinfo: a worker without schedules skips them
    if name == "ScheduleInfo":
        from streamq.scheduling.schedule import ScheduleInfo

        globals()[name] = ScheduleInfo
        return ScheduleInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

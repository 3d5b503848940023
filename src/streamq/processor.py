"""Processor registrations: which function runs which job name, with what defaults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamq import codec
from streamq.errors import ConfigurationError, InvalidPayload
from streamq.scheduling.backoff import Backoff

if TYPE_CHECKING:
    import pydantic

    from streamq.job import Job

ProcessorFn = Callable[["Job"], Awaitable[Any]]
RateKeyFn = Callable[[Any], "str | int | None"]
MAX_RATE_KEY_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Processor:
    """A registered processor: ``fn`` runs jobs called ``name`` on ``tier``.

    ``attempts``, ``backoff`` and ``timeout`` override the tier's defaults for these jobs
    (an enqueue call can override them again). ``model`` validates the data. ``rate_key``
    computes a job's rate key (for the tier's ``rate_limit_per_key``) from its data.
    """

    name: str
    fn: ProcessorFn
    tier: str
    model: type[pydantic.BaseModel] | None = None
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout: float | None = None
    rate_key: RateKeyFn | None = None

    def validate(self, data: Any) -> Any:
        """``data`` checked against ``model``, as plain JSON-ready values."""
        if self.model is None:
            return data
        import pydantic  # only apps with models pay for importing it (~60 ms at start)

        try:
            if isinstance(data, self.model):
                return data.model_dump(mode="json")
            return self.model.model_validate(data).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"data for {self.name!r} does not match {self.model.__name__}: "
                f"{_summary(exc)}; fix the data or the model"
            ) from None

    def load(self, data_json: str) -> Any:
        """The stored data as the processor receives it (a ``model`` instance if it has one)."""
        data = codec.decode(data_json)
        if self.model is None:
            return data
        import pydantic

        try:
            return self.model.model_validate(data)
        except pydantic.ValidationError as exc:
            raise InvalidPayload(
                f"stored data for {self.name!r} no longer matches {self.model.__name__}: "
                f"{_summary(exc)}"
            ) from None


def _summary(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or 'data'}: {err['msg']}" for err in exc.errors()
    )


def check_processor_fn(fn: object, name: str) -> None:
    """Processors must be ``async def`` functions taking the job."""
    import inspect

    if not inspect.iscoroutinefunction(fn):
        raise ConfigurationError(
            f"processor {name!r} must be an async function: `async def {name}(job): ...`"
        )


def resolve_rate_key(processor: Processor | None, data: Any, rate_key: object) -> str:
    """The job's rate key: ``rate_key`` if given, else the processor's ``rate_key(data)``
    (data as stored: JSON-ready values), else ``""`` (no key: no per-key limit)."""
    if rate_key is None and processor is not None and processor.rate_key is not None:
        try:
            rate_key = processor.rate_key(data)
        except Exception as exc:
            raise InvalidPayload(
                f"rate_key of processor {processor.name!r} failed on this data "
                f"({type(exc).__name__}: {exc}); fix the data or the rate_key function"
            ) from None
    if rate_key is None:
        return ""
    if isinstance(rate_key, int) and not isinstance(rate_key, bool):
        rate_key = str(rate_key)
    if (not isinstance(rate_key, str) or not 0 < len(rate_key) <= MAX_RATE_KEY_LENGTH
            or not codec.is_unicode(rate_key)):
        raise ConfigurationError(
            f"rate_key must be a non-empty string (or int) of valid Unicode, at most "
            f"{MAX_RATE_KEY_LENGTH} characters, or None, got {rate_key!r}"
        )
    return rate_key

"""The consumer side: run jobs with concurrency limits, timeouts, retries and leases."""

SUPERVISED_ENV = "STREAMQ_SUPERVISED"
"""Set in the environment of each child a ``--processes`` supervisor starts: a child never
supervises children of its own, even if ``--processes`` reached its command line. The CLI
takes it out of its environment, so that processes a job starts do not inherit it."""

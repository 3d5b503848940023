"""The consumer side: run jobs with concurrency limits, timeouts, retries and leases."""

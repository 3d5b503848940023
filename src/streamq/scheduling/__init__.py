"""Time-based policies: retry backoff (pure functions of the attempt number)."""

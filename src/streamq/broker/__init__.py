"""The Redis side of streamq: keys, Lua scripts, connections. Only this package imports redis."""

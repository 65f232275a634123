"""Sources: event buses Herald consumes events from, feeding the same publish path as the HTTP API.

One module per bus kind (a `Consumer`: fetch, acknowledge, lag); `ingest` turns a batch of messages into
events (or dead letters) and commits them before the runner acknowledges anything (at least once).
"""

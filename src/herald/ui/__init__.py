"""The web dashboard at /ui: server-rendered pages over the same store calls and scoping as the API."""

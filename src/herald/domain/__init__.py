"""Pure delivery logic with no I/O: models, profiles (envelopes + headers), signing and retry policies."""

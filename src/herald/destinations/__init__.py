"""Bus destinations: a subscription whose URL is `redis://`, `nats://` or `amqp://` gets its deliveries
published onto that bus instead of POSTed — through the same queue, attempts, retries, ordering, health
and log as HTTP. One module per bus kind (a `Publisher`); `transport.BusTransport` is their Transport."""

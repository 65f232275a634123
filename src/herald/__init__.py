"""Herald: self-hosted webhook delivery.

Producers publish events; Herald stores them with their deliveries in one transaction and a dispatcher
delivers each as a signed HTTP POST, with retries, ordering where promised and a searchable log.
"""

__version__ = "0.1.0"

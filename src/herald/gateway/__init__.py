"""`herald mtls-gateway`: a LivePerson-style mTLS forward gateway."""

from herald.gateway.app import create_gateway

__all__ = ["create_gateway"]

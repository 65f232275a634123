"""Compatibility surfaces: other products' APIs served by Herald (LiveChat Configuration API)."""

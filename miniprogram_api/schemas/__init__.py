"""Request and response schemas of ``/api/v1`` (pydantic 2), one module per area."""

"""The wall screen and the consoles: Jinja2 templates, static assets and their strings.

Served by the API (huangpu.api.routers.web); nothing here touches the store.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

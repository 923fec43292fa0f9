"""Pages rendered from the Jinja templates, in the caller's language, with the headers every
page carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from huangpu.web import TEMPLATES
from huangpu.web.i18n import FAMILY_NAMES, LANGS, pick_lang, translator

LANG_COOKIE = "hp_lang"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,  # a job named <script> renders as text, everywhere
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


_env.filters["ts"] = _fmt_time


def page_lang(request: Request) -> str:
    return pick_lang(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = page_lang(request)
    html = _env.get_template(template).render(
        t=translator(lang),
        lang=lang,
        other_lang="en" if lang == "zh-CN" else "zh-CN",
        families=FAMILY_NAMES[lang],
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    # Pages are never framed (clickjacking) and load scripts only from this server.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(request: Request, status: int, title_key: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title_key=title_key, message=message)


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

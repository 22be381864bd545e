"""What keeps the studio's requests inside its folders and its own pages: paths, overrides, the request guard.

* :func:`inside`: a path named by a request, resolved (symlinks followed) and refused unless it lies in one
  of the allowed roots (the workspace and ``outputs/``); ``..``, absolute paths, backslashes, NUL and empty
  parts are refused before any file is touched.
* :func:`check_overrides`: the Hydra overrides a request may add to a render: plain ``key=value`` pairs of
  the render's own settings; nothing that names a file or folder, Hydra's own keys, interpolations or
  group additions/deletions.
* :class:`Guard`: the ASGI middleware every request passes: the Host header (DNS rebinding), the access
  token where the studio listens beyond loopback, encoded slashes and dots in the path, the body size, and
  for every state-changing request its origin and CSRF token.
"""

from __future__ import annotations

import hmac
import re
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import parse_qs, urlsplit

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Refused(ValueError):
    """A request named something it may not: answered 400 (or 403/404 by the caller)."""


def inside(roots: Iterable[Path], relative: str) -> Path:
    """``relative`` (as a request gave it) under the first root that holds it, resolved; else :class:`Refused`.

    A relative path is taken against each root in turn; after resolving (``..`` and symlinks) it must still
    be inside that root.  Absolute paths, ``..``, backslashes, NUL, ``%`` (an encoding left over), ``~`` and
    empty parts are refused outright.
    """
    text = str(relative)
    if not text or any(c in text for c in "\\\x00%") or text.startswith(("/", "~")) or len(text) > 1000:
        raise Refused(f"not a relative path: {text[:80]!r}")
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Refused(f"not a plain relative path: {text[:80]!r}")
    for root in roots:
        base = Path(root).resolve()
        target = (base / text).resolve()
        if target == base or base in target.parents:
            return target
    raise Refused(f"outside the studio's folders: {text[:80]!r}")


#: Keys whose value names a file, a folder or Hydra itself: never settable from a request.
_FORBIDDEN = re.compile(r"(^|\.)(hydra|.*path.*|.*dir.*|.*file.*|.*model.*|data_dir|image|images|mouths|crop)(\.|$)")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_VALUE = re.compile(r"^[A-Za-z0-9_.,:+\- \[\]]{0,200}$")


def check_overrides(overrides: Iterable[str]) -> list[str]:
    """Each ``key=value`` checked (see the module); returns them stripped, or raises :class:`Refused`."""
    out = []
    for raw in overrides:
        item = str(raw).strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not _KEY.match(key) or _FORBIDDEN.search(key):
            raise Refused(f"override not allowed: {item[:80]!r} (plain key=value of render settings only)")
        if not _VALUE.match(value):
            raise Refused(f"override value not allowed: {item[:80]!r}")
        out.append(f"{key}={value}")
    return out


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_ENCODED = re.compile(rb"%(2f|5c|00|2e)", re.IGNORECASE)


class BodyTooLarge(Exception):
    pass


class Guard:
    """The middleware in front of every request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        csrf: str,
        hosts: set[str],
        token: str | None = None,
        max_body: int = 32 << 20,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.app, self.csrf, self.hosts, self.token, self.max_body = app, csrf, hosts, token, max_body
        self.limits = dict(limits or {})  # a larger body limit for the one path that takes large files

    def limit(self, scope: Scope) -> int:
        """The body limit of this request: its path's (exact match, a state-changing request), else ``max_body``."""
        if scope["method"] in _SAFE:
            return self.max_body
        return self.limits.get(scope["path"], self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.refusal(scope, headers)
        if problem is not None:
            await _answer(send, *problem)
            return
        if self.token is not None and _query(scope).get("token") == self.token and scope["method"] in _SAFE:
            # The printed link: remember the token in a cookie for this browser, then show the page without it.
            cookie = f"studio_token={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _answer(send, 303, "see the studio", [("location", scope["path"]), ("set-cookie", cookie)])
            return
        seen, limit = 0, self.limit(scope)

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _answer(send, 413, "request body too large")

    def refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why this request is refused (status, message), or None."""
        host = headers.get("host", "")
        if host not in self.hosts:
            return 400, "unknown Host header"
        raw = scope.get("raw_path") or scope["path"].encode()
        if _ENCODED.search(raw) or "\\" in scope["path"] or "\x00" in scope["path"]:
            return 400, "encoded slashes, dots or NUL in the path"
        if self.token is not None and not self._has_token(scope, headers):
            return 403, "this studio needs its access token (printed when it started)"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit(scope)):
            return 413, "request body too large"
        if scope["method"] in _SAFE:
            return None
        origin = headers.get("origin") or _origin_of(headers.get("referer", ""))
        if origin is None or urlsplit(origin).netloc != host or urlsplit(origin).scheme not in ("http", "https"):
            return 403, "cross-origin request refused"
        if not hmac.compare_digest(headers.get("x-csrf-token", ""), self.csrf):
            return 403, "missing or wrong CSRF token"
        return None

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header: no token from it
            cookie = SimpleCookie()
        given = [
            headers.get("x-studio-token", ""),
            cookie["studio_token"].value if "studio_token" in cookie else "",
            _query(scope).get("token", ""),
        ]
        return any(hmac.compare_digest(g, self.token) for g in given if g)


def _query(scope: Scope) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {k: v[0] for k, v in parsed.items()}


def _origin_of(referer: str) -> str | None:
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


async def _answer(send: Send, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
    body = message.encode()
    raw = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

"""``python -m deepstory.studio``: serve the studio on 127.0.0.1 (another ``--host`` needs the printed token)."""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import socket
import sys
import threading
import webbrowser
from pathlib import Path


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deepstory.studio", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (not loopback: a token is required)")
    p.add_argument("--port", type=int, default=8765, help="port (0: a free one)")
    p.add_argument("--workspace", type=Path, default=None, help="the studio's folder (default: OUTPUTS/studio)")
    p.add_argument("--outputs", type=Path, default=Path("outputs"), help="where renders go and are listed")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="an override every render gets")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import uvicorn

    from deepstory.studio.app import build_app

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # connections wait from now on, while the server starts
    port = sock.getsockname()[1]
    token = None if loopback(args.host) else secrets.token_urlsafe(18)
    names = {args.host, "localhost", "127.0.0.1"} if token is None else {args.host}
    hosts = {f"{n}:{port}" for n in names} | ({f"[{args.host}]:{port}"} if ":" in args.host else set())
    outputs = args.outputs
    app = build_app(args.workspace or outputs / "studio", outputs, hosts=hosts, token=token, defaults=args.override)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"Deepstory studio: {url}", flush=True)
    if token:
        print("  listening beyond this machine: every request needs the token above (keep it private)", flush=True)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())

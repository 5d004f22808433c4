"""`python -m mcp_server serve|index`: the composition root (reads the environment, builds, runs).

python -m mcp_server serve                     # streamable HTTP /mcp + SSE /sse + /health
python -m mcp_server serve --transport stdio   # for Claude Desktop, Cursor, the MCP Inspector
python -m mcp_server index [--library DIR]     # (re)index the document library with a progress bar
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from dotenv import load_dotenv

from mcp_server.config import Config, ConfigError

logger = logging.getLogger("mcp_server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (default)")
    serve.add_argument("--transport", choices=["http", "stdio"], default="http")
    serve.add_argument("--host", help="bind address (default MCP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default MCP_PORT or 8000)")
    serve.add_argument("--no-library", action="store_true", help="serve without the library tools")
    index = sub.add_parser("index", help="index the document library")
    index.add_argument("--library", type=Path, help="folder to index (default LIBRARY_DIR or ./library)")
    index.add_argument("--rebuild", action="store_true", help="drop the index and embed everything again")
    return parser


def serve(config: Config, transport: str, with_library: bool) -> None:
    """Build the server and run it on stdio or HTTP until interrupted; it answers at once, while the library
    (if any) opens in the background."""
    from mcp_server.library import LibraryLoader, open_library
    from mcp_server.server import build_server

    library = LibraryLoader(lambda: open_library(config)) if with_library else None  # opens in the background
    if library is not None and config.index_on_start:
        library.when_open(lambda opened: opened.start_background_index())
    mcp = build_server(config, library)
    if transport == "stdio":
        mcp.run("stdio")
        return
    import uvicorn

    from mcp_server.http import build_app

    print(f"MCP server on http://{config.host}:{config.port}/mcp (SSE /sse, health /health)", file=sys.stderr)
    uvicorn.run(build_app(mcp, config), host=config.host, port=config.port, log_level=config.log_level.lower())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    load_dotenv(override=False)
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "index":
            from mcp_server.library import index_with_progress, open_library

            if args.library:
                config = replace(config, library_dir=args.library.resolve())
            index_with_progress(open_library(config), rebuild=args.rebuild)
            return 0
        host = getattr(args, "host", None) or config.host
        port = getattr(args, "port", None) or config.port
        config = replace(config, host=host, port=port)
        serve(config, getattr(args, "transport", "http"), not getattr(args, "no_library", False))
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception:
        logger.exception("The MCP server stopped on an unexpected error")
        return 1


if __name__ == "__main__":
    sys.exit(main())

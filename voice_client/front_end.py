"""The user's side of a conversation, shared by `python -m voice_client` and `python demo.py`.

`FrontEnd` chooses how the user talks (the turns given on the command line, the microphone and speaker,
or typed chat when there is no audio device, or a page in the browser with `--web`), where the assistant's
speech goes (the speaker, the page, a WAV file beside the transcript, or nowhere in a text-only conversation),
starts a script with `--script`, and runs the conversation. What the user sees goes through a `View`: the live
terminal view (`LiveView`) or plain lines (`PlainView`), and with `--web` the page as well (`voice_client.web`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from voice_client.config import Config
from voice_client.latency import TurnLatency
from voice_client.live_audio import LiveAudio, audio_module
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.transcript import Transcript
from voice_client.turns import run_response, run_text_turn, run_wav
from voice_client.typed_lines import TypedLines

if TYPE_CHECKING:
    from voice_client.web.page import WebOptions, WebPage

logger = logging.getLogger(__name__)
Turn = tuple[Literal["text", "wav"], Any]
"""("text", str) or ("wav", Path): one request, in command-line order."""
Mode = Literal["turns", "chat", "microphone", "web"]
SCRIPT_TOOL = "load_script"
"""Contract with the MCP server (README, "Architecture"): `--script NAME` calls this tool with
`{"script_name": NAME}` before the first turn and expects its result to carry the coach's instructions."""
TURN_TIMEOUT_S = 300.0
"""Longest wait for one turn's replies (a first offline turn loads models)."""


class FrontEndError(Exception):
    """Something the user can fix; the message says how. Shown without a traceback."""


class View(Protocol):
    """What the user sees: `LiveView` (the demo's terminal view) or `PlainView` (plain lines)."""

    def user(self, text: str) -> None: ...
    def note(self, text: str) -> None: ...
    def tool_call(self, name: str, arguments: str) -> None: ...
    def tool_result(self, name: str, outcome: ToolOutcome) -> None: ...
    def waiting(self, activity: str) -> AbstractContextManager[None]: ...
    def paused(self) -> AbstractContextManager[None]: ...
    def prompt(self, text: str) -> None: ...
    def turn_latency(self, turn: TurnLatency) -> None: ...
    def callbacks(self) -> dict[str, Any]: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The front end's flags: --text and --wav (turns, in order), --typed, --out-wav, --script, --latency-log."""
    turn = parser.add_argument_group("turns (in order; the program exits after the last reply)")
    turn.add_argument(
        "--text", dest="turns", action="append", type=lambda t: ("text", t), metavar="TEXT", help="a typed request"
    )
    turn.add_argument(
        "--wav", dest="turns", action="append", type=lambda p: ("wav", Path(p)), metavar="FILE", help="a spoken request"
    )
    turn.add_argument("--typed", action="store_true", help="type your turns even when a microphone exists")
    parser.add_argument("--out-wav", type=Path, help="the WAV file for the reply audio (default: by the transcript)")
    parser.add_argument("--script", help="start this script right away (e.g. blog_writer)")
    parser.add_argument("--latency-log", type=Path, help="append each turn's latency report to this file (JSON lines)")
    web = parser.add_argument_group("the page in the browser")
    web.add_argument("--web", action="store_true", help="talk through a local page in the browser (runs until Ctrl-C)")
    web.add_argument("--web-port", type=int, default=8780, metavar="N", help="the page's port (default: 8780)")
    web.add_argument(
        "--web-host", default="127.0.0.1", help="the page's address (default: 127.0.0.1; others can reach any other)"
    )


@dataclass
class FrontEnd:
    """One conversation's front end, from the flags `add_arguments` defines.

    Raises (from `from_arguments`):
        FrontEndError: a --wav file does not exist.
    """

    view: View
    turns: list[Turn] = field(default_factory=list)
    typed: bool = False
    out_wav: Path | None = None
    script: str | None = None
    latency_log: Path | None = None
    """Where each turn's latency report is appended as a JSON line."""
    mode: Mode = "turns"
    web: WebOptions | None = None
    """Where the page is served with `--web`; None without it."""
    _manual_turns: bool = False

    @classmethod
    def from_arguments(cls, args: argparse.Namespace, view: View, env: Mapping[str, str] | None = None) -> FrontEnd:
        """From parsed flags; the mode is chosen here (a missing audio device means typed chat).

        Args:
            env: the environment, to tell whether a desktop browser can be opened for `--web`.
        """
        front = cls(view, list(args.turns or []), args.typed, args.out_wav, args.script, args.latency_log)
        for kind, path in front.turns:
            if kind == "wav" and not path.is_file():
                raise FrontEndError(f"no such WAV file: {path}")
        if getattr(args, "web", False):
            if front.turns or front.typed:
                raise FrontEndError("--web talks through the page: leave out --text, --wav and --typed")
            from voice_client.web.page import WebOptions, desktop_browser

            front.web = WebOptions(args.web_host, args.web_port, desktop_browser(env or {}))
        front.mode = front._choose_mode()
        return front

    @property
    def text_only(self) -> bool:
        """Text replies and no audio: typed chat, or turns given only as --text."""
        spoken = any(kind == "wav" for kind, _ in self.turns)
        return self.mode == "chat" or (self.mode == "turns" and not spoken)

    async def talk(
        self,
        config: Config,
        tools: McpTools | None,
        transcript: Transcript | None,
        prepare: Callable[[str], Awaitable[None]] | None = None,
        **session_options: Any,
    ) -> None:
        """Start the script if asked, open the session and hold the conversation until its last turn.

        Args:
            config: the client's settings (`text_only` is set here).
            prepare: awaited with the session's instructions before connecting (the demo warms its engine).
            session_options: more keyword arguments for `RealtimeSession`.

        Raises:
            FrontEndError: the script cannot be started (its message names the scripts there are).
        """
        config = config.with_overrides(text_only=self.text_only)
        self._manual_turns = config.turn_detection == "none"
        async with contextlib.AsyncExitStack() as stack:
            page = await stack.enter_async_context(self._page(tools)) if self.web is not None else None
            script = await self._start_script(tools) if self.script else None
            if script is not None:
                config = config.with_overrides(instructions=script[1].instructions)
            if prepare is not None:
                await prepare(config.instructions)
            output = page.audio if page is not None else stack.enter_context(self._audio_output(config, transcript))
            options = self.view.callbacks() | {"on_turn_latency": self._turn_latency} | session_options
            with self.view.waiting("Connecting"):
                session = RealtimeSession(config, tools=tools, transcript=transcript, audio_output=output, **options)
                await stack.enter_async_context(session)
            if script is not None:
                await session.add_tool_call(SCRIPT_TOOL, script[0], script[1].output)
                with self.view.waiting("the coach is starting"):
                    await run_response(session, timeout_s=TURN_TIMEOUT_S)
            if page is not None:
                await self._converse_in_page(page, session)
            else:
                await self._converse(session, output)

    @contextlib.asynccontextmanager
    async def _page(self, tools: McpTools | None) -> AsyncIterator[WebPage]:
        """The page (`WebPage`) served for this conversation; its view shows everything in the terminal too.

        Raises:
            FrontEndError: the page cannot be served (the port is taken).
        """
        from voice_client.web.page import WebPage

        assert self.web is not None
        page = WebPage(self.web, self.view, tools)
        try:
            await page.__aenter__()
        except OSError as exc:
            raise FrontEndError(
                f"cannot serve the page on {self.web.host}:{self.web.port} ({exc.strerror or exc}); "
                "choose another port with --web-port"
            ) from None
        terminal, self.view = self.view, page.view
        try:
            yield page
        finally:
            self.view = terminal
            await page.__aexit__(None, None, None)

    async def _converse_in_page(self, page: WebPage, session: RealtimeSession) -> None:
        """The page talks until the session ends or Ctrl-C; a session error is shown there as one line."""
        with self.view.waiting("listening to the page (Ctrl-C to stop)"):
            try:
                await page.converse(session)
            except (ConnectionError, RuntimeError, OSError) as exc:  # RealtimeError: shown, then raised
                page.view.error(str(exc))
                raise

    def _turn_latency(self, turn: TurnLatency) -> None:
        self.view.turn_latency(turn)
        if self.latency_log is not None:
            with self.latency_log.open("a", encoding="utf-8") as log:
                log.write(json.dumps(turn.to_json()) + "\n")

    def _choose_mode(self) -> Mode:
        if self.web is not None:
            return "web"
        if self.turns:
            return "turns"
        if self.typed:
            return "chat"
        try:
            audio_module().require_devices()
        except (OSError, RuntimeError) as exc:
            logger.info("no audio device: %s", exc)
            self.view.note("No microphone or speaker found: type what you would say (or use --wav FILE).")
            return "chat"
        return "microphone"

    async def _start_script(self, tools: McpTools | None) -> tuple[str, ToolOutcome]:
        """Load `self.script` through the MCP server; returns (arguments, outcome) for the conversation."""
        if tools is None:
            raise FrontEndError("--script needs the MCP server (leave out --no-tools)")
        arguments = json.dumps({"script_name": self.script})
        self.view.tool_call(SCRIPT_TOOL, arguments)
        outcome = await tools.call(SCRIPT_TOOL, arguments)
        self.view.tool_result(SCRIPT_TOOL, outcome)
        if outcome.is_error or not outcome.instructions:
            raise FrontEndError(f"cannot start script {self.script!r}: {outcome.output}")
        return arguments, outcome

    @contextlib.contextmanager
    def _audio_output(self, config: Config, transcript: Transcript | None) -> Iterator[Any]:
        """The speaker (`LiveAudio`), a WAV file for spoken turns (--out-wav or beside the transcript), or None."""
        path = self.out_wav or (transcript.path.with_suffix(".wav") if transcript is not None else None)
        if self.text_only or (self.mode != "microphone" and path is None):
            yield None
        elif self.mode == "microphone":
            with LiveAudio.from_config(config) as live:
                yield live
        else:
            assert path is not None
            with audio_module().WavSink(path) as sink:
                yield sink
            self.view.note(f"Reply audio: {path}")

    async def _converse(self, session: RealtimeSession, output: Any) -> None:
        """The turns given, the microphone (through `output`, the `LiveAudio`) or typed chat."""
        if self.mode == "microphone":
            with self.view.waiting("listening (Ctrl-C to stop)"):
                await output.converse(session)
            return
        for kind, value in self.turns:
            if kind == "text":
                self.view.user(value)
                with self.view.waiting("thinking"):
                    await run_text_turn(session, value, timeout_s=TURN_TIMEOUT_S)
            else:
                with self.view.waiting(f"hearing {value.name}"):
                    pcm = _read_wav(value)
                    await run_wav(session, pcm, manual_turn=self._manual_turns, timeout_s=TURN_TIMEOUT_S)
        if self.mode == "chat":
            await self._chat(session)

    async def _chat(self, session: RealtimeSession) -> None:
        """Typed turns until an empty line or the end of input."""
        typed = TypedLines()
        while True:
            with self.view.paused():
                self.view.prompt("you> ")
                line = (await typed.next()).strip()
            if not line:
                return
            if not typed.echoed:
                self.view.user(line)
            with self.view.waiting("thinking"):
                await run_text_turn(session, line, timeout_s=TURN_TIMEOUT_S)


def _read_wav(path: Path) -> bytes:
    try:
        return audio_module().read_wav(path)
    except (OSError, ValueError, EOFError) as exc:
        raise FrontEndError(f"cannot read {path}: {exc}") from None

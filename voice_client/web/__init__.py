"""The conversation in a browser page: the page is the user's microphone, speaker and screen, while the Python
client keeps the Realtime session and the MCP connection (`python -m voice_client --web`, `python demo.py --web`).

`page.py` serves the page and its WebSocket on 127.0.0.1; `tab.py` is the one connected tab; `browser_view.py`
is the `View` that shows the conversation there; `browser_audio.py` plays and records through it;
`documents.py` renders the workspace files the assistant writes. The page itself is `static/` (plain ES modules
and two audio worklets, no build step).
"""

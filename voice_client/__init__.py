"""A thin OpenAI Realtime (GA) voice client that brings an MCP server's tools into a live session.

    async with McpTools(config) as tools, RealtimeSession(config, tools=tools) as session:
        replies = await run_text_turn(session, "Load the blog writer script")

Modules: `config` (environment), `realtime` (the wire), `session` (one live session), `tools` (MCP
bridge), `calls` / `history` / `playback` (session bookkeeping), `turns` (drive one turn),
`transcript`, `client_secrets`, `audio` (devices and WAV; the only sounddevice importer).
"""

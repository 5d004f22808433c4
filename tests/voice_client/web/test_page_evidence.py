"""A library answer's evidence and a failed tool call, as the page shows them (headless Chromium).

The tool result is the MCP server's own `SearchResult` shape (`mcp_server/library/tools.py`), serialised as its
structured output is; the view is driven directly, as the session's callbacks drive it."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from mcp_server.library.citations import Evidence
from mcp_server.library.tools import SearchResult
from tests.voice_client.web.conftest import launch_chromium
from voice_client.plain_view import PlainView
from voice_client.tools import ToolOutcome, failure
from voice_client.web.page import WebOptions, WebPage


def _search_result() -> dict[str, Any]:
    evidence = [
        Evidence("notes.md", "Kitchen notes", "workspace", "Oven", "Preheat to 200 °C.", 0.61),
        Evidence("bread.md", "Weekend sourdough", "library", "Method", "Bake covered for 20 minutes.", 0.93),
    ]
    result = SearchResult("how long do I bake the bread", evidence, [])
    return TypeAdapter(SearchResult).dump_python(result, mode="json")


async def test_the_evidence_of_a_library_answer_and_a_failed_call_are_shown() -> None:
    async with WebPage(WebOptions(port=0), PlainView(), None) as served, launch_chromium() as chromium:
        page = await chromium.new_page()
        await page.goto(served.url)
        await page.wait_for_function("() => window.assistantPage && window.assistantPage.open")
        view = served.view
        view.tool_call("search_library", '{"query": "how long do I bake the bread"}')
        view.tool_result("search_library", ToolOutcome("evidence text", _search_result(), False, 0.25))
        view.tool_call("file_operation", '{"operation": "read", "filename": "missing.md"}')
        view.tool_result("file_operation", failure("No file 'missing.md'. Files: notes.md", 0.01))

        await page.locator("#evidence li").nth(1).wait_for()
        first, second = await page.locator("#evidence li").all_inner_texts()
        failed = await page.locator("#transcript li.tool.failed summary").inner_text()
        found = await page.locator("#transcript li.tool.ok summary").inner_text()
    assert first.startswith("Weekend sourdough › Method") and "Bake covered for 20 minutes." in first  # best first
    assert second.startswith("Kitchen notes › Oven") and "Preheat to 200 °C." in second
    assert failed == "✗ file_operation (10 ms): No file 'missing.md'. Files: notes.md"
    assert found == "✓ search_library (250 ms): 2 result(s)"

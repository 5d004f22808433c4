"""Public tool names: what the Realtime API accepts, the same on every run, never two alike."""

from __future__ import annotations

from voice_client.toolbox.names import VALID, assign, public_name


def test_our_own_names_are_unchanged_and_others_carry_their_server() -> None:
    assert public_name("assistant", "file_operation", own=True) == "file_operation"
    assert public_name("files", "read_text_file", own=False) == "files__read_text_file"


def test_characters_the_api_refuses_become_underscores() -> None:
    name = public_name("my server.v2", "tools/list:all", own=False)
    assert name == "my_server_v2__tools_list_all" and VALID.match(name)
    assert public_name("assistant", "dotted.name", own=True) == "assistant__dotted_name"


def test_a_long_name_is_cut_with_a_stable_hash() -> None:
    name = public_name("a-very-long-server-name-from-someones-config", "and_an_even_longer_tool_name_x", own=False)
    assert len(name) == 64 and VALID.match(name)
    assert name == public_name(
        "a-very-long-server-name-from-someones-config", "and_an_even_longer_tool_name_x", own=False
    )


def test_colliding_names_stay_apart_and_the_first_keeps_the_plain_one() -> None:
    pairs = [("a", "b__c", False), ("a__b", "c", False), ("a.b", "c", False), ("assistant", "a__b__c", True)]
    names = assign(pairs)
    assert len(names) == 4 and all(VALID.match(n) for n in names)
    assert names["a__b__c"] == ("a", "b__c")
    assert set(names.values()) == {(s, t) for s, t, _ in pairs}
    assert assign(pairs) == names  # the same config gives the same names on every run

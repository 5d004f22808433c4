"""CpuTurns: one slice of model work at a time, in the order they asked."""

from __future__ import annotations

import itertools
import threading
import time

from local_realtime.cpu import CpuTurns


def test_slices_never_overlap_and_a_waiting_slice_goes_next() -> None:
    cpu = CpuTurns()
    spans: list[tuple[str, float, float]] = []
    speech_asked = threading.Event()

    def brain() -> None:  # many short slices, like decode steps
        for _ in range(20):
            with cpu:
                start = time.perf_counter()
                time.sleep(0.01)
                spans.append(("brain", start, time.perf_counter()))

    def speech() -> None:  # asks once while the brain is busy
        time.sleep(0.05)
        speech_asked.set()
        asked = time.perf_counter()
        with cpu:
            start = time.perf_counter()
            spans.append(("speech", start, time.perf_counter()))
        spans.append(("asked", asked, asked))

    threads = [threading.Thread(target=brain), threading.Thread(target=speech)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    work = sorted((s for s in spans if s[0] != "asked"), key=lambda s: s[1])
    assert len(work) == 21
    assert all(earlier[2] <= later[1] for earlier, later in itertools.pairwise(work))
    asked = next(s[1] for s in spans if s[0] == "asked")
    speech_at = next(i for i, s in enumerate(work) if s[0] == "speech")
    brain_started_after_asking = [s for s in work[:speech_at] if s[1] > asked]
    assert len(brain_started_after_asking) <= 1  # at most the slice that had already asked before it
    assert speech_at < 20  # not starved until the brain's last slice


def test_a_slice_that_raises_gives_the_cpu_back() -> None:
    cpu = CpuTurns()
    try:
        with cpu:
            raise ValueError("model failed")
    except ValueError:
        pass
    done = threading.Event()

    def other() -> None:
        with cpu:
            done.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=2)
    assert done.is_set()

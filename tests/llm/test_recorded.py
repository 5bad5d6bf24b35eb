"""Replays the cassettes recorded from a real endpoint (`python -m tests.llm.record`), when there are any."""

from __future__ import annotations

import json

import pytest

from .record import RECORDED, SCENARIOS

RECORDINGS = sorted(RECORDED.glob("*.json")) if RECORDED.exists() else []


@pytest.mark.skipif(not RECORDINGS, reason="no cassettes recorded from a real endpoint yet (python -m tests.llm.record)")
@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_a_recorded_conversation_replays(path, server, model_for, tmp_path) -> None:
    cassette = json.loads(path.read_text())
    run, expected = SCENARIOS[path.stem]
    player = server.use(cassette)
    outcome = run(model_for(attempts=1), str(tmp_path))
    assert player.errors == [] and player.remaining == 0
    if expected is not None:
        assert expected in (outcome.get("type"), outcome.get("kind"))
    assert outcome == cassette.get("outcome", outcome) or outcome.get("type") == cassette["outcome"].get("type")


def test_the_recorder_round_trip(server, settings, model_for, tmp_path) -> None:
    """Record through the pass-through server (the 'real' model here is a cassette), then replay the recording."""
    from agent.models.factory import make_model

    from .fake_openai import FakeOpenAI, Recorder
    from .record import tool_loop

    server.use("tool_loop")
    recorder = Recorder(server.base_url, "upstream-key", "tool_loop", model="gpt-4o-mini")
    with FakeOpenAI(recorder) as proxy:
        (tmp_path / "a").mkdir()
        outcome = tool_loop(make_model(settings.with_(base_url=proxy.base_url)), str(tmp_path / "a"))
    assert server.requests[0].headers["authorization"] == "Bearer upstream-key"
    cassette = recorder.cassette()
    text = json.dumps(cassette)
    assert cassette["source"].startswith(f"recorded from {server.base_url} (gpt-4o-mini)")
    assert "{{recommended}}" in text and '"mv-' not in text and "upstream-key" not in text
    player = server.use(cassette)
    (tmp_path / "b").mkdir()
    assert tool_loop(model_for(), str(tmp_path / "b")) == outcome
    assert player.errors == [] and player.remaining == 0 and outcome["type"] == "proposal"

"""Record cassettes against a real OpenAI-compatible endpoint (needs a key; costs a few cents).

    DEALDESK_MODEL=openai:gpt-4o-mini OPENAI_API_KEY=sk-... .venv/bin/python -m tests.llm.record
    # a local server:
    DEALDESK_MODEL=ollama:llama3.1 OPENAI_API_KEY=ollama OPENAI_BASE_URL=http://localhost:11434/v1 \
        .venv/bin/python -m tests.llm.record --only tool_loop

Each scenario runs the real seller graph (or the understanding / the doctor)
against the local fake server in pass-through mode: every request goes to the
real endpoint, and each request -> response pair is written to
`tests/llm/cassettes/recorded/<scenario>.json` with `source` naming the endpoint,
the model and the date. Move ids from the turn brief become placeholders, so the
cassette replays on another day. `tests/llm/test_recorded.py` replays whatever is
there (structural checks: the same requests in the same order, a reply of the
expected kind). The adversarial cassettes (40% off, a price below the floor, a
leaked floor, garbage, 429/5xx, timeouts) stay hand-written: a well-behaved
model does not produce them on request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fake_openai import CASSETTES, FakeOpenAI, Recorder

RECORDED = CASSETTES / "recorded"

FREE_TEXT = "Hello! Our Lyon plant needs 500 of your 6204 sealed bearings. A competitor quoted 2.85 EUR, what can you do?"
ARGUED_COUNTER = "2.85 is our budget, but we could commit to the same volume every quarter. Meet us at 2.95?"
COMPAT = "Before we go on: would that bearing fit the pillow block unit you sell?"
BORE = "What is the bore of the 6205 bearing, and how fast can you ship it?"


def _seller(model: Any, tmp: str) -> Any:
    from agent.config import load_data
    from agent.service import Seller
    from agent.store import Store

    catalog, policy = load_data()
    return Seller(catalog, policy, Store(f"sqlite:///{tmp}/record.sqlite"), model=model)


def understand_rfq(model: Any, tmp: str) -> dict[str, Any]:
    from agent.config import load_data
    from agent.intent import BuyerIntent
    from agent.offline.context import TextContext

    catalog, _ = load_data()
    intent = model.with_structured_output(BuyerIntent).invoke(
        {"text": FREE_TEXT, "context": TextContext(catalog=catalog, region="EU")})
    return {"kind": intent.kind, "source": intent.source}


def _turns(model: Any, tmp: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    from agent.service import Buyer

    seller = _seller(model, tmp)
    try:
        nid = seller.start(Buyer(org="recorder", region="EU"))
        reply = None
        for message in messages:
            reply = seller.send(nid, **message)
        return {"type": reply.type, "text": reply.text}
    finally:
        seller.close()


def tool_loop(model: Any, tmp: str) -> dict[str, Any]:
    return _turns(model, tmp, [{"data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}},
                               {"text": ARGUED_COUNTER}])


def reply_drafting(model: Any, tmp: str) -> dict[str, Any]:
    return _turns(model, tmp, [{"text": COMPAT}])


def question_answered(model: Any, tmp: str) -> dict[str, Any]:
    return _turns(model, tmp, [{"text": BORE}])


def free_rfq(model: Any, tmp: str) -> dict[str, Any]:
    return _turns(model, tmp, [{"text": FREE_TEXT}])


# scenario -> (run, the reply kind a replay must give)
SCENARIOS: dict[str, tuple[Callable[[Any, str], dict[str, Any]], str | None]] = {
    "understand_rfq": (understand_rfq, "rfq"),
    "free_rfq": (free_rfq, "proposal"),
    "tool_loop": (tool_loop, "proposal"),
    "reply_drafting": (reply_drafting, None),
    "question_answered": (question_answered, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Record cassettes against a real OpenAI-compatible endpoint.")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="scenario(s) to record")
    parser.add_argument("--out", type=Path, default=RECORDED)
    args = parser.parse_args()

    from agent.models.factory import make_model, model_settings
    from agent.records import configure_logging

    configure_logging(open(os.devnull, "w"))  # noqa: SIM115
    settings = model_settings()
    if settings is None:
        sys.exit("no model with a key is configured: set DEALDESK_MODEL and OPENAI_API_KEY (see README, "
                 "'Using a real model')")
    upstream = settings.base_url or "https://api.openai.com/v1"
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or sorted(SCENARIOS):
        run, _ = SCENARIOS[name]
        recorder = Recorder(upstream, settings.api_key or "", name, model=settings.model)
        with FakeOpenAI(recorder) as server, tempfile.TemporaryDirectory() as tmp:
            model = make_model(settings.with_(base_url=server.base_url, api_key="recording", attempts=1))
            outcome = run(model, tmp)
        cassette = recorder.cassette()
        cassette["outcome"] = outcome
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(cassette, indent=2) + "\n")
        print(f"{name}: {len(cassette['interactions'])} request(s) -> {path} ({outcome})")


if __name__ == "__main__":
    main()

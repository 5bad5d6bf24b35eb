"""`dealdesk eval run --model openai --repeat K` in CI: the OpenAI wire format against canned answers.

The scripted server answers as a capable model would (bench/llm_calls.py's script): it fills the
buyer-intent schema and calls submit_proposal with the brief's recommended move. The report gives
pass^k and the guardrail block rate, and the model really was called.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


def test_eval_run_with_the_openai_model_against_canned_answers(fake_openai, tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from llm_calls import Script, _items, _m
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from agent.cli import app

    script = Script()
    # What a capable model makes of the texts the parser leaves to it (the rest never reach the model).
    script.meanings.update({
        "Need 500 x BRG-6204. Vendor X offers 20% less than you: can you do 2.60 EUR?": _m(
            kind="rfq", items=_items(("BRG-6204", 500, "2.60")), arguments=["vendor X offers 20% less"]),
        "Vendor X is at 2.60 EUR, please match.": _m(
            kind="counter_offer", items=_items(("BRG-6204", 500, "2.60")), arguments=["vendor X is at 2.60 EUR"]),
        "need 100 x ABC-123 please": _m(kind="rfq", items=_items(("ABC-123", 100, None))),
        "can you do 5% off?": _m(kind="counter_offer", discount_percent="5"),  # priced by the seller, not the model
        # numbers in words: the parser reads them, noting it, so the cascade asks the model
        "please quote two hundred BRG-6205": _m(kind="rfq", items=_items(("BRG-6205", 200, None))),
        "could you do five percent off?": _m(kind="counter_offer", discount_percent="5"),
        "let's split the difference": _m(kind="counter_offer"),  # the seller works out the middle
        # a product word naming one line of two: the model prices that line, the seller keeps the other
        "can you do 3.00 for the bearings?": _m(kind="counter_offer", items=_items(("BRG-6204", 300, "3.00"))),
        # no product named, no offer standing: the product named last (`last_named` in the context)
        "ok what about 1500?": _m(kind="rfq", items=_items(("BRG-6205", 1500, None))),
        # a search that names a quantity; then a target price for what it found (`last_named`: BRG-6205 x 800)
        "Hello, we are sourcing 6205 bearings, about 800 pcs. Do you have them?": _m(
            kind="catalog_query", query="6205 bearings", items=_items(("", 800, None))),
        "that is too high, our target is 3.20": _m(kind="rfq", items=_items(("BRG-6205", 800, "3.20")),
                                                   arguments=["the price is too high"]),
        # a budget and a price for the lot: the model says the figure, the seller spreads it over the lines
        "the total is above our budget of 900": _m(kind="counter_offer", total_price="900",
                                                   arguments=["above our budget"]),
        "ok what about 1,050 EUR for everything": _m(kind="counter_offer", total_price="1,050"),
        # a quote for products named by words: the model names the SKU the context lists
        "Good morning. We are looking for 2000 deep groove ball bearings 6204 for a new production line. Can you "
        "quote?": _m(kind="rfq", items=_items(("BRG-6204", 2000, None))),
        "Thanks. Your price is above our target. We were thinking 2.80 per piece.": _m(
            kind="counter_offer", items=_items(("BRG-6204", 2000, "2.80")), arguments=["above our target"]),
        "please send the quote for 2000 again": _m(kind="rfq", items=_items(("BRG-6204", 2000, None))),
    })
    fake_openai.reset()
    fake_openai.handler = script
    monkeypatch.setenv("DEALDESK_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_openai.base_url}")
    monkeypatch.setenv("DEALDESK_UNDERSTAND", "cascade")  # the default: the model reads what the parser cannot
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "run", str(ROOT / "evals/suites/happy_paths.jsonl"), str(ROOT / "evals/suites/text_buyers.jsonl"),
                                      "--model", "openai", "--repeat", "2", "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    text = json.dumps(data)
    assert "pass" in text and ("pass^" in text or "pass_k" in text or "pass_hat" in text), list(data)
    assert "guardrail" in text
    assert len(fake_openai.requests) > 0  # the text turns went over the OpenAI wire format

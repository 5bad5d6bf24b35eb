"""A server whose json_schema answers do not parse while function calling works: the run-time switch, and the doctor.

QA finding 5: the server answered `response_format: json_schema` with HTTP 200 and prose around the JSON;
`dealdesk doctor` said structured output works "by function calling", but every turn fell back to the offline
parser (invalid_json) and never tried function calling. Now both say the same: an answer that is not JSON
leads to one function-calling try for that call; when that answer parses, function calling is used from then
on (the intent's notes, kept in the decision record, say so); when it does not, json_schema stays and there
is no other try.
"""

from __future__ import annotations

import copy
import json

from agent.intent import BuyerIntent
from agent.models.resilient import fallback_of, metered

from .fake_openai import load_cassette

FREE_TEXT = ("Hello! Our Lyon plant needs 500 of your 6204 sealed bearings. A competitor quoted 2.85 EUR, "
             "what can you do?")
ARGUED_COUNTER = "2.85 is our budget, but we could commit to the same volume every quarter. Meet us at 2.95?"
PROSE = "Here is the buyer intent as JSON: "


def ask(model, text, ctx) -> BuyerIntent:
    return model.with_structured_output(BuyerIntent).invoke({"text": text, "context": ctx})


def _with_prose(interaction: dict) -> dict:
    """The json_schema answer with prose before the JSON (HTTP 200), as the QA server (fakellm prose_js) sent it."""
    it = copy.deepcopy(interaction)
    it["match"] = {**it["match"], "response_format": "json_schema"}
    message = it["response"]["body"]["choices"][0]["message"]
    message["content"] = PROSE + message["content"]
    return it


def _as_tool_call(interaction: dict) -> dict:
    """The same intent, answered to the forced record_buyer_intent tool call."""
    it = copy.deepcopy(interaction)
    it["match"] = {"kind": "understand"}
    choice = it["response"]["body"]["choices"][0]
    arguments = choice["message"]["content"]
    choice["message"] = {"role": "assistant", "content": None, "refusal": None, "annotations": [], "tool_calls": [
        {"id": "call_intent_fc", "type": "function", "function": {"name": "record_buyer_intent",
                                                                   "arguments": arguments}}]}
    choice["finish_reason"] = "tool_calls"
    return it


def _prose_cassette(*, function_calling_works: bool, asks: int) -> dict:
    rfq = load_cassette("understand_rfq")["interactions"][0]
    garbage = load_cassette("garbage_understanding")["interactions"][0]
    first = [_with_prose(rfq), _as_tool_call(rfq) if function_calling_works else copy.deepcopy(garbage)]
    later = [(_as_tool_call(rfq) if function_calling_works else _with_prose(rfq)) for _ in range(asks - 1)]
    return {"name": "prose_around_json_schema", "source": "hand-written: QA finding 5 (fakellm prose_js)",
            "interactions": first + later}


def test_json_schema_prose_switches_to_function_calling_once_and_for_all(server, model_for, text_context) -> None:
    player = server.use(_prose_cassette(function_calling_works=True, asks=2))
    model = model_for()
    with metered() as m:
        intent = ask(model, FREE_TEXT, text_context())
    assert intent.source == "model" and intent.kind == "rfq" and fallback_of(intent) is None
    assert [(i.sku, i.quantity) for i in intent.message.items] == [("BRG-6204", 500)]
    assert m.calls == 2 and m.errors == ["invalid_json"] and not m.fallbacks
    switch = [n for n in intent.notes if "function calling" in n]
    assert switch and "not JSON" in switch[0] and "from now on" in switch[0]
    first, second = (r.body for r in server.requests)
    assert first["response_format"]["type"] == "json_schema" and "tools" not in first
    assert "response_format" not in second
    assert [t["function"]["name"] for t in second["tools"]] == ["record_buyer_intent"]
    assert model.structured_method() == "function_calling"
    assert model.bind_tools([]).structured_method() == "function_calling"  # bound copies share the switch
    # from then on: function calling straight away, one request, no note
    with metered() as m:
        again = ask(model, FREE_TEXT, text_context())
    assert again.source == "model" and m.calls == 1 and not m.errors
    assert not any("function calling" in n for n in again.notes)
    assert "response_format" not in server.requests[2].body and player.errors == [] and player.remaining == 0


def test_the_switch_is_tried_once_when_function_calling_does_no_better(server, model_for, text_context) -> None:
    player = server.use(_prose_cassette(function_calling_works=False, asks=2))
    model = model_for()
    with metered() as m:
        intent = ask(model, FREE_TEXT, text_context())
    assert intent.source == "offline" and fallback_of(intent) == "invalid_json"
    assert m.calls == 2 and m.errors == ["invalid_json", "invalid_json"]
    assert model.structured_method() == "json_schema"
    with metered() as m:  # no second try: one json_schema request, then the offline parser
        again = ask(model, FREE_TEXT, text_context())
    assert again.source == "offline" and m.calls == 1
    assert server.requests[-1].body["response_format"]["type"] == "json_schema"
    assert player.errors == [] and player.remaining == 0


def test_a_fixed_json_schema_method_is_not_switched(server, model_for, text_context) -> None:
    server.use(_prose_cassette(function_calling_works=True, asks=1))
    with metered() as m:
        intent = ask(model_for(structured="json_schema"), FREE_TEXT, text_context())
    assert intent.source == "offline" and fallback_of(intent) == "invalid_json" and m.calls == 1


def test_the_decision_record_says_the_turn_switched(server, model_for, seller_for) -> None:
    from agent.service import Buyer

    model = model_for()
    seller = seller_for(model)
    nid = seller.start(Buyer(org="acme-llm", region="EU"))
    assert seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}).type == "proposal"
    loop = copy.deepcopy(load_cassette("tool_loop"))
    understand = loop["interactions"][0]
    loop["interactions"][:1] = [_with_prose(understand), _as_tool_call(understand)]
    player = server.use(loop)
    reply = seller.send(nid, text=ARGUED_COUNTER)
    assert player.errors == [] and player.remaining == 0
    assert [r.kind for r in server.requests] == ["understand", "understand", "chat", "chat"]
    assert reply.type == "proposal" and reply.data["version"] == 2
    record = next(r for r in reply.records if r["node"] == "understand")
    assert record["dealdesk.intent"] == "counter_offer" and record["dealdesk.intent.source"] == "model"
    assert record["dealdesk.model_calls"] == 2 and record.get("dealdesk.model.fallback") is None
    assert any("function calling" in n and "not JSON" in n for n in record["dealdesk.intent.notes"])


# --- the doctor says what run time does -------------------------------------------------------------------


def _doctor_cassette(schema_status: int, schema_body: dict | str) -> dict:
    cassette = copy.deepcopy(load_cassette("doctor"))
    schema = cassette["interactions"][2]["response"]
    if schema_status == 200:
        schema["body"]["choices"][0]["message"]["content"] = schema_body
    else:
        schema.update(status=schema_status, body=schema_body)
    return cassette


def test_doctor_names_the_switch_run_time_makes(server) -> None:
    from agent.cli_doctor import diagnose

    env = {"DEALDESK_MODEL": "openai:local", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
    server.use(_doctor_cassette(200, 'Here you go: {"ok": true}'))
    found = diagnose(env)
    check = found["checks"][2]
    assert found["ok"] and check["ok"]
    assert check["detail"].startswith("function calling") and "not JSON" in check["detail"]
    assert "refused" not in check["detail"]
    # a fenced answer is read as run time reads it: json_schema works
    server.use(_doctor_cassette(200, '```json\n{"ok": true}\n```'))
    assert diagnose(env)["checks"][2]["detail"] == "json_schema"
    # a 400 is a refusal, switched the same way
    server.use(_doctor_cassette(400, {"error": {"message": "response_format json_schema is not supported",
                                                "type": "invalid_request_error"}}))
    check = diagnose(env)["checks"][2]
    assert check["ok"] and check["detail"].startswith("function calling (json_schema refused")
    # a failure run time does not switch on (a server error) is not called function calling
    server.use(_doctor_cassette(500, {"error": {"message": "boom", "type": "server_error"}}))
    found = diagnose(env)
    assert not found["ok"] and not found["checks"][2]["ok"] and found["checks"][2]["detail"].startswith("server_error")


def test_doctor_with_function_calling_configured_checks_function_calling(server) -> None:
    from agent.cli_doctor import diagnose

    env = {"DEALDESK_MODEL": "openai:local", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url,
           "DEALDESK_STRUCTURED_OUTPUT": "function_calling"}
    cassette = _doctor_cassette(200, "")
    cassette["interactions"] = cassette["interactions"][:2]
    server.use(cassette)
    found = diagnose(env)
    assert found["ok"] and found["checks"][2]["detail"] == "function calling (DEALDESK_STRUCTURED_OUTPUT)"
    assert server.count() == 2 and "response_format" not in json.dumps([r.body for r in server.requests])


def test_a_404_is_not_a_refusal_of_json_schema(server, model_for, text_context) -> None:
    """No such model (or a wrong path) answers 404 whatever the method: it is `not_found`, and json_schema stays."""
    from .fake_openai import Reply

    server.reset(lambda body, headers: Reply(404, {"error": {"message": "The model `gpt-9` does not exist",
                                                             "type": "invalid_request_error"}}))
    model = model_for()
    with metered() as m:
        intent = ask(model, FREE_TEXT, text_context())
    assert intent.source == "offline" and fallback_of(intent) == "not_found"
    assert m.calls == 1 and model.structured_method() == "json_schema"
    assert not any("function calling" in n for n in intent.notes)

"""Which model is used: configuration, never a ChatOpenAI without a key, `dealdesk doctor`, what is sent."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from typer.testing import CliRunner

from agent.models.factory import make_model, model_name, model_settings, read_config_file
from agent.models.offline import OfflineModel
from agent.models.openai import ModelConfigError, ModelSettings, build_chat_openai
from agent.models.resilient import ResilientModel, compact_brief, local_step, prepare_messages
from agent.playbook import render_brief

from .fake_openai import load_cassette


@pytest.fixture
def no_chat_openai(monkeypatch):
    """Any ChatOpenAI construction fails the test."""
    import langchain_openai

    def refuse(self, *a, **kw):
        raise AssertionError("ChatOpenAI was built")

    monkeypatch.setattr(langchain_openai.ChatOpenAI, "__init__", refuse)


@pytest.mark.parametrize("env", [{}, {"DEALDESK_MODEL": "openai:gpt-4o-mini"}, {"OPENAI_API_KEY": "sk-x"},
                                 {"DEALDESK_MODEL": "offline", "OPENAI_API_KEY": "sk-x"},
                                 {"DEALDESK_MODEL": "openai:gpt-4o-mini", "OPENAI_API_KEY": ""}])
def test_no_key_means_the_offline_model_and_no_chat_openai(env, no_chat_openai) -> None:
    assert model_settings(env) is None
    assert isinstance(make_model(env), OfflineModel)


def test_with_a_key_a_resilient_chat_openai_on_the_configured_server() -> None:
    env = {"DEALDESK_MODEL": "openai:gpt-4o-mini", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
           "DEALDESK_MODEL_TIMEOUT": "7.5", "DEALDESK_MODEL_BUDGET_CALLS": "12", "DEALDESK_UNDERSTAND": "model"}
    model = make_model(env)
    assert isinstance(model, ResilientModel) and model_name(model) == "openai:gpt-4o-mini"
    inner = model.inner
    assert type(inner).__name__ == "ChatOpenAI" and inner.model_name == "gpt-4o-mini"
    assert inner.openai_api_base == "http://127.0.0.1:9/v1" and inner.max_retries == 0 and inner.request_timeout == 7.5
    assert model.settings.budget_calls == 12 and model.settings.understand == "model"
    assert "sk-test" not in repr(model.settings)


def test_a_bare_model_name_is_an_openai_model_and_bad_values_are_refused() -> None:
    assert model_settings({"DEALDESK_MODEL": "gpt-4.1-mini", "OPENAI_API_KEY": "k"}).name == "openai:gpt-4.1-mini"
    assert model_settings({"DEALDESK_MODEL": "ollama:llama3.1", "OPENAI_API_KEY": "ollama"}).provider == "ollama"
    with pytest.raises(ModelConfigError):
        model_settings({"DEALDESK_MODEL": "anthropic:claude", "OPENAI_API_KEY": "k"})
    with pytest.raises(ModelConfigError):
        model_settings({"DEALDESK_MODEL": "openai:x", "OPENAI_API_KEY": "k", "DEALDESK_MODEL_TIMEOUT": "soon"})
    with pytest.raises(ModelConfigError):
        build_chat_openai(ModelSettings(api_key=None))


def test_the_config_file_and_the_environment(tmp_path) -> None:
    toml = tmp_path / "dealdesk.toml"
    toml.write_text('[model]\nname = "openai:gpt-4o"\napi_key = "sk-file"\nbase_url = "http://localhost:8000/v1"\n'
                    'budget_tokens = 5000\nstructured_output = "function_calling"\n')
    s = model_settings({"DEALDESK_CONFIG": str(toml)})
    assert (s.name, s.api_key, s.base_url, s.budget_tokens, s.structured) == (
        "openai:gpt-4o", "sk-file", "http://localhost:8000/v1", 5000, "function_calling")
    assert s.source == f"config file {toml}"
    assert model_settings({"DEALDESK_CONFIG": str(toml), "DEALDESK_MODEL": "openai:gpt-4o-mini"}).model == "gpt-4o-mini"
    yml = tmp_path / "dealdesk.yaml"
    yml.write_text("DEALDESK_MODEL: vllm:qwen2.5\nOPENAI_API_KEY: none-needed\n")
    assert read_config_file(yml)["DEALDESK_MODEL"] == "vllm:qwen2.5"
    assert model_settings({"DEALDESK_CONFIG": str(yml)}).provider == "vllm"


def test_doctor_against_a_server(server, monkeypatch) -> None:
    from agent.cli import app

    player = server.use("doctor")
    monkeypatch.setenv("DEALDESK_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("DEALDESK_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["model"] == "openai:gpt-4o-mini" and found["base_url"] == server.base_url and found["api_key"] == "set"
    assert [(c["check"], c["ok"]) for c in found["checks"]] == [("answers", True), ("tool calls", True),
                                                                ("structured output", True)]
    assert found["checks"][2]["detail"] == "json_schema" and player.errors == [] and server.count() == 3
    assert "test-key" not in result.output


def test_doctor_reports_function_calling_only_and_a_dead_server(server, monkeypatch) -> None:
    from agent.cli_doctor import diagnose

    env = {"DEALDESK_MODEL": "openai:local", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
    cassette = json.loads(json.dumps(load_cassette("doctor")))
    cassette["interactions"][2]["response"] = {"status": 400, "body": {"error": {
        "message": "response_format json_schema is not supported", "type": "invalid_request_error"}}}
    server.use(cassette)
    found = diagnose(env)
    assert found["ok"] and found["checks"][2]["detail"].startswith("function calling")
    server.use("server_down")
    found = diagnose(env)
    assert not found["ok"] and found["checks"][0]["detail"].startswith("server_error")
    assert server.count() == 3  # one request per check: no retries in the doctor


def test_doctor_offline(monkeypatch) -> None:
    from agent.cli import app

    for name in ("DEALDESK_MODEL", "OPENAI_API_KEY", "DEALDESK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0 and "dealdesk-offline" in result.output and "no model configured" in result.output


# --- what is sent to the model --------------------------------------------------------------------------


def _brief(source: str = "model", kind: str = "rfq") -> dict:
    move = {"id": "mv-1", "kind": "open", "sku": "BRG-6204", "quantity": 500, "currency": "EUR", "payment_terms": "NET30",
            "unit_price": "3.09", "list_price": "3.25", "line_total": "1545.00", "discount_percent": "4.923076923",
            "approval_level": "auto", "needs_approval": False, "lead_time_days": 2, "alternative": False,
            "rule_ids": ["strategy.x"], "rationale": "opening"}
    return {"intent": {"kind": kind, "source": source, "message": {"items": [], "region": None}, "notes": []},
            "lines": [{"sku": "BRG-6204", "quantity": 500, "asked": None,
                       "plan": {"recommended": "mv-1", "standing": None, "closing": False, "moves": [move]}}],
            "feedback": []}


def test_the_brief_is_compacted_and_earlier_turns_are_short() -> None:
    compact = compact_brief(_brief())
    move = compact["lines"][0]["moves"][0]
    assert "rule_ids" not in move and "approval_level" not in move and move["discount_percent"] == "4.92"
    assert compact["intent"] == {"kind": "rfq", "source": "model", "message": {}}
    assert "offered_before" not in compact["lines"][0]  # a line's first offer
    later = _brief()
    later["lines"][0]["plan"]["offered_before"] = True
    assert compact_brief(later)["lines"][0]["offered_before"] is True  # the prompt's rule needs it
    old_proposal = {"type": "proposal", "proposal_id": "P-1", "version": 1, "currency": "EUR", "total": "1545.00",
                    "payment_terms": "NET30", "items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "3.09"}]}
    call = {"name": "submit_proposal", "args": {"move_ids": ["mv-0"]}, "id": "c0", "type": "tool_call"}
    messages = [
        SystemMessage(content="PROMPT\n" + render_brief(_brief())),
        HumanMessage(content='{"type": "rfq"}', name="buyer"),
        AIMessage(content="", tool_calls=[call]), ToolMessage(content='{"ok": true}', tool_call_id="c0"),
        AIMessage(content=[{"type": "text", "text": "Offer."}, {"type": "data", "data": old_proposal}]),
        AIMessage(content="Offer.", name="seller", additional_kwargs={"data": old_proposal}),
        HumanMessage(content='{"approval_id": "A-1"}', name="operator"),
        AIMessage(content="Approved offer.", name="seller", additional_kwargs={"data": old_proposal}),
        HumanMessage(content="<buyer_message>\nbetter price?\n</buyer_message>", name="buyer"),
    ]
    sent = prepare_messages(messages, history_turns=6, extra_system="RULES")
    assert [type(m).__name__ for m in sent] == ["SystemMessage", "HumanMessage", "AIMessage", "AIMessage",
                                                 "HumanMessage"]
    assert sent[3].content.startswith("Approved offer. [proposal P-1")  # sent after an operator's decision
    assert sent[0].content.startswith("PROMPT\n\nRULES\n\nTURN BRIEF (JSON):\n")
    assert sent[2].content == "Offer. [proposal P-1 v1: 500 x BRG-6204 at 3.09 EUR; total 1545.00 EUR; NET30]"
    assert not sent[2].additional_kwargs and sent[4].content.endswith("</buyer_message>")
    assert len(prepare_messages(messages, history_turns=0)) == 2


def test_local_steps_need_no_model() -> None:
    human = HumanMessage(content="<buyer_message>\nhi\n</buyer_message>")
    # understood offline: the playbook answers
    message, reason = local_step([SystemMessage(content=render_brief(_brief("offline"))), human], _brief("offline"))
    assert reason == "playbook" and message.tool_calls[0]["name"] == "submit_proposal"
    # the model chose a move and wrote the reply with the call: that text is the final message
    call = {"name": "submit_proposal", "args": {"move_ids": ["mv-1"]}, "id": "c1", "type": "tool_call"}
    done = [human, AIMessage(content="Offer text.", tool_calls=[call]),
            ToolMessage(content='{"ok": true, "tool": "submit_proposal"}', tool_call_id="c1")]
    assert local_step(done, _brief())[0].content == "Offer text."
    failed = [*done[:2], ToolMessage(content='{"ok": false, "tool": "submit_proposal"}', tool_call_id="c1")]
    assert local_step(failed, _brief()) is None
    # a question about named SKUs: the lookups first
    q = _brief(kind="question")
    q["intent"]["question"] = {"topic": "spec", "skus": ["BRG-6204", "BRG-6205"]}
    message, reason = local_step([human], q)
    assert reason == "prefetch" and [c["args"] for c in message.tool_calls] == [{"sku": "BRG-6204"}, {"sku": "BRG-6205"}]
    assert local_step([human], None) is None and local_step([human], _brief()) is None

"""A model configuration that cannot be used is refused in one line naming the setting and where it came from.

QA findings 6 and 8: a bad `DEALDESK_MODEL` or a config file that does not parse crashed `chat` and `serve` with
a traceback; an empty `OPENAI_API_KEY=` hid the file's key; misspelt `[model]` keys were ignored; a bad value in
the file was reported under the environment variable's name; `budget_calls = -1` did not name the field; `inf`
and `nan` were taken as a timeout; and the doctor's details did not say what the endpoint did.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from agent.models.factory import make_model, model_settings, read_config_file, why_offline
from agent.models.offline import OfflineModel
from agent.models.openai import ModelConfigError

MODEL_VARS = ("DEALDESK_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DEALDESK_CONFIG", "DEALDESK_MODEL_TIMEOUT",
              "DEALDESK_MODEL_DEADLINE", "DEALDESK_MODEL_ATTEMPTS", "DEALDESK_MODEL_BUDGET_CALLS",
              "DEALDESK_MODEL_BUDGET_TOKENS", "DEALDESK_STRUCTURED_OUTPUT", "DEALDESK_UNDERSTAND",
              "DEALDESK_MODEL_TEMPERATURE")


def refused(env: dict[str, str]) -> str:
    with pytest.raises(ModelConfigError) as caught:
        model_settings(env)
    return str(caught.value)


# --- the configuration --------------------------------------------------------------------------------------


def test_an_empty_environment_variable_does_not_hide_the_files_value(tmp_path) -> None:
    toml = tmp_path / "dealdesk.toml"
    toml.write_text('[model]\nname = "openai:gpt-4o-mini"\napi_key = "sk-file"\ntimeout = 7\n')
    s = model_settings({"DEALDESK_CONFIG": str(toml), "OPENAI_API_KEY": "", "DEALDESK_MODEL": "",
                        "DEALDESK_MODEL_TIMEOUT": " "})
    assert s is not None and (s.name, s.api_key, s.timeout) == ("openai:gpt-4o-mini", "sk-file", 7.0)
    assert why_offline({"DEALDESK_CONFIG": str(toml), "OPENAI_API_KEY": ""}) == "configured"
    # a non-empty variable still wins
    assert model_settings({"DEALDESK_CONFIG": str(toml), "OPENAI_API_KEY": "sk-env"}).api_key == "sk-env"
    # and with no file, an empty key is no key: the offline model
    assert isinstance(make_model({"DEALDESK_MODEL": "openai:gpt-4o-mini", "OPENAI_API_KEY": ""}), OfflineModel)


@pytest.mark.parametrize(("text", "key"), [("[model]\nnme = \"openai:x\"\napi_key = \"x\"\n", "nme"),
                                           ("[model]\nname = \"openai:x\"\napikey = \"x\"\n", "apikey"),
                                           ("[model]\nname = \"openai:x\"\napi_key = \"x\"\nbudget-calls = 1\n",
                                            "budget-calls")])
def test_unknown_keys_in_the_model_table_are_refused(tmp_path, text, key) -> None:
    toml = tmp_path / "dealdesk.toml"
    toml.write_text(text)
    message = refused({"DEALDESK_CONFIG": str(toml)})
    assert f"unknown key {key!r} in [model]" in message and str(toml) in message
    assert "name, api_key, base_url, timeout" in message and "budget_calls" in message  # the known keys
    with pytest.raises(ModelConfigError):
        read_config_file(toml)


def test_unknown_top_level_settings_are_refused(tmp_path) -> None:
    yml = tmp_path / "dealdesk.yaml"
    yml.write_text("DEALDESK_MODLE: openai:x\nOPENAI_API_KEY: x\n")
    message = refused({"DEALDESK_CONFIG": str(yml)})
    assert "unknown setting 'DEALDESK_MODLE'" in message and "DEALDESK_MODEL" in message


def test_a_bad_value_is_named_where_it_came_from(tmp_path) -> None:
    yml = tmp_path / "dealdesk.yaml"
    yml.write_text("model:\n  name: openai:x\n  api_key: \"x\"\n  timeout: 5s\n")
    message = refused({"DEALDESK_CONFIG": str(yml)})
    assert message == f"timeout='5s' in [model] of config file {yml}: not a finite number"
    assert "DEALDESK_MODEL_TIMEOUT" not in message
    env = {"DEALDESK_MODEL": "openai:x", "OPENAI_API_KEY": "k"}
    assert refused({**env, "DEALDESK_MODEL_TIMEOUT": "5s"}) == "DEALDESK_MODEL_TIMEOUT='5s': not a finite number"
    assert refused({**env, "DEALDESK_MODEL_ATTEMPTS": "2.5"}) == "DEALDESK_MODEL_ATTEMPTS='2.5': not a whole number"


@pytest.mark.parametrize(("name", "value", "must"), [
    ("DEALDESK_MODEL_BUDGET_CALLS", "-1", "must be 0 or more"),
    ("DEALDESK_MODEL_BUDGET_TOKENS", "-5", "must be 0 or more"),
    ("DEALDESK_MODEL_ATTEMPTS", "0", "must be at least 1"), ("DEALDESK_MODEL_TIMEOUT", "0", "must be greater than 0"),
    ("DEALDESK_MODEL_DEADLINE", "-3", "must be greater than 0"),
    ("DEALDESK_MODEL_TIMEOUT", "inf", "not a finite number"), ("DEALDESK_MODEL_TIMEOUT", "nan", "not a finite number"),
    ("DEALDESK_MODEL_DEADLINE", "Infinity", "not a finite number"),
    ("DEALDESK_MODEL_TEMPERATURE", "nan", "not a finite number"),
    ("DEALDESK_STRUCTURED_OUTPUT", "json", "must be auto, json_schema or function_calling"),
    ("DEALDESK_UNDERSTAND", "always", "must be cascade or model"),
    ("DEALDESK_MODEL_MAX_REPLY_CHARS", "0", "must be at least 1"),
    ("DEALDESK_MODEL_BREAKER_FAILURES", "-1", "must be 0 or more"),
    ("DEALDESK_MODEL_BREAKER_FAILURES", "2.5", "not a whole number"),
    ("DEALDESK_MODEL_BREAKER_COOLDOWN", "0", "must be greater than 0")])
def test_each_limit_names_its_setting(name, value, must) -> None:
    env = {"DEALDESK_MODEL": "openai:x", "OPENAI_API_KEY": "k", name: value}
    assert refused(env) == f"{name}={value!r}: {must}"


def test_a_negative_budget_in_the_file_names_the_key_and_the_file(tmp_path) -> None:
    toml = tmp_path / "dealdesk.toml"
    toml.write_text('[model]\nname = "openai:x"\napi_key = "x"\nbudget_calls = -1\n')
    assert refused({"DEALDESK_CONFIG": str(toml)}) == f"budget_calls='-1' in [model] of config file {toml}: " \
                                                      "must be 0 or more"


def test_an_unknown_provider_names_dealdesk_model() -> None:
    message = refused({"DEALDESK_MODEL": "anthropic:claude", "OPENAI_API_KEY": "k"})
    assert message.startswith("DEALDESK_MODEL='anthropic:claude': unknown model provider 'anthropic'")
    assert "openai, openai-compatible, azure" in message


@pytest.mark.parametrize(("name", "text", "where"), [
    ("bad.toml", '[model]\nname = "openai:some-model\napi_key=1\n', "line 2, column 26: Illegal character"),
    ("bad.yaml", "model:\n  name: [openai:x\n  api_key: x\n", "line 3, column 10:"),
    ("gone.toml", None, "cannot be read: No such file or directory")])
def test_a_config_file_that_cannot_be_read_is_named_with_line_and_column(tmp_path, name, text, where) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    message = refused({"DEALDESK_CONFIG": str(path)})
    assert message.startswith(f"config file {path}") and where in message and "\n" not in message
    assert why_offline({"DEALDESK_CONFIG": str(path)}).endswith(message)


# --- the command line refuses it in one line, exit 1, as a refused data file --------------------------------


@pytest.fixture
def run(tmp_path, monkeypatch):
    from agent.cli import app

    for name in MODEL_VARS + ("DEALDESK_CATALOG", "DEALDESK_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEALDESK_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DEALDESK_LOG", str(tmp_path / "decisions.log"))
    monkeypatch.setenv("COLUMNS", "400")

    def invoke(*args: str, env: dict[str, str], input: str | None = None):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return CliRunner().invoke(app, list(args), input=input)

    return invoke


def _bad_configs(tmp_path) -> list[tuple[dict[str, str], str]]:
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "openai:some-model\napi_key=1\n')
    return [({"DEALDESK_MODEL": "anthropic:claude", "OPENAI_API_KEY": "k"},
             "DEALDESK_MODEL='anthropic:claude': unknown model provider 'anthropic'"),
            ({"DEALDESK_CONFIG": str(bad)}, f"config file {bad}: line 2, column 26: Illegal character")]


def _one_line_refusal(result, needle: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught ModelConfigError
    assert "Traceback" not in result.output and "ModelConfigError" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"refused model configuration: {needle}"), result.output


@pytest.mark.parametrize("which", [0, 1])
def test_chat_refuses_a_bad_model_config_in_one_line(run, tmp_path, which) -> None:
    env, needle = _bad_configs(tmp_path)[which]
    result = run("chat", env=env, input="hello\n")
    _one_line_refusal(result, needle)
    assert not (tmp_path / "cli.db").exists()  # refused before the database is opened


@pytest.mark.parametrize("which", [0, 1])
def test_serve_refuses_a_bad_model_config_before_serving(run, tmp_path, monkeypatch, which) -> None:
    import uvicorn

    def never(*a, **kw):
        raise AssertionError("serve started serving with a model config it cannot use")

    monkeypatch.setattr(uvicorn, "run", never)
    env, needle = _bad_configs(tmp_path)[which]
    result = run("serve", "--port", "18159", env=env)
    _one_line_refusal(result, needle)


@pytest.mark.parametrize("which", [0, 1])
def test_doctor_names_a_bad_config_without_a_traceback(run, tmp_path, which) -> None:
    env, needle = _bad_configs(tmp_path)[which]
    result = run("doctor", env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert needle in result.output and "Traceback" not in result.output
    found = json.loads(run("doctor", "--json", env=env).output)
    assert found["kind"] == "error" and found["reason"].startswith(needle)


# --- the doctor says what the endpoint did ----------------------------------------------------------------


class _Raw(BaseHTTPRequestHandler):
    """An endpoint that answers every POST with (status, content type, body) from the class attribute."""

    reply: tuple[int, str, bytes] = (200, "application/json", b"{}")

    def log_message(self, *a) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, ctype, body = type(self).reply
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def raw_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Raw)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


EMPTY = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}).encode()


@pytest.mark.parametrize(("reply", "detail"), [
    ((200, "application/json", EMPTY), "bad_response: HTTP 200 with no answer in it (an empty `choices` list)"),
    ((200, "text/html", b"<html><body>Proxy login</body></html>"),
     "bad_response: HTTP 200 but the body is not a chat completion"),
    ((200, "application/json", b'{"id": "x", "choices": ['), "bad_response: HTTP 200 but the body is not JSON"),
    # a null message, null choices, an error object in a 200: named as the model's fallback names them
    ((200, "application/json", json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                           "choices": [{"index": 0, "message": None, "finish_reason": "stop"}]}
                                          ).encode()), "bad_response: HTTP 200 but the body is not a chat completion"),
    ((200, "application/json", json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                           "choices": None}).encode()),
     "bad_response: HTTP 200 but the body is not a chat completion"),
    ((200, "application/json", json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()),
     "bad_response: HTTP 200 but the body is not a chat completion"),
    ((404, "application/json", json.dumps({"error": {"message": "The model `some-model` does not exist"}}).encode()),
     "not_found: HTTP 404 from the server: The model `some-model` does not exist (check the model name in "
     "DEALDESK_MODEL and the server in OPENAI_BASE_URL)")])
def test_doctor_details_say_what_the_endpoint_did(raw_endpoint, monkeypatch, reply, detail) -> None:
    from agent.cli_doctor import diagnose

    monkeypatch.setattr(_Raw, "reply", reply)
    env = {"DEALDESK_MODEL": "openai:some-model", "OPENAI_API_KEY": "k",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{raw_endpoint.server_port}/v1"}
    found = diagnose(env)
    assert not found["ok"]
    for check in found["checks"]:
        assert not check["ok"] and check["detail"].startswith(detail), check
        for noise in ("list index out of range", "object has no attribute", "Unexpected response type", "bad_request"):
            assert noise not in check["detail"]


def test_the_reply_limit_and_the_breaker_are_configurable(tmp_path) -> None:
    toml = tmp_path / "dealdesk.toml"
    toml.write_text('[model]\nname = "openai:x"\napi_key = "x"\nmax_reply_chars = 900\nbreaker_failures = 0\n')
    settings = model_settings({"DEALDESK_CONFIG": str(toml), "DEALDESK_MODEL_BREAKER_COOLDOWN": "12.5"})
    assert (settings.max_reply_chars, settings.breaker_failures, settings.breaker_cooldown) == (900, 0, 12.5)

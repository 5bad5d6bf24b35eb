"""Schemathesis (v4) against /openapi.json of the live server: no input, valid or not, gets a 5xx.

Each operation is fuzzed with positive and negative data, with an operator key and with a buyer
key (the buyer key also exercises the 403 and 404 paths). Small example counts keep it quick.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 6}


@pytest.fixture(scope="module")
def fuzz_server(live_server_factory):
    # Its own server: no rate limit in the way, and whatever the fuzzing writes stays out of other tests.
    return live_server_factory(rate_per_second=0.0, rate_burst=1)


@pytest.mark.parametrize("who", ["operator", "buyer_eu"])
def test_no_server_errors(fuzz_server, who):
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    headers = fuzz_server.headers(who)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, n in EXAMPLES.items():
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as exc:  # noqa: BLE001 - an operation schemathesis cannot negate
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{operation.label}: {exc}") from exc

            @settings(max_examples=n, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):
                response = case.call(base_url=fuzz_server.url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{case.operation.label} {mode}: {response.status_code} "
                                    f"{response.text[:300]}\n  {case.as_curl_command(headers=headers)[:600]}")
                    return
                content_type = " ".join(response.headers.get("content-type") or [])
                # The REST API answers with dealdesk's envelope; the A2A bindings with A2A's own errors.
                ours = case.operation.path.startswith(("/v1/", "/schemas/", "/healthz", "/readyz"))
                if ours and response.status_code >= 400 and "json" in content_type:
                    err = response.json().get("error")
                    assert err and {"type", "code", "message", "field"} <= set(err), (
                        f"{case.operation.label}: not the error envelope: {response.text[:300]}")

            try:
                run()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations >= 15
    assert not failures, "\n".join(failures[:10])
    with fuzz_server.client(who) as c:
        assert c.get("/healthz").status_code == 200

"""Which push-notification URLs a buyer may register (SSRF and log injection).

QA findings: on a server bound to 127.0.0.1 (the default, and the usual set-up behind a reverse proxy) a buyer
could make the server POST, with a path and an Authorization header of the buyer's choosing, to any local port;
and a URL with a newline was taken, then written into the server's log as a line of its own.
"""

from __future__ import annotations

import asyncio

import pytest

from agent.server.a2a_tasks import push_url_policy

LOCAL = ["http://127.0.0.1:18410/internal-admin", "http://localhost:8080/v1/approvals", "http://[::1]:9000/x"]


def allowed(url: str, *, allow_local: bool = False) -> bool:
    return asyncio.run(push_url_policy(allow_local)(url))


@pytest.mark.parametrize("url", LOCAL)
def test_loopback_receivers_are_refused_by_default(url: str) -> None:
    assert not allowed(url)


@pytest.mark.parametrize("url", LOCAL)
def test_a_developer_may_let_loopback_receivers_through(url: str) -> None:
    assert allowed(url, allow_local=True)


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "file:///etc/passwd", "ftp://8.8.8.8/x",
    "http://8.8.8.8/x\nINFO: forged line", "http://8.8.8.8/x\r\nX-Injected: 1", "http://8.8.8.8/a b",
    "http://8.8.8.8/\x00", "http://8.8.8.8/\x7f"])
def test_private_addresses_other_schemes_and_control_characters_are_refused(url: str) -> None:
    assert not allowed(url) and not allowed(url, allow_local=True)


def test_a_public_receiver_is_taken() -> None:
    assert allowed("https://8.8.8.8/hooks/dealdesk?x=1")

"""Which X-Forwarded-For hop is the client: TRUSTED_PROXIES as a count of hops or as CIDRs, walked from
the right as uvicorn's --forwarded-allow-ips does; hops a client writes itself (on the left) never win."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from src.kit.request_context import TrustedProxies, parse_networks
from src.kit.settings import Settings


def hops(header: str) -> list[str]:
    return header.split(",")


@pytest.mark.parametrize(
    ("count", "forwarded", "client"),
    [
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a spoofed first hop is ignored
        (1, "6.6.6.6, 7.7.7.7, 198.51.100.7", "198.51.100.7"),
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (
            2,
            "198.51.100.7",
            "198.51.100.7",
        ),  # fewer hops than proxies: the outer one was skipped, every hop is a proxy's
        (1, "198.51.100.7:51234", "198.51.100.7"),
        (1, "[2001:db8::7]:443", "2001:db8::7"),
        (1, "2001:DB8::7", "2001:db8::7"),
        (1, "::ffff:198.51.100.7", "198.51.100.7"),
        (1, " , 198.51.100.7 ,", "198.51.100.7"),
    ],
)
def test_a_count_takes_the_nth_hop_from_the_right(count: int, forwarded: str, client: str) -> None:
    assert TrustedProxies(count=count).client_of("10.0.0.1", hops(forwarded)) == client


def test_cidrs_skip_trusted_hops_from_the_right_and_stop_at_the_first_other() -> None:
    proxies = TrustedProxies.parse("10.0.0.0/8, fd00::/8")
    assert proxies.networks and not proxies.count
    assert proxies.client_of("10.0.0.1", hops("6.6.6.6, 198.51.100.7, 10.9.9.9, fd00::5")) == "198.51.100.7"
    assert proxies.client_of("10.0.0.1", hops("198.51.100.7")) == "198.51.100.7"
    # A peer that is not a trusted proxy is the client: its X-Forwarded-For is its own invention.
    assert proxies.client_of("203.0.113.9", hops("198.51.100.7")) == "203.0.113.9"
    # Every hop a trusted proxy: the left-most is the client.
    assert proxies.client_of("10.0.0.1", hops("10.1.1.1, 10.2.2.2")) == "10.1.1.1"
    # Garbage written right of the proxies is the client (a bucket of its own), cut to 64 characters.
    assert proxies.client_of("10.0.0.1", hops("198.51.100.7, " + "x" * 100)) == "x" * 64


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert TrustedProxies.parse(None).client_of("127.0.0.1", hops("198.51.100.7")) == "127.0.0.1"
    assert TrustedProxies.parse("0").client_of("127.0.0.1", hops("198.51.100.7")) == "127.0.0.1"
    assert TrustedProxies.parse("10.0.0.0/8").client_of("127.0.0.1", []) == "127.0.0.1"


def test_trust_forwarded_for_means_one_proxy_and_trusted_proxies_wins() -> None:
    assert TrustedProxies.parse(None, trust_forwarded_for=True) == TrustedProxies(count=1)
    assert TrustedProxies.parse("2", trust_forwarded_for=True) == TrustedProxies(count=2)
    # Before TRUSTED_PROXIES the first hop was the client: a client could name itself anything.
    assert (
        TrustedProxies.parse(None, trust_forwarded_for=True).client_of("10.0.0.1", hops("6.6.6.6, 198.51.100.7"))
        == "198.51.100.7"
    )


@pytest.mark.parametrize("value", ["proxy.example", "10.0.0.0/33", "1,2", "-1", "33"])
def test_settings_refuse_a_malformed_value(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, trusted_proxies=value)
    assert "TRUSTED_PROXIES" in str(caught.value)


def test_a_comment_runs_to_the_end_of_its_line_commas_and_all() -> None:
    """The runbook's block line: `203.0.113.0/24   # incident 2024-06-01, scraping`."""
    listed = "203.0.113.0/24   # incident 2024-06-01, scraping\n# whole-line note, with a comma\n198.51.100.7, 2001:db8:bad::/48\n"
    assert [str(n) for n in parse_networks(listed, "BLOCKED_CLIENTS_FILE")] == [
        "203.0.113.0/24",
        "198.51.100.7/32",
        "2001:db8:bad::/48",
    ]
    with pytest.raises(ValueError, match="'scraping' is not an IP address"):
        parse_networks("203.0.113.0/24, scraping", "BLOCKED_CLIENTS")

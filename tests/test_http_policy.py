"""The one HTTP policy, exercised against the recorded-response stand-in on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from dafset.errors import SourceError
from dafset.settings import get_settings
from dafset.sources.live.cache import MISSING, ResponseCache
from dafset.sources.live.http import HttpClient, RetryPolicy, describe, parse_retry_after

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5)
Q42 = {"action": "wbgetentities", "ids": "Q42", "props": "labels", "languages": "en"}


def client(policy: RetryPolicy = FAST, cache: ResponseCache | None = None) -> HttpClient:
    return HttpClient(get_settings(), policy=policy, cache=cache)


def label(answer: dict) -> str:
    return answer["entities"]["Q42"]["labels"]["en"]["value"]


def test_429_waits_for_retry_after_seconds_then_succeeds(recorded_server):
    recorded_server.fail_next("429", retry_after="2", match="/wikidata/")
    http = client()
    started = time.monotonic()
    answer = http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    elapsed = time.monotonic() - started
    assert label(answer) == "Douglas Adams"
    assert 1.9 <= elapsed < 4.0, elapsed
    assert len(recorded_server.requests_to("/wikidata/")) == 2
    assert http.stats.retries == 1 and http.stats.requests == 2


def test_retry_after_http_date_is_understood():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=2), usegmt=True), now) == 2.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("kind", ["500_timeout", "503", "truncated_length", "truncated_json"])
def test_transient_failures_are_retried_until_success(recorded_server, kind):
    recorded_server.fail_next(kind, times=2, match="/wikidata/")
    http = client()
    answer = http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert label(answer) == "Douglas Adams"
    assert [k for _, k in recorded_server.faults.served] == [kind, kind]
    assert len(recorded_server.requests_to("/wikidata/")) == 3
    assert http.stats.retries == 2


def test_slow_answer_times_out_and_is_retried(recorded_server):
    recorded_server.fail_next("slow", delay_s=1.0, match="/wikidata/")
    http = client(RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=0.3))
    answer = http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert label(answer) == "Douglas Adams"
    assert http.stats.retries == 1


@pytest.mark.parametrize("status", [400, 403, 404])
def test_permanent_4xx_fails_fast_with_a_message_naming_the_request(recorded_server, status):
    recorded_server.fail_next("status", times=5, status=status, match="/wikidata/")
    http = client(RetryPolicy(max_attempts=6, backoff_base_s=1.0, backoff_max_s=5.0))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "\n" not in message
    assert f"GET {recorded_server.mediawiki_api}" in message
    assert "ids=Q42" in message and "action=wbgetentities" in message
    assert f"HTTP {status}" in message
    assert len(recorded_server.requests_to("/wikidata/")) == 1  # no retry
    assert elapsed < 0.5, elapsed


def test_gives_up_after_max_attempts_with_one_line_message(recorded_server):
    recorded_server.fail_next("503", times=10, match="/wikidata/")
    http = client(RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02))
    with pytest.raises(SourceError, match=r"gave up after 3 attempts: HTTP 503") as caught:
        http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert "\n" not in str(caught.value)
    assert len(recorded_server.requests_to("/wikidata/")) == 3


def test_retry_after_beyond_the_limit_is_refused_without_waiting(recorded_server):
    recorded_server.fail_next("429", retry_after="3600", match="/wikidata/")
    started = time.monotonic()
    with pytest.raises(SourceError, match="asks to wait 3600 s"):
        client().get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert time.monotonic() - started < 0.5


def test_maxlag_is_sent_and_a_real_maxlag_error_backs_off_then_retries(recorded_server):
    assert b'"code": "maxlag"' in recorded_server.maxlag_body  # the real recorded error body
    recorded_server.fail_next("maxlag", retry_after="1", match="/wikidata/")
    http = client()
    started = time.monotonic()
    answer = http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert label(answer) == "Douglas Adams"
    assert time.monotonic() - started >= 0.95
    sent = recorded_server.requests_to("/wikidata/")
    assert len(sent) == 2
    assert all(r.params["maxlag"] == str(get_settings().maxlag_s) for r in sent)
    assert all(r.params["format"] == "json" for r in sent)


def test_other_api_errors_fail_fast(recorded_server):
    with pytest.raises(SourceError, match="API error badvalue"):
        client().get_json(recorded_server.mediawiki_api, {"action": "nonsense"}, mediawiki=True)
    assert len(recorded_server.requests_to("/wikidata/")) == 1


def test_every_request_carries_the_configured_user_agent(recorded_server, monkeypatch):
    monkeypatch.setenv("DAFSET_CONTACT", "ops@dafset.example")
    settings = get_settings()
    http = HttpClient(settings, policy=FAST)
    recorded_server.fail_next("503", match="/wikidata/")  # retries must carry it too
    http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    http.get_json(recorded_server.wikipedia_api, {"action": "query", "prop": "pageprops", "titles": "Douglas Adams"}, mediawiki=True)
    http.get_json(f"{recorded_server.pageviews_api}/metrics/pageviews/per-article/en.wikipedia/all-access/user/Facebook/daily/2025081500/2025081900")
    agents = {r.user_agent for r in recorded_server.requests}
    assert len(recorded_server.requests) == 4
    assert agents == {settings.user_agent}
    assert "ops@dafset.example" in settings.user_agent and settings.user_agent.startswith("dafset/")


def test_stats_count_requests_and_bytes(recorded_server):
    http = client()
    http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    snap = http.stats.snapshot()
    assert snap["requests"] == 1 and snap["bytes"] > 50 and snap["cache_hits"] == 0
    assert http.stats.per_1000(10)["requests"] == 100.0


def test_describe_names_method_url_and_key_params():
    text = describe("GET", "https://www.wikidata.org/w/api.php", {"action": "wbgetentities", "ids": "Q1|Q2", "format": "json", "maxlag": 5})
    assert text == "GET https://www.wikidata.org/w/api.php (action=wbgetentities ids=Q1|Q2)"


# -- cache --------------------------------------------------------------------------------------


def test_cache_hits_avoid_the_network(recorded_server, tmp_path: Path):
    http = client(cache=ResponseCache(tmp_path))
    first = http.get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    second = http.get_json(recorded_server.mediawiki_api, dict(reversed(Q42.items())), mediawiki=True)
    assert first == second
    assert len(recorded_server.requests_to("/wikidata/")) == 1
    assert http.stats.requests == 1 and http.stats.cache_hits == 1
    assert not list(tmp_path.rglob(".tmp-*"))  # atomic writes leave no temporary files


def test_failures_and_truncated_bodies_are_not_cached(recorded_server, tmp_path: Path):
    cache = ResponseCache(tmp_path)
    recorded_server.fail_next("status", status=404, match="/wikidata/")
    with pytest.raises(SourceError):
        client(cache=cache).get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert not list(tmp_path.rglob("*.json"))
    recorded_server.fail_next("truncated_json", match="/wikidata/")
    answer = client(cache=cache).get_json(recorded_server.mediawiki_api, Q42, mediawiki=True)
    assert label(answer) == "Douglas Adams"
    (entry,) = tmp_path.rglob("*.json")
    assert b"Douglas Adams" in entry.read_bytes()


def test_cache_ttl_expires_entries(tmp_path: Path):
    import os

    cache = ResponseCache(tmp_path, ttl_s=60)
    key = ResponseCache.key("GET", "http://x/api", {"b": 2, "a": 1})
    assert key == ResponseCache.key("GET", "http://x/api", {"a": 1, "b": 2})
    assert key != ResponseCache.key("GET", "http://x/api", {"a": 1, "b": 3})
    cache.put(key, {"v": 1})
    assert cache.get(key) == {"v": 1}
    (path,) = tmp_path.rglob("*.json")
    old = time.time() - 120
    os.utime(path, (old, old))
    assert cache.get(key) is MISSING
    assert ResponseCache(tmp_path).get(key) == {"v": 1}  # no TTL: still there
    path.write_bytes(b"{broken")
    assert cache.get(key) is MISSING


def test_bytes_are_counted_as_sent_over_the_wire(recorded_server):
    import gzip

    from standins.recorded import Reply

    body = b'{"text": "' + b"x" * 20_000 + b'"}'
    packed = gzip.compress(body)
    recorded_server.add_route("/gzipped", lambda _r: Reply(200, packed, headers={"Content-Encoding": "gzip"}))
    http = client()
    assert len(http.get_json(f"{recorded_server.url}/gzipped")["text"]) == 20_000
    assert http.stats.bytes == len(packed) < len(body)

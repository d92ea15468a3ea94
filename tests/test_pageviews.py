"""Pageviews REST client: real recorded per-article answers; top lists synthesised by the stand-in."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import unquote

import pytest

from dafset.settings import get_settings
from dafset.sources.live.http import HttpClient, RetryPolicy
from dafset.sources.live.pageviews import PageviewsClient, article_path, is_article, top_segments

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=10)
AUG15, AUG19 = date(2025, 8, 15), date(2025, 8, 19)


@pytest.fixture
def views(recorded_server) -> PageviewsClient:
    return PageviewsClient(HttpClient(get_settings(), policy=FAST), recorded_server.pageviews_api)


def test_per_article_sums_real_recorded_daily_views(views, recorded_server):
    titles = ["Facebook", "HIV/AIDS", "Broussard's", "André the Giant", "THIS IS NOT A REAL ARTICLE"]
    got = views.per_article(titles, AUG15, AUG19)
    assert got["Facebook"].views == 19225 + 19328 + 18155 + 20395 + 22844
    assert got["HIV/AIDS"].views > 0 and got["Broussard's"].views > 0 and got["André the Giant"].views > 0
    assert got["THIS IS NOT A REAL ARTICLE"].views == 0  # the real 404 problem document
    assert not any(v.derived for v in got.values())
    sent = recorded_server.requests_to("/api/rest_v1/")
    assert len(sent) == 5
    # the requests are exactly the recorded ones, so the recorded bodies were replayed
    assert unquote(sent[1].raw_path).endswith("/per-article/en.wikipedia/all-access/user/HIV/AIDS/daily/2025081500/2025081900")
    assert "/user/HIV%2FAIDS/daily/" in sent[1].raw_path
    assert "/user/Broussard's/daily/" in sent[2].raw_path


def test_per_article_window_is_a_sub_range(views):
    got = views.per_article(["Facebook"], date(2025, 8, 16), date(2025, 8, 17))
    assert got["Facebook"].views == 19328 + 18155


def test_top_sums_days_and_drops_non_articles(views, recorded_server):
    data = recorded_server.pageviews
    days = [AUG15 + timedelta(days=i) for i in range(3)]
    data.add_daily("Main_Page", {d: 5_000_000 for d in days})
    data.add_daily("Special:Search", {d: 900_000 for d in days})
    data.add_daily("File:Example.jpg", {d: 800_000 for d in days})
    data.add_daily("Star Wars: Episode IV – A New Hope", {days[0]: 60_000, days[2]: 1})
    top = views.top(days[0], days[2], limit=3)
    assert [p.title for p in top] == ["\"Weird Al\" Yankovic", "Star Wars: Episode IV – A New Hope", "Facebook"]
    assert top[2].views == 19225 + 19328 + 18155
    assert top[1].views == 60_001
    sent = recorded_server.requests_to("/api/rest_v1/")
    assert [r.path.rsplit("/", 3)[1:] for r in sent] == [["2025", "08", "15"], ["2025", "08", "16"], ["2025", "08", "17"]]


def test_top_uses_the_monthly_list_for_whole_months(views, recorded_server):
    recorded_server.pageviews.add_daily("Douglas Adams", {date(2025, 7, 31): 10, date(2025, 8, 1): 5, date(2025, 9, 1): 7})
    top = views.top(date(2025, 7, 31), date(2025, 9, 1), limit=1000)
    paths = [r.path for r in recorded_server.requests_to("/api/rest_v1/")]
    assert [p.rsplit("/", 3)[1:] for p in paths] == [["2025", "07", "31"], ["2025", "08", "all-days"], ["2025", "09", "01"]]
    adams = next(p for p in top if p.title == "Douglas Adams")
    assert adams.views == 22


def test_top_answer_is_labelled_derived(recorded_server):
    import requests

    answer = requests.get(f"{recorded_server.pageviews_api}/metrics/pageviews/top/en.wikipedia/all-access/2025/08/15", timeout=5)
    assert answer.status_code == 200
    assert "synthesised" in answer.headers["X-Standin-Derived"]
    item = answer.json()["items"][0]
    assert set(item) == {"project", "access", "year", "month", "day", "articles"}
    assert item["articles"][0]["rank"] == 1


def test_no_top_data_means_an_empty_list(views):
    assert views.top(date(2001, 1, 1), date(2001, 1, 2), limit=10) == []


@pytest.mark.parametrize(
    ("title", "article"),
    [
        ("Douglas Adams", True),
        ("Star Wars: Episode IV", True),
        ("Main_Page", False),
        ("Special:Search", False),
        ("File:Example.jpg", False),
        ("Wikipedia:Featured pictures", False),
        ("User talk:Example", False),
        ("Portal:Current_events", False),
        ("-", False),
    ],
)
def test_is_article(title, article):
    assert is_article(title) is article


def test_top_segments_and_article_paths():
    assert list(top_segments(date(2025, 2, 27), date(2025, 3, 31))) == [
        (2025, 2, "27"), (2025, 2, "28"), (2025, 3, "all-days")
    ]
    assert list(top_segments(date(2025, 12, 1), date(2025, 12, 31))) == [(2025, 12, "all-days")]
    assert article_path("HIV/AIDS") == "HIV%2FAIDS"
    assert article_path("André the Giant") == "Andr%C3%A9_the_Giant"
    assert article_path("Broussard's") == "Broussard's"

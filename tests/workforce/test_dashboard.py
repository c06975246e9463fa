"""The dashboard's pages through Flask's test client: sign-in with CSRF and throttling, the
session cookie's flags, the CSP, what each page shows for the hand-counted workforce, the level
override form, CSV download, languages. (tests/workforce/test_browser.py drives a real browser.)"""

from __future__ import annotations

import csv
import io
import re

import pytest

from backend.extensions import db
from tests.workforce.conftest import PASSWORD

LOGIN = "/dashboard/login"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, email: str = "manager@workforce.test", password: str = PASSWORD, next_url: str = ""):
    page = client.get(LOGIN)
    return client.post(LOGIN, data={"email": email, "password": password, "csrf_token": _csrf(page.text),
                                    "next": next_url})


def test_pages_need_a_signed_in_manager(client, workforce):
    response = client.get("/dashboard/workers?skill=bbox")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/login?next=")
    response = sign_in(client, next_url="/dashboard/workers?skill=bbox")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/workers?skill=bbox"
    assert client.get("/dashboard/workers").status_code == 200


def test_session_cookie_flags_and_security_headers(client, workforce):
    response = sign_in(client)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("labelpath_dashboard=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here; behind HTTPS the cookie is Secure
    secure = client.get(LOGIN, base_url="https://localhost")
    assert "Secure" in secure.headers.get("Set-Cookie", "Secure")
    page = client.get("/dashboard/")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script" not in page.text and "style=" not in page.text  # nothing the CSP would block
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")  # no CDN, nothing outside
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and "text/css" in css.content_type


def test_sign_in_refuses_wrong_passwords_workers_and_forged_forms(client, workforce):
    assert sign_in(client, password="wrong password").status_code == 401
    refused = sign_in(client, email="minsu@workforce.test")
    assert refused.status_code == 403 and "관리자 전용" in refused.text
    page = client.get(LOGIN)
    forged = client.post(LOGIN, data={"email": "manager@workforce.test", "password": PASSWORD,
                                      "csrf_token": "not-the-token"})
    assert forged.status_code == 400 and "csrf" not in page.text.lower().replace("csrf_token", "")
    assert client.get("/dashboard/").status_code == 302  # still signed out


def test_sign_in_is_throttled_like_the_api(app, client, workforce):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    statuses = [sign_in(client, password="wrong password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    throttled = sign_in(client)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert "로그인 시도가 너무 많습니다" in throttled.text


def test_no_open_redirect_after_sign_in(client, workforce):
    for target in ("https://evil.example/", "//evil.example/x", "/api/v1/me", "/dashboard\\..\\x"):
        response = sign_in(client, next_url=target)
        assert response.headers["Location"] == "/dashboard/", target
        client.post("/dashboard/logout", data={"csrf_token": _csrf(client.get("/dashboard/").text)})


def test_a_password_change_ends_the_session(app, client, workforce):
    sign_in(client)
    assert client.get("/dashboard/").status_code == 200
    with app.app_context():
        from backend.accounts import services as accounts

        user = accounts.get_user(workforce.manager_id)
        user.password_hash = accounts.hash_password("another password 2")
        db.session.commit()
    assert client.get("/dashboard/").status_code == 302


def test_logout_needs_the_csrf_token(client, workforce):
    sign_in(client)
    assert client.post("/dashboard/logout", data={"csrf_token": "x"}).status_code == 400
    assert client.get("/dashboard/").status_code == 200
    token = _csrf(client.get("/dashboard/").text)
    assert client.post("/dashboard/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/dashboard/").status_code == 302


def test_overview_shows_the_workforce(client, workforce):
    sign_in(client)
    html = client.get("/dashboard/").text
    kpis = dict(re.findall(r'data-kpi="(\w+)">([\d,]+)<', html))
    assert kpis == {"workers": "5", "certified": "3", "active_7d": "1", "active_30d": "2", "expiring_30d": "1"}
    assert 'data-chart="levels" data-bars="2"' in html  # bbox: level 1 (2 workers) and level 2 (1)
    assert re.search(r'class="bar level-1" data-value="2"', html)
    assert 'data-chart="funnel" data-bars="6"' in html
    assert 'data-chart="accuracy" data-bars="0" data-workers="0"' in html  # nobody has 5 gold answers yet
    assert 'data-chart="throughput" data-bars="2" data-answers="8"' in html
    assert 'data-eligible="3"' in html and "문장 분류" in html
    assert f'href="/dashboard/workers/{workforce.ids["yujin"]}">최유진</a>' in html  # expiring soon
    assert "바운딩 박스" in html and "가입부터 활동까지" in html


def test_overview_in_english(client, workforce):
    sign_in(client)
    html = client.get("/dashboard/?lang=en").text
    assert "Levels per skill" in html and "Bounding boxes" in html and 'lang="en"' in html
    assert "Levels per skill" in client.get("/dashboard/").text  # the choice is kept in the session


def test_workers_page_filters_links_and_csv(client, workforce):
    sign_in(client)
    html = client.get("/dashboard/workers?skill=bbox&min_level=1&sort=-answers").text
    assert re.findall(r'class="worker-link" href="/dashboard/workers/\d+">([^<]+)<', html) == \
        ["김민수", "이서연", "최유진"]
    assert 'data-total="3"' in html
    response = client.get("/dashboard/workers.csv?activity=active_30d")
    assert response.data.startswith("\ufeff".encode()) and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [row["display_name"] for row in rows] == ["김민수", "이서연"]


def test_worker_page_and_level_override(app, client, workforce):
    sign_in(client)
    minsu = workforce.ids["minsu"]
    html = client.get(f"/dashboard/workers/{minsu}").text
    assert "김민수" in html and 'data-chart="level-timeline" data-events="1"' in html
    assert re.search(r'data-measure="gold">\s*<span class="value">100.0%', html)
    assert re.search(r'data-measure="appeals">\s*<span class="value">1<', html)
    token = _csrf(html)
    url = f"/dashboard/workers/{minsu}/skills/bbox"
    assert client.post(url, data={"level": "3", "reason": "x", "csrf_token": "forged"}).status_code == 400
    assert client.post(url, data={"level": "3", "reason": " ", "csrf_token": token}).status_code == 422
    response = client.post(url, data={"level": "3", "reason": "현장 평가 통과", "csrf_token": token})
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).text
    assert 'data-skill="bbox" data-level="3"' in html and "바운딩 박스 레벨을 저장했습니다." in html
    assert 'data-chart="level-timeline" data-events="2"' in html
    assert client.get("/dashboard/workers/999999").status_code == 404


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/workers", "/dashboard/workers.csv"])
def test_reviewers_may_not_sign_in(client, workforce, path):
    sign_in(client, email="reviewer@workforce.test")
    assert client.get(path).status_code == 302

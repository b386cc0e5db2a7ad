from __future__ import annotations


def test_home_requires_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_viewer_sees_home(viewer_client):
    response = viewer_client.get("/")
    assert response.status_code == 200
    assert b"Overview" in response.content

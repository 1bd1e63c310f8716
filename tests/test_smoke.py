"""The factory builds an app that serves its front page and health check."""


def test_front_page_redirects_to_catalogue(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/items/")


def test_healthz_answers_when_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "up"

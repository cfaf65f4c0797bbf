from django.contrib.auth.models import Group


def test_migrate_creates_the_operators_and_viewers_groups(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"operators", "viewers"}


def test_the_home_page_redirects_an_anonymous_visitor_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_the_home_page_shows_the_navigation_to_a_logged_in_operator(operator_client):
    response = operator_client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<nav aria-label="Main">' in body
    assert "olga" in body
    assert "read only" not in body


def test_a_viewer_is_marked_read_only(viewer_client):
    body = viewer_client.get("/").content.decode()
    assert "read only" in body


def test_a_logged_in_user_who_is_not_staff_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user(username="nobody", password="x")
    client.force_login(user)
    assert client.get("/").status_code == 403


def test_the_login_page_logs_a_staff_user_in(client, operator):
    response = client.post("/accounts/login/", {"username": "olga", "password": "pw-olga"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_the_sixth_failed_login_is_refused_even_with_the_right_password(client, operator):
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "olga", "password": "wrong"})
        assert response.status_code in (200, 429)
    response = client.post("/accounts/login/", {"username": "olga", "password": "pw-olga"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert client.get("/").status_code == 302  # still not logged in

"""The redis_server fixture is the broker the distributed tests need: a real redis-server on
loopback that requires its password, keeps nothing on disk, gives each test an empty
database, and is gone when the session ends."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.redis_server import DATABASES, PASSWORD, running_redis

redis = pytest.importorskip("redis")


def test_the_server_answers_ping_with_its_password_and_refuses_without_it(redis_server):
    # Given the URL a broker option would be given (it carries the password)
    url = redis_server.url()
    assert url == f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    # Then a client built from that URL is answered
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        assert client.ping() is True
    # and one without a password, or with a wrong one, is refused
    with redis_server.client(password=None) as anonymous:
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    with redis.Redis.from_url(redis_server.url(password="Wr0ng-Pa55"), socket_timeout=5) as wrong:
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()


def test_the_server_listens_on_loopback_only_and_keeps_nothing_on_disk(redis_server):
    with redis_server.client() as client:
        config = client.config_get("*")
    assert config["bind"] == "127.0.0.1"
    assert config["protected-mode"] == "yes"
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert int(config["databases"]) == DATABASES


def test_new_url_gives_an_emptied_database_number_cycling_through_all_sixteen(redis_server):
    # Given a key left in the database of one test
    first = redis_server.new_url()
    with redis.Redis.from_url(first, socket_timeout=5) as client:
        client.set("left-over", "from an earlier test")
        assert client.dbsize() == 1
    # When the next sixteen tests each take a database
    urls = [redis_server.new_url() for _ in range(DATABASES)]
    # Then the first fifteen are the other numbers, and the sixteenth is the first one again
    numbers = [int(url.rsplit("/", 1)[1]) for url in [first, *urls]]
    assert sorted(numbers[:DATABASES]) == list(range(DATABASES))
    assert urls[-1] == first
    # emptied before it was handed out again
    with redis.Redis.from_url(first, socket_timeout=5) as client:
        assert client.dbsize() == 0


def test_the_server_stops_and_its_directory_goes_when_the_context_ends():
    # Given a second server, started and stopped as the session fixture's is
    with running_redis() as server:
        with server.client() as client:
            assert client.ping() is True
            directory = Path(client.config_get("dir")["dir"])
        assert directory.is_dir()
        port = server.port
    # Then nothing answers on its port any more, and its temporary directory is gone
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not directory.exists()

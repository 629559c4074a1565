"""A wrong Redis URL gets one line naming the actual mistake and its fix (issue 13, item 6):
not `hqueue serve` for a typo'd scheme, not the ACL file for a database that does not exist."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hqueue.backends.redis.connection import RedisUnreachable, check_redis
from hqueue.cli import main


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.parametrize("scheme", ["reddis://", "redis:/", "http://", "127.0.0.1:"])
def test_a_url_with_a_wrong_scheme_names_the_schemes_hqueue_accepts(redis_url, scheme):
    url = scheme + f"127.0.0.1:{port_of(redis_url)}/0"
    with pytest.raises(RedisUnreachable, match="is not a Redis URL: it starts with redis://") \
            as info:
        check_redis(url)
    assert "hqueue serve" not in str(info.value)


def test_tls_against_a_plain_server_says_to_use_redis(redis_url):
    url = f"rediss://127.0.0.1:{port_of(redis_url)}/0"
    with pytest.raises(RedisUnreachable, match="did not answer TLS.*use redis:// for a server "
                                               "without TLS"):
        check_redis(url, timeout_s=1)


def test_a_database_out_of_range_says_which_numbers_exist(redis_url):
    url = f"redis://127.0.0.1:{port_of(redis_url)}/99"
    with pytest.raises(RedisUnreachable, match="has no such database.*0 to 15") as info:
        check_redis(url)
    assert "ACL" not in str(info.value)


def test_the_cli_prints_the_url_mistake_in_one_line(redis_url):
    result = CliRunner().invoke(main, ["status", "--url",
                                       f"reddis://127.0.0.1:{port_of(redis_url)}/0"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "is not a Redis URL" in result.output

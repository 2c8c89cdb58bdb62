import pytest

from casaudit.parse.http_auth import parse_challenges, schemes


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (['Basic realm="mail"'], ("Basic",)),
        (['Negotiate', 'NTLM'], ("Negotiate", "NTLM")),
        (['Basic realm="a, b", NTLM'], ("Basic", "NTLM")),
        (['Digest realm="x", nonce="y", qop="auth", Basic realm = "z"'], ("Digest", "Basic")),
        (['NTLM TlRMTVNTUAACAAAA=='], ("NTLM",)),
        (['bAsIc realm=x'], ("Basic",)),
        (['', ',,', '=', '"unterminated', 'realm="orphan"'], ()),
    ],
)
def test_schemes(values, expected):
    assert schemes(values) == expected


def test_token68_and_params_are_kept_as_data():
    challenges = parse_challenges(['NTLM TlRMTVNTUAACAAAA==, Basic realm="r", charset="UTF-8"'])
    assert challenges[0].data == "TlRMTVNTUAACAAAA=="
    assert challenges[1].data == 'realm="r", charset="UTF-8"'


def test_hostile_sizes_are_bounded():
    many = ["Basic, " * 10_000]
    assert len(parse_challenges(many * 100)) <= 50

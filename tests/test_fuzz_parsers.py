"""Property tests for every parser of server bytes not fuzzed elsewhere (NTLM is, in
test_ntlm_parser.py): WWW-Authenticate, POP3/IMAP4 replies, Autodiscover XML and JSON,
build and Exchange-marker extraction, the logon-form finder.

None of these documents an error type: each promises to return its result type on
any input (a hostile server chooses the input). Each property feeds arbitrary
text or bytes, and near-valid input built from the real grammar with hostile
pieces spliced in. Derandomized with no example database: CI sees the same
examples every run, and the suite stays at a few seconds.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casaudit.evidence.http import LogonForm
from casaudit.exchange import classify, exchange_major, exchange_markers, exchange_signals
from casaudit.identify import Build, Identification, identify, sightings_in
from casaudit.parse.autodiscover import (
    MAX_SETTINGS,
    MAX_TEXT_CHARS,
    MAX_XML_BYTES,
    OUTLOOK_RESPONSE,
    JsonV2Summary,
    PoxSummary,
    looks_like_html,
    looks_like_xml,
    parse_json_v2,
    parse_pox,
    unread_failure,
)
from casaudit.parse.html_form import MAX_ATTRIBUTE_CHARS, find_logon_form
from casaudit.parse.http_auth import MAX_CHALLENGES, MAX_VALUE_CHARS, Challenge, parse_challenges, schemes
from casaudit.parse.mail import (
    BannerProduct,
    UserReply,
    classify_user_reply,
    identify_banner,
    imap_sasl,
    pop3_has,
    pop3_sasl,
)
from tests.factories import baseline, evidence_set, exchange, http_evidence

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

#: What hostile servers splice in: quotes, escapes, separators, control and odd Unicode.
HOSTILE_PIECES = st.sampled_from([
    '"', "\\", ",", "=", ";", " ", "\t", "\r\n", "\x00", "\x1b[2J", "\ufffd", "\u202e", "<", ">",
    "&", "]]>", "<!--", "'", "%", "\u00ff", "..", "/", "[", "]", "(", ")",
])
NOISE = st.text(max_size=200) | st.lists(HOSTILE_PIECES, max_size=20).map("".join)


def _splice(parts: list[str]) -> str:
    return "".join(parts)


# --------------------------------------------------------------------------- WWW-Authenticate

TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+.^_`|~-", min_size=1, max_size=12)
SCHEME = st.sampled_from(["Basic", "NTLM", "Negotiate", "Digest", "Bearer", "basic", "ntlm"]) | TOKEN
QUOTED = st.lists(st.sampled_from(['"', "\\", ",", "a", " ", "="]) | st.text(max_size=5), max_size=10).map(
    lambda parts: '"' + "".join(parts) + '"')
PARAM = st.tuples(TOKEN, st.sampled_from(["=", " = ", "="]), QUOTED | TOKEN).map("".join)
CHALLENGE = st.tuples(
    SCHEME, st.lists(PARAM, max_size=4).map(", ".join), st.sampled_from(["", " "]),
    st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=40),
).map(lambda t: f"{t[0]} {t[1]}" if t[1] else f"{t[0]}{t[2]}{t[3]}")
HEADER_VALUE = st.lists(CHALLENGE | NOISE, min_size=1, max_size=6).map(
    lambda items: ", ".join(items)) | NOISE


@FUZZ
@given(st.lists(HEADER_VALUE, max_size=60))
def test_www_authenticate_values_always_give_bounded_challenges(values):
    challenges = parse_challenges(values)
    assert isinstance(challenges, tuple) and len(challenges) <= MAX_CHALLENGES
    for challenge in challenges:
        assert isinstance(challenge, Challenge)
        assert 0 < len(challenge.scheme) <= 32 and len(challenge.data) <= MAX_VALUE_CHARS
    offered = schemes(values)
    assert len(offered) == len(set(offered)) and set(offered) == {c.scheme for c in challenges}


# --------------------------------------------------------------------------- POP3 / IMAP4

STATUS = st.sampled_from(["* OK ", "+OK ", "* OK [CAPABILITY IMAP4rev1 STARTTLS] ", "-ERR ", "* BYE ", ""])
PRODUCT = st.sampled_from([
    "Microsoft Exchange Server 2003 IMAP4rev1 server version 6.5.7638.1 (mail.x.test) ready",
    "Microsoft Exchange 2000 POP3 server version ", "The Microsoft Exchange IMAP4 service is ready.",
    "The Microsoft Exchange POP3 service is ready. [", "Microsoft Exchange Server 2007 POP3 service ready",
    "Dovecot (Debian) ready.", "Dovecot ready", "Cyrus IMAP v", "version 1.2.3", "v9999.9999.999999.999999",
])
VERSION = st.from_regex(r"\d{1,6}(\.\d{1,7}){0,5}", fullmatch=True)
GREETING = st.lists(st.one_of(STATUS, PRODUCT, NOISE, VERSION), max_size=8).map(_splice)
SERVER_BYTES = st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace"))


@FUZZ
@given(GREETING | SERVER_BYTES | st.none())
def test_greetings_always_give_a_banner_or_none(greeting):
    banner = identify_banner(greeting)
    assert banner is None or isinstance(banner, BannerProduct)
    if banner is not None:
        assert banner.product and (banner.host is None or len(banner.host) <= 253)


CAPA_LINE = st.lists(st.sampled_from(["SASL", "STLS", "USER", "AUTH=", "AUTH=PLAIN", "NTLM", "PLAIN",
                                      "LOGINDISABLED", "STARTTLS", " ", ".", ".."]) | NOISE,
                     max_size=6).map(" ".join)


@FUZZ
@given(st.lists(CAPA_LINE | SERVER_BYTES, max_size=30), NOISE)
def test_capability_lists_always_give_mechanism_tuples(lines, name):
    for found in (imap_sasl(lines), pop3_sasl(lines)):
        assert isinstance(found, tuple) and len(found) == len(set(found))
        assert all(isinstance(item, str) and item == item.upper() for item in found)
    assert isinstance(pop3_has(lines, name or "STLS"), bool)


@FUZZ
@given(st.one_of(st.none(), st.lists(st.sampled_from(["-ERR ", "+OK", "-err", "[PRIVACYREQUIRED]",
                                                        "Plaintext authentication disallowed",
                                                        "must issue a STARTTLS", "TLS required"]) | NOISE,
                                       max_size=6).map(_splice), SERVER_BYTES))
def test_user_replies_always_classify(reply):
    verdict = classify_user_reply(reply)
    assert isinstance(verdict, UserReply)
    assert verdict.outcome in ("accepted", "refused_tls_required", "refused_unknown", "no_answer")


# --------------------------------------------------------------------------- Autodiscover

NAMES = st.sampled_from(["Autodiscover", "Response", "Account", "Action", "Protocol", "Type", "Server",
                         "SSL", "EwsUrl", "OABUrl", "ASUrl", "Url", "Error", "ErrorCode", "Message",
                         "RedirectUrl", "RedirectAddr", "Settings", "User"]) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
NAMESPACES = st.sampled_from([
    "", ' xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"',
    f' xmlns="{OUTLOOK_RESPONSE}"', ' xmlns="urn:x"', ' xmlns:a="urn:a"',
])
TEXTS = st.sampled_from(["https://mail.x.test/EWS/Exchange.asmx", "http://x.test/", "EXPR", "EXCH",
                         "Off", "settings", "600", "https://" + "a" * 3000]) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30).map(
    lambda t: t.replace("&", "&amp;").replace("<", "&lt;"))
DOCTYPES = st.sampled_from([
    "", '<!DOCTYPE a [<!ENTITY e "x">]>', '<!DOCTYPE a SYSTEM "http://127.0.0.1:9/d.dtd">',
    '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    '<?xml version="1.0"?>', "\ufeff",
])


@st.composite
def xml_documents(draw, depth: int = 0) -> str:
    def element(level: int) -> str:
        name = draw(NAMES)
        attrs = draw(st.sampled_from(["", ' Type="EXPR"', ' AuthenticationMethod="Fba"', ' a="&e;"']))
        namespace = draw(NAMESPACES) if level < 2 else ""
        if level >= 4 or draw(st.booleans()):
            inner = draw(TEXTS | st.sampled_from(["&e;", "&amp;", "<![CDATA[x]]>", ""]))
        else:
            inner = "".join(element(level + 1) for _ in range(draw(st.integers(0, 4))))
        close = draw(st.sampled_from([f"</{name}>"] * 8 + ["", "</x>", f"</{name}"]))
        return f"<{name}{namespace}{attrs}>{inner}{close}"

    return draw(DOCTYPES) + element(0)


XML_BYTES = st.one_of(
    st.binary(max_size=400),
    xml_documents().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(xml_documents(), st.integers(0, 400)).map(lambda t: t[0].encode()[: t[1]]),
)


@FUZZ
@given(XML_BYTES, st.booleans())
def test_autodiscover_xml_always_gives_a_bounded_summary(body, truncated):
    summary = parse_pox(body, truncated)
    assert isinstance(summary, PoxSummary)
    assert (summary.parse_error is None) == (unread_failure(summary) is None)
    if truncated:
        assert unread_failure(summary) == "xml_too_large"
    assert len(summary.settings) <= MAX_SETTINGS
    assert all(len(s.url) <= MAX_TEXT_CHARS + 40 for s in summary.settings)
    assert isinstance(looks_like_xml(body), bool) and isinstance(looks_like_html("text/xml", body), bool)


def test_an_oversized_body_is_not_parsed():
    assert unread_failure(parse_pox(b"<a>" + b"x" * MAX_XML_BYTES + b"</a>")) == "xml_too_large"


JSON_BYTES = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["Protocol", "Url", "x"]) | st.text(max_size=5), inner, max_size=4),
                 max_leaves=20).map(lambda v: __import__("json").dumps(v).encode()),
)


@FUZZ
@given(JSON_BYTES, st.booleans())
def test_autodiscover_json_always_gives_a_summary(body, truncated):
    summary = parse_json_v2(body, truncated)
    assert isinstance(summary, JsonV2Summary)
    assert summary.url is None or (isinstance(summary.url, str) and len(summary.url) <= MAX_TEXT_CHARS)


# --------------------------------------------------------------------------- builds and markers

BUILD_TEXT = st.one_of(
    st.from_regex(r"\s?\d{1,7}(\.\d{1,7}){0,5}\s?", fullmatch=True),
    st.sampled_from(["15.1.2507.16", "15.2.2562", "14.00.0536.000", "8.1", "15.1", "6.5.7638.1"]),
    NOISE,
)
HEADER_NAMES = st.sampled_from(["X-OWA-Version", "MS-Server-ActiveSync", "Server", "X-Powered-By",
                                "X-AspNet-Version", "Location", "Set-Cookie", "X-FEServer",
                                "X-ServerApplication", "WWW-Authenticate"]) | TOKEN
HEADERS = st.lists(st.tuples(HEADER_NAMES, BUILD_TEXT | st.sampled_from(
    ["Microsoft-IIS/10.0", "ASP.NET", "X-BackEndCookie=x", "/owa/auth/logon.aspx", "Exchange/15"])),
    max_size=8).map(tuple)
PATHS = st.tuples(st.sampled_from(["/owa/", "/owa/auth/", "/ecp/", "/OWA/AUTH/", "/exchweb/bin/auth/"]),
                  BUILD_TEXT, st.sampled_from(["/", "", "/themes/"])).map("".join)
BODY = st.lists(PATHS | NOISE | st.sampled_from(["<!-- OwaPage = ASP.auth_logon_aspx -->",
                                                 "Exchange MAPI/HTTP Connectivity Endpoint"]),
                max_size=8).map(_splice)


@FUZZ
@given(BUILD_TEXT)
def test_build_numbers_parse_or_are_none(text):
    build = Build.parse(text)
    assert build is None or (isinstance(build, Build) and len(build.parts) in (3, 4))


@settings(FUZZ, max_examples=150)
@given(st.lists(st.tuples(HEADERS, BODY, st.sampled_from([200, 302, 401, 404, None])), min_size=1,
                max_size=4), st.sampled_from(["/owa", "/ecp", "/EWS/Exchange.asmx"]))
def test_version_and_marker_extraction_never_raise(answers, path):
    chain = tuple(exchange(f"https://mail.x.test:443{path}", status, headers=headers, body=body,
                           auth=("NTLM",) if status == 401 else ())
                  for headers, body, status in answers)
    item = http_evidence(*chain, scheme="https", path=path, evidence_id="E1")
    found, hints = sightings_in(item)
    assert all(s.build is None or len(s.build.parts) in (3, 4) for s in found)
    for answer in chain:
        strong, weak = exchange_markers(answer)
        assert isinstance(strong, tuple) and isinstance(weak, tuple)
    base = baseline(*chain[:1], evidence_id="B1")
    evidence = evidence_set(item, base)
    assert exchange_signals(item, base) is not None and isinstance(classify(evidence), dict)
    major = exchange_major(evidence)
    assert major is None or major in (6, 8, 14, 15)
    assert all(isinstance(i, Identification) for i in identify(evidence))


# --------------------------------------------------------------------------- logon forms

ATTRIBUTE = st.tuples(
    st.sampled_from(["action", "method", "type", "href", "name", "ACTION", "Type"]) | TOKEN,
    st.sampled_from(["", "=", "='", '="']),
    st.sampled_from(["password", "PASSWORD ", "https://x.test/owa/auth.owa", "http://x.test/a",
                     "//other.test/x", "javascript:alert(1)", "http://[::1", "http://[bad", "post",
                     "&#x68;ttp://x", ""]) | NOISE,
    st.sampled_from(["", "'", '"']),
).map(lambda t: f"{t[0]}{t[1]}{t[2]}{t[3]}" if t[1] else t[0])
TAG = st.tuples(st.sampled_from(["form", "input", "base", "FORM", "/form", "script", "!--", "![CDATA[",
                                 "!DOCTYPE html", "?xml"]),
                st.lists(ATTRIBUTE, max_size=4)).map(lambda t: f"<{t[0]} {' '.join(t[1])}>")
HTML = st.lists(TAG | NOISE, max_size=25).map(_splice)
PAGE_URL = st.sampled_from(["https://mail.x.test/owa/auth/logon.aspx", "http://mail.x.test/",
                            "http://[::1", "https://mail.x.test:99999/", ""]) | NOISE


@FUZZ
@given(HTML | st.text(max_size=500), PAGE_URL)
def test_logon_forms_are_found_or_not_never_an_exception(html, page_url):
    form = find_logon_form(html, page_url)
    assert form is None or isinstance(form, LogonForm)
    if form is not None:
        assert form.action_url is None or form.action_url.lower().startswith(("http://", "https://"))
        assert form.action_url is None or len(form.action_url) <= MAX_ATTRIBUTE_CHARS
        assert form.posts_cleartext == bool(form.action_url and form.action_url.lower().startswith("http:"))


# --------------------------------------------------------------------------- the POP3 dialogue

POP3_STREAM = st.lists(st.sampled_from([b"+OK ready\r\n", b"+OK\r\n", b".\r\n", b"..x\r\n", b"SASL NTLM\r\n",
                                        b"STLS\r\n", b"-ERR no\r\n", b"\n", b"\r", b"\x16\x03\x01",
                                        b"x" * 5000]) | st.binary(max_size=64), max_size=40).map(b"".join)


@settings(FUZZ, max_examples=150)
@given(POP3_STREAM)
def test_the_pop3_dialogue_reads_any_bytes_into_evidence_or_its_own_errors(stream):
    import socket

    from casaudit.evidence.mail import MailCapabilities
    from casaudit.probes.mail import _Budget, _Pop3, _Protocol, _TooLarge, _Transcript

    # Given a server that sends `stream` and hangs up, When the probe greets and asks CAPA,
    client, server = socket.socketpair()
    with client, server:
        server.sendall(stream[:100_000])
        server.shutdown(socket.SHUT_WR)
        session = _Pop3(client, _Budget(0.2), _Transcript())
        # Then it ends with a capability listing or one of its own errors, never another.
        try:
            session.greet()
            assert isinstance(session.capa(over_tls=False), MailCapabilities)
        except (_Protocol, _TooLarge, OSError):
            pass

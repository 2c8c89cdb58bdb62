"""Greeting and USER-reply parsing, with real wordings and hostile ones."""

from __future__ import annotations

import time

from casaudit.parse.mail import classify_user_reply, identify_banner, imap_sasl, pop3_has, pop3_sasl


def test_exchange_banners_by_release():
    old = identify_banner(
        "* OK Microsoft Exchange Server 2003 IMAP4rev1 server version 6.5.7638.1 (EXCH01.corp.local) ready."
    )
    assert old is not None and (old.release, old.version, old.host) == ("2003", "6.5.7638.1",
                                                                       "EXCH01.corp.local")
    e2000 = identify_banner("+OK Microsoft Exchange 2000 POP3 server version 6.0.6249.0 (mx) ready.")
    assert e2000 is not None and e2000.release == "2000"
    e2007 = identify_banner("+OK Microsoft Exchange Server 2007 POP3 service ready")
    assert e2007 is not None and e2007.release == "2007" and e2007.version is None
    modern = identify_banner("+OK The Microsoft Exchange POP3 service is ready. [QwBIADIAUABSADEA]")
    assert modern is not None and modern.release == "2010 or later" and "Online" in modern.form


def test_dovecot_and_neutral_greetings():
    debian = identify_banner("+OK Dovecot (Debian) ready.")
    assert debian is not None and debian.product == "Dovecot" and "Debian" in debian.form
    assert identify_banner("* OK IMAP4 service ready") is None
    assert identify_banner("+OK") is None
    assert identify_banner(None) is None


def test_unknown_product_with_a_version_is_still_disclosure():
    banner = identify_banner("* OK mailsrv IMAP v4.2.1 ready")
    assert banner is not None and banner.version == "4.2.1" and banner.product == "unrecognised software"


def test_hostile_greetings_are_bounded_and_linear():
    started = time.monotonic()
    for text in ("* OK [" + "[" * 100_000, "+OK " + "1." * 100_000, "* OK \x1b[31m" + "A" * 10**6):
        identify_banner(text)
        classify_user_reply(text)
    assert time.monotonic() - started < 1


def test_user_replies():
    assert classify_user_reply("+OK").outcome == "accepted"
    assert classify_user_reply("+OK send password").outcome == "accepted"
    dovecot = classify_user_reply(
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
    assert (dovecot.outcome, dovecot.wording) == ("refused_tls_required", "dovecot")
    exchange = classify_user_reply("-ERR Command is not valid in this state.")
    assert (exchange.outcome, exchange.wording) == ("refused_tls_required", "exchange")
    assert classify_user_reply("-ERR Must issue a STARTTLS command first.").wording == "starttls-first"
    assert classify_user_reply("-ERR no such user").outcome == "refused_unknown"
    assert classify_user_reply("garbage").outcome == "refused_unknown"
    assert classify_user_reply(None).outcome == "no_answer"


def test_capability_helpers():
    assert imap_sasl(["IMAP4rev1", "AUTH=NTLM", "auth=plain", "AUTH=", "AUTH=NTLM"]) == ("NTLM", "PLAIN")
    lines = ["TOP", "SASL GSSAPI PLAIN", "USER", "STLS"]
    assert pop3_sasl(lines) == ("GSSAPI", "PLAIN")
    assert pop3_has(lines, "stls") and not pop3_has(lines, "PIPELINING")
    assert not pop3_has(["USERS"], "USER")

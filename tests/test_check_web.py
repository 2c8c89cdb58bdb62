"""Unit tests of the web checks from built evidence: fail, pass, not assessed, no false positive."""

from casaudit.evidence.base import ProbeError
from casaudit.model import CheckStatus
from checks import (
    exchange_admin_exposed,
    exchange_legacy_vdir,
    http_basic_offered,
    http_cleartext_served,
    http_form_cleartext,
)
from tests.factories import baseline, evidence_set, exchange, http_evidence, logon_form

H = "mail.example.test"
SPA = "<html><title>Portal</title><form><input type=password></form></html>"
OWA_MARKERS = (("X-OWA-Version", "15.1.2507.6"),)


def _only(check, *items):
    outcomes = check.evaluate(evidence_set(*items, baseline(scheme="http"), baseline()))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def _refused(scheme, path, role):
    port = 80 if scheme == "http" else 443
    url = f"{scheme}://{H}:{port}{path}"
    return http_evidence(exchange(url, error=ProbeError("refused", "refused")),
                         scheme=scheme, path=path, role=role)


def _silent(scheme, path, role):
    port = 80 if scheme == "http" else 443
    url = f"{scheme}://{H}:{port}{path}"
    return http_evidence(exchange(url, error=ProbeError("timeout", "no answer")),
                         scheme=scheme, path=path, role=role)


# --------------------------------------------------------------------------- http.form_cleartext

def test_form_on_plain_http_fails_with_the_owa_recommendations():
    url = f"http://{H}:80/owa"
    item = http_evidence(exchange(url, 200, headers=OWA_MARKERS, form=logon_form(f"{url}/auth.owa")))
    outcome = _only(http_form_cleartext, item)
    assert outcome.status is CheckStatus.FAIL
    assert outcome.recommendations == ("CAS-04", "CAS-06")
    assert "http://mail.example.test:80/owa/auth.owa" in outcome.observed


def test_form_on_https_posting_to_http_fails_and_posting_to_https_passes():
    url = f"https://{H}:443/owa/auth/logon.aspx"
    bad = http_evidence(exchange(url, 200, headers=OWA_MARKERS,
                                 form=logon_form(f"http://{H}/owa/auth.owa")), scheme="https")
    good = http_evidence(exchange(url, 200, headers=OWA_MARKERS,
                                  form=logon_form(f"https://{H}/owa/auth.owa", "/owa/auth.owa")),
                         scheme="https")
    assert _only(http_form_cleartext, bad).status is CheckStatus.FAIL
    assert _only(http_form_cleartext, good).status is CheckStatus.PASS


def test_http_redirecting_to_an_https_form_is_judged_on_https_only():
    item = http_evidence(
        exchange(f"http://{H}:80/owa", 301),
        exchange(f"https://{H}:443/owa", 200, form=logon_form(f"http://{H}/owa/auth.owa")),
    )
    outcome = _only(http_form_cleartext, item)
    assert outcome.status is CheckStatus.PASS and "redirects" in outcome.reason


def test_form_of_a_catch_all_is_not_applicable_and_no_answer_is_not_assessed():
    base = baseline(exchange(f"http://{H}:80/casaudit-0123456789abcdef/", 200, body=SPA),
                    scheme="http")
    item = http_evidence(exchange(f"http://{H}:80/owa", 200, body=SPA,
                                  form=logon_form(f"http://{H}:80/owa")))
    outcomes = http_form_cleartext.evaluate(evidence_set(item, base))
    # The catch-all's own portal is not this Client Access URL: nothing of OWA to judge.
    assert [o.status for o in outcomes] == [CheckStatus.NOT_APPLICABLE]
    assert "nonexistent path" in outcomes[0].reason
    assert _only(http_form_cleartext, _silent("http", "/owa", "owa")).status is CheckStatus.NOT_ASSESSED
    refused = _only(http_form_cleartext, _refused("http", "/owa", "owa"))
    assert refused.status is CheckStatus.NOT_APPLICABLE


# --------------------------------------------------------------------------- http.cleartext_served

def test_challenge_on_plain_http_fails_citing_the_urls_recommendation_and_cas13():
    item = http_evidence(exchange(f"http://{H}:80/rpc/rpcproxy.dll", 401, method="RPC_IN_DATA",
                                  auth=("Negotiate", "NTLM", "Basic")),
                         path="/rpc/rpcproxy.dll", role="outlook_anywhere")
    outcome = _only(http_cleartext_served, item)
    assert outcome.status is CheckStatus.FAIL
    assert outcome.recommendations == ("CAS-08",)
    assert "RPC_IN_DATA" in outcome.observed
    assert http_cleartext_served.CHECK.recommendations == ("CAS-13",)


def test_redirect_to_https_and_403_pass_timeout_is_not_assessed():
    redirected = http_evidence(exchange(f"http://{H}:80/owa", 301),
                               exchange(f"https://{H}:443/owa", 200, headers=OWA_MARKERS))
    refused_ssl = http_evidence(exchange(f"http://{H}:80/owa", 403, body="403.4 SSL required"))
    assert _only(http_cleartext_served, redirected).status is CheckStatus.PASS
    assert _only(http_cleartext_served, refused_ssl).status is CheckStatus.PASS
    assert (_only(http_cleartext_served, _silent("http", "/owa", "owa")).status
            is CheckStatus.NOT_ASSESSED)


def test_a_catch_all_200_on_plain_http_is_not_an_exchange_url():
    base = baseline(exchange(f"http://{H}:80/casaudit-0123456789abcdef/", 200, body=SPA),
                    scheme="http")
    item = http_evidence(exchange(f"http://{H}:80/ecp", 200, body=SPA), path="/ecp", role="ecp")
    outcomes = http_cleartext_served.evaluate(evidence_set(item, base))
    # Answering like a path that cannot exist, with no /ecp over HTTPS either: no such URL.
    assert [o.status for o in outcomes] == [CheckStatus.NOT_APPLICABLE]
    assert "nonexistent path" in outcomes[0].reason


def test_https_evidence_is_not_judged_by_cleartext_served():
    item = http_evidence(exchange(f"https://{H}:443/owa", 200), scheme="https")
    assert http_cleartext_served.evaluate(evidence_set(item)) == []


# --------------------------------------------------------------------------- http.basic_offered

def test_basic_over_https_fails_with_cas02_on_activesync_and_cas05_on_owa():
    eas = http_evidence(exchange(f"https://{H}:443/Microsoft-Server-ActiveSync", 401,
                                 method="OPTIONS", auth=("Basic",)),
                        scheme="https", path="/Microsoft-Server-ActiveSync", role="activesync")
    owa = http_evidence(exchange(f"https://{H}:443/owa", 401, auth=("Basic",)), scheme="https")
    assert _only(http_basic_offered, eas).recommendations == ("CAS-02",)
    assert _only(http_basic_offered, owa).recommendations == ("CAS-05",)
    assert _only(http_basic_offered, eas).status is CheckStatus.FAIL


def test_integrated_only_passes_and_no_answer_is_not_assessed():
    ews = http_evidence(exchange(f"https://{H}:443/EWS/Exchange.asmx", 401,
                                 auth=("Negotiate", "NTLM")),
                        scheme="https", path="/EWS/Exchange.asmx", role="ews")
    outcome = _only(http_basic_offered, ews)
    assert outcome.status is CheckStatus.PASS and "Negotiate, NTLM" in outcome.reason
    assert (_only(http_basic_offered, _silent("https", "/owa", "owa")).status
            is CheckStatus.NOT_ASSESSED)


def test_a_proxy_asking_basic_everywhere_is_not_an_exchange_basic_offer():
    base = baseline(exchange(f"https://{H}:443/casaudit-0123456789abcdef/", 401,
                             auth=("Basic",), body="auth required"))
    item = http_evidence(exchange(f"https://{H}:443/owa", 401, auth=("Basic",),
                                  body="auth required"), scheme="https")
    outcomes = http_basic_offered.evaluate(evidence_set(item, base))
    # Not a pass either: nothing tells what OWA itself would offer behind that proxy.
    assert [o.status for o in outcomes] == [CheckStatus.NOT_APPLICABLE]


# --------------------------------------------------------------------------- exchange.legacy_vdir

def _legacy(path, status, *, scheme="https", headers=(), auth=("Basic",)):
    port = 80 if scheme == "http" else 443
    role = path.strip("/")
    return http_evidence(exchange(f"{scheme}://{H}:{port}{path}", status, headers=headers,
                                  auth=auth if status == 401 else ()),
                         scheme=scheme, path=path, role=role)


def test_exchange_and_exchweb_answering_fail_with_cas07():
    outcome = _only(exchange_legacy_vdir, _legacy("/exchange", 401))
    assert outcome.status is CheckStatus.FAIL
    assert exchange_legacy_vdir.CHECK.recommendations == ("CAS-07",)


def test_public_depends_on_the_front_end_generation():
    public = _legacy("/public", 401)
    owa_2016 = http_evidence(exchange(f"https://{H}:443/owa", 200, headers=OWA_MARKERS),
                             scheme="https", evidence_id="E2")
    owa_2007 = http_evidence(exchange(f"https://{H}:443/owa", 200,
                                      headers=(("X-OWA-Version", "8.1.375.2"),)),
                             scheme="https", evidence_id="E2")

    def public_outcome(*extra):
        outcomes = exchange_legacy_vdir.evaluate(
            evidence_set(public, *extra, baseline(scheme="http"), baseline()))
        return next(o for o in outcomes if o.endpoint.endswith("/public"))

    assert public_outcome(owa_2016).status is CheckStatus.FAIL
    assert public_outcome(owa_2007).status is CheckStatus.PASS
    assert public_outcome().status is CheckStatus.NOT_ASSESSED


def test_legacy_not_found_or_blocked_passes_and_timeout_is_not_assessed():
    assert _only(exchange_legacy_vdir, _legacy("/exchweb", 404)).status is CheckStatus.PASS
    assert _only(exchange_legacy_vdir, _legacy("/exchweb", 403)).status is CheckStatus.PASS
    assert (_only(exchange_legacy_vdir, _silent("https", "/exchange", "exchange")).status
            is CheckStatus.NOT_ASSESSED)


# --------------------------------------------------------------------------- exchange.admin_exposed

def test_ecp_reaching_the_logon_page_fails_and_powershell_challenge_fails():
    ecp = http_evidence(
        exchange(f"https://{H}:443/ecp", 302,
                 headers=(("Location", f"https://{H}/owa/auth/logon.aspx?url=/ecp"),)),
        exchange(f"https://{H}:443/owa/auth/logon.aspx?url=/ecp", 200, headers=OWA_MARKERS),
        scheme="https", path="/ecp", role="ecp",
    )
    powershell = http_evidence(exchange(f"https://{H}:443/powershell", 401, auth=("Negotiate",)),
                               scheme="https", path="/powershell", role="powershell")
    ecp_outcome = _only(exchange_admin_exposed, ecp)
    assert ecp_outcome.status is CheckStatus.FAIL and "then" in ecp_outcome.observed
    assert _only(exchange_admin_exposed, powershell).status is CheckStatus.FAIL


def test_blocked_admin_endpoints_pass_and_5xx_is_not_assessed():
    blocked = http_evidence(exchange(f"https://{H}:443/ecp", 403, body="denied"),
                            scheme="https", path="/ecp", role="ecp")
    broken = http_evidence(exchange(f"https://{H}:443/powershell", 503, body="down"),
                           scheme="https", path="/powershell", role="powershell")
    assert _only(exchange_admin_exposed, blocked).status is CheckStatus.PASS
    assert _only(exchange_admin_exposed, broken).status is CheckStatus.NOT_ASSESSED
    assert (_only(exchange_admin_exposed, _refused("https", "/ecp", "ecp")).status
            is CheckStatus.PASS)


def test_admin_paths_of_a_catch_all_are_not_exposed():
    base = baseline(exchange(f"https://{H}:443/casaudit-0123456789abcdef/", 200, body=SPA))
    ecp = http_evidence(exchange(f"https://{H}:443/ecp", 200, body=SPA),
                        scheme="https", path="/ecp", role="ecp")
    outcomes = exchange_admin_exposed.evaluate(evidence_set(ecp, base))
    assert [o.status for o in outcomes] == [CheckStatus.PASS]

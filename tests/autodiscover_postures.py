"""Small lab postures, one per Autodiscover outcome, built from one template.

Every posture serves `mail.<domain>` with Autodiscover answering 401 (NTLM,
Negotiate) on HTTPS. What changes is what the other names answer, through the
lab's per-name `[vhosts]`, which names the certificate covers, and the SRV record.
"""

from __future__ import annotations

from casaudit.lab import Posture, parse_posture

CHALLENGE = '''
[[https.routes]]
path = "/autodiscover"
status = 401
headers = [["WWW-Authenticate", "Negotiate"], ["WWW-Authenticate", "NTLM"]]
'''

NOT_FOUND = (
    '{ status = 404, headers = [["Content-Type", "text/html"]], body = "<html><body>404</body></html>" }'
)
WEBSITE = (
    '{ status = 200, headers = [["Content-Type", "text/html; charset=utf-8"]], '
    'body = "<!DOCTYPE html><html><head><title>Contoso - Welcome</title></head><body>Shop</body></html>" }'
)


def redirect(location: str, status: int = 302) -> str:
    return f'{{ status = {status}, headers = [["Location", "{location}"]] }}'


def build(
    name: str,
    domain: str,
    *,
    tls: tuple[str, ...] = ("mail", "", "autodiscover"),
    root_https: str | None = None,
    auto_https: str | None = None,
    auto_http: str | None = None,
    srv_target: str | None = None,
    extra_names: tuple[str, ...] = (),
    extra: str = "",
) -> Posture:
    """A posture for `domain`; `*_https`/`*_http` are a default reply for that name."""
    names = [label if "." in label else (f"{label}.{domain}" if label else domain) for label in tls]
    text = f'''
name = "{name}"
summary = "Autodiscover outcome: {name}"
host = "mail.{domain}"
domain = "{domain}"
extra_names = {list(extra_names)!r}
[tls]
names = {names!r}
[http]
default = {NOT_FOUND}
[https]
default = {NOT_FOUND}
{CHALLENGE}
'''.replace("'", '"')
    if srv_target:
        text += (f'[dns]\nsrv = [{{ name = "_autodiscover._tcp.{domain}", target = "{srv_target}", '
                 'port = "https" }]\n')
    for host, scheme, reply in (
        (domain, "https", root_https), (f"autodiscover.{domain}", "https", auto_https),
        (f"autodiscover.{domain}", "http", auto_http),
    ):
        if reply is not None:
            text += f'[vhosts."{host}".{scheme}]\ndefault = {reply}\n'
    return parse_posture(text + extra, source=f"{name}.toml")


def both_urls() -> Posture:
    d = "both.test"
    return build("both-urls", d, auto_http=redirect(
        f"https://autodiscover.{d}:{{https_port}}/autodiscover/autodiscover.xml"))


def root_only() -> Posture:
    return build("root-only", "rootonly.test", auto_https=NOT_FOUND, auto_http=NOT_FOUND)


def redirect_only() -> Posture:
    d = "redirectonly.test"
    return build("redirect-only", d, root_https=NOT_FOUND, auto_https=NOT_FOUND,
                 auto_http=redirect(f"https://mail.{d}:{{https_port}}/Autodiscover/Autodiscover.xml"))


def srv_only() -> Posture:
    d = "srvonly.test"
    return build("srv-only", d, root_https=NOT_FOUND, auto_https=NOT_FOUND, auto_http=NOT_FOUND,
                 srv_target=f"mail.{d}")


def nothing_works() -> Posture:
    return build("nothing", "nothing.test", tls=("mail",), root_https=NOT_FOUND,
                 auto_https=WEBSITE, auto_http=NOT_FOUND)


def wrong_certificate() -> Posture:
    """autodiscover.<domain> answers like Autodiscover, with a certificate for other names."""
    return build("wrong-cert", "wrongcert.test", tls=("mail", ""),
                 auto_http=NOT_FOUND)


OUTSIDER = "autodiscover.outsider.test"


def redirect_offsite() -> Posture:
    """The redirect method and SRV point at another domain, which the lab also serves."""
    d = "offsite.test"
    return build("offsite", d, root_https=NOT_FOUND, auto_https=NOT_FOUND,
                 auto_http=redirect(f"https://{OUTSIDER}:{{https_port}}/autodiscover/autodiscover.xml"),
                 srv_target=OUTSIDER, extra_names=(OUTSIDER,), tls=("mail", "", "autodiscover", OUTSIDER))


def catch_all() -> Posture:
    """The bare domain's web site answers every path with its home page."""
    return build("catch-all", "catchall.test", root_https=WEBSITE,
                 auto_http=redirect("https://autodiscover.catchall.test:{https_port}/autodiscover/autodiscover.xml"))


# -- authenticated mode ---------------------------------------------------------------

USER = "probe@auth.test"
#: Only ever in these test postures and the test's environment.
PASSWORD = "Lab-only-pw:5xQ!u9#Zr"


def settings_xml(domain: str) -> str:
    """A POX settings response (EXCHANGE-FACTS §5.2) with one http:// and one offsite URL."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">'
        "<User><DisplayName>Probe</DisplayName></User><Account><AccountType>email</AccountType>"
        "<Action>settings</Action>"
        "<Protocol><Type>EXCH</Type><Server>mbx01.corp.internal</Server>"
        f"<EwsUrl>https://mail.{domain}:{{https_port}}/EWS/Exchange.asmx</EwsUrl>"
        f"<OABUrl>http://mail.{domain}:{{http_port}}/OAB/0f1e/</OABUrl></Protocol>"
        "<Protocol><Type>EXPR</Type><Server>outlook.elsewhere.test</Server><SSL>On</SSL></Protocol>"
        f"<Protocol><Type>WEB</Type><External><OWAUrl AuthenticationMethod=\"Fba\">"
        f"https://autodiscover.{domain}:{{https_port}}/owa/</OWAUrl></External></Protocol>"
        "</Account></Response></Autodiscover>"
    )


def _credentialed(domain: str, authorized: str) -> str:
    return f'''
[[https.routes]]
path = "/autodiscover"
status = 401
headers = [["WWW-Authenticate", "Basic realm=\\"{domain}\\""], ["WWW-Authenticate", "NTLM"]]
credentials = ["{USER}", "{PASSWORD}"]
authorized = {authorized}
'''


def _settings_reply(domain: str) -> str:
    body = settings_xml(domain).replace('"', '\\"')
    return f'{{ status = 200, headers = [["Content-Type", "text/xml; charset=utf-8"]], body = "{body}" }}'


def authenticated() -> Posture:
    """Every method leads to mail.auth.test, which answers Basic credentials with settings.

    autodiscover.auth.test's certificate is for other names: credentials must not go there.
    """
    d = "auth.test"
    text = f'''
name = "authenticated"
summary = "Autodiscover with a test mailbox"
host = "mail.{d}"
domain = "{d}"
[tls]
names = ["mail.{d}", "{d}"]
[dns]
srv = [{{ name = "_autodiscover._tcp.{d}", target = "mail.{d}", port = "https" }}]
[http]
default = {NOT_FOUND}
[https]
default = {NOT_FOUND}
{_credentialed(d, _settings_reply(d))}
[vhosts."autodiscover.{d}".http]
default = {redirect(f"https://mail.{d}:{{https_port}}/autodiscover/autodiscover.xml")}
'''
    return parse_posture(text, source="authenticated.toml")


LURE = "lure.test"


def lure() -> Posture:
    """Everything a careless client would follow with credentials, and the lab records it.

    - https://lure.test answers the credentialed request with a 302 to plain HTTP, where
      http://autodiscover.lure.test has a route that would accept the password;
    - https://autodiscover.lure.test redirects (anonymously) to another domain;
    - the SRV record points to that other domain, whose name the lab also serves with a
      valid certificate and a route accepting the password.
    """
    d, out = LURE, OUTSIDER
    downgrade = redirect(f"http://autodiscover.{d}:{{http_port}}/autodiscover/autodiscover.xml")
    offsite = redirect(f"https://{out}:{{https_port}}/autodiscover/autodiscover.xml")
    text = f'''
name = "lure"
summary = "Autodiscover that tries to lure credentials off HTTPS and off the domain"
host = "mail.{d}"
domain = "{d}"
extra_names = ["{out}"]
[tls]
names = ["mail.{d}", "{d}", "autodiscover.{d}", "{out}"]
[dns]
srv = [{{ name = "_autodiscover._tcp.{d}", target = "{out}", port = "https" }}]
[http]
default = {NOT_FOUND}
[https]
default = {NOT_FOUND}
{_credentialed(d, _settings_reply(d))}
[vhosts."{d}".https]
default = {NOT_FOUND}
{_credentialed(d, downgrade).replace("https.routes", f'vhosts."{d}".https.routes')}
[vhosts."autodiscover.{d}".https]
default = {offsite}
[vhosts."autodiscover.{d}".http]
default = {offsite}
{_credentialed(d, _settings_reply(d)).replace("https.routes", f'vhosts."autodiscover.{d}".http.routes')}
[vhosts."{out}".https]
default = {NOT_FOUND}
{_credentialed(d, _settings_reply(d)).replace("https.routes", f'vhosts."{out}".https.routes')}
'''
    return parse_posture(text, source="lure.toml")

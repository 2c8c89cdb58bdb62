"""The Autodiscover request builder and response parsers, fed hostile bytes."""

from __future__ import annotations

import defusedxml.ElementTree as SafeET

from casaudit.parse.autodiscover import (
    MAX_XML_BYTES,
    MOBILESYNC_RESPONSE,
    OUTLOOK_REQUEST,
    OUTLOOK_RESPONSE,
    looks_like_xml,
    parse_json_v2,
    parse_pox,
    pox_request,
)

SETTINGS = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <User><DisplayName>Probe</DisplayName></User>
    <Account>
      <AccountType>email</AccountType><Action>settings</Action>
      <Protocol><Type>EXCH</Type><Server>mbx01.corp.internal</Server>
        <ASUrl>https://mail.contoso.test/ews/exchange.asmx</ASUrl>
        <EwsUrl>https://mail.contoso.test/EWS/Exchange.asmx</EwsUrl>
        <OABUrl>http://mail.contoso.test/OAB/abc/</OABUrl></Protocol>
      <Protocol><Type>EXPR</Type><Server>outlook.elsewhere.test</Server><SSL>Off</SSL></Protocol>
      <Protocol><Type>WEB</Type><External><OWAUrl AuthenticationMethod="Fba">https://mail.contoso.test/owa</OWAUrl></External></Protocol>
    </Account>
  </Response>
</Autodiscover>"""

ERROR_600 = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response><Error Time="10:00:00" Id="1"><ErrorCode>600</ErrorCode><Message>Invalid Request</Message>
  <DebugData /></Error></Response></Autodiscover>"""

MOBILESYNC = f"""<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
<Response xmlns="{MOBILESYNC_RESPONSE}"><Culture>en:us</Culture>
<Action><Settings><Server><Type>MobileSync</Type><Url>https://mail.contoso.test/Microsoft-Server-ActiveSync</Url>
</Server></Settings></Action></Response></Autodiscover>""".encode()


def test_request_is_the_2006_outlook_schema_with_the_address_escaped():
    body = pox_request("a&b<c@contoso.test")
    root = SafeET.fromstring(body)
    assert root.tag == f"{{{OUTLOOK_REQUEST}}}Autodiscover"
    request = root.find(f"{{{OUTLOOK_REQUEST}}}Request")
    assert request.find(f"{{{OUTLOOK_REQUEST}}}EMailAddress").text == "a&b<c@contoso.test"
    schema = request.find(f"{{{OUTLOOK_REQUEST}}}AcceptableResponseSchema").text
    assert schema == OUTLOOK_RESPONSE
    assert b"mobilesync/requestschema/2006" in pox_request("x@y.test", "mobilesync")


def test_settings_response_yields_every_advertised_url():
    summary = parse_pox(SETTINGS)
    assert summary.autodiscover and summary.action == "settings" and summary.parse_error is None
    urls = {(s.protocol, s.setting, s.url) for s in summary.settings}
    assert ("EXCH", "EwsUrl", "https://mail.contoso.test/EWS/Exchange.asmx") in urls
    assert ("EXCH", "OABUrl", "http://mail.contoso.test/OAB/abc/") in urls
    assert ("WEB", "OWAUrl", "https://mail.contoso.test/owa") in urls
    # Outlook Anywhere with SSL Off is an http:// URL for the purposes of the checks.
    assert ("EXPR", "Server", "http://outlook.elsewhere.test/rpc/rpcproxy.dll") in urls
    assert not any("mbx01" in url for _, _, url in urls)


def test_error_600_and_mobilesync_are_read():
    error = parse_pox(ERROR_600)
    assert error.autodiscover and (error.error_code, error.message) == ("600", "Invalid Request")
    mobile = parse_pox(MOBILESYNC)
    assert [(s.protocol, s.url) for s in mobile.settings] == [
        ("MobileSync", "https://mail.contoso.test/Microsoft-Server-ActiveSync")]


def test_hostile_xml_becomes_a_parse_error_never_an_exception():
    laughs = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
    <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
    <Autodiscover>&lol2;</Autodiscover>"""
    external = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
    <Autodiscover>&e;</Autodiscover>"""
    for body in (laughs, external):
        summary = parse_pox(body)
        assert summary.parse_error and "defusedxml" in summary.parse_error
        assert not summary.autodiscover
    assert "not well-formed" in (parse_pox(b"<Autodiscover><unclosed>").parse_error or "")
    assert "not parsed" in (parse_pox(b"<a>" + b"x" * MAX_XML_BYTES + b"</a>").parse_error or "")
    assert parse_pox(b"<a/>", truncated=True).parse_error


def test_xml_in_a_foreign_namespace_is_not_autodiscover():
    summary = parse_pox(b'<Autodiscover xmlns="urn:someone-else"><Response/></Autodiscover>')
    assert summary.parse_error is None and not summary.autodiscover
    assert not looks_like_xml(b"<!DOCTYPE html><html></html>") and looks_like_xml(b"\xef\xbb\xbf <x/>")


def test_json_v2():
    good = parse_json_v2(b'{"Protocol": "AutodiscoverV1", "Url": "https://mail.contoso.test/autodiscover/autodiscover.xml"}')
    assert (good.protocol, good.url) == ("AutodiscoverV1", "https://mail.contoso.test/autodiscover/autodiscover.xml")
    assert parse_json_v2(b"[1]").parse_error == "not a JSON object"
    assert parse_json_v2(b"<html>").parse_error
    assert parse_json_v2(b"[" * 100000).parse_error  # deep nesting: an error, not a crash
    assert parse_json_v2(b'{"Url": 5}').url is None

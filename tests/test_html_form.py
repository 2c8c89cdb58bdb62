"""The logon-form scan reads hostile HTML: tolerant, bounded, never fooled by forms without passwords."""

from casaudit.parse.html_form import MAX_HTML_CHARS, find_logon_form

PAGE = "https://mail.example.test:443/owa/auth/logon.aspx?url=x"


def test_relative_action_resolves_against_the_page_url():
    form = find_logon_form(
        '<form action="/owa/auth.owa" method="post"><input name="u">'
        '<input type="password" name="p"></form>', PAGE,
    )
    assert form is not None
    assert form.action == "/owa/auth.owa" and form.method == "POST"
    assert form.action_url == "https://mail.example.test:443/owa/auth.owa"
    assert not form.posts_cleartext


def test_absolute_http_action_on_an_https_page_posts_in_clear():
    form = find_logon_form(
        '<FORM ACTION="http://mail.example.test/owa/auth.owa" METHOD=POST>'
        '<INPUT TYPE="Password" NAME=p></FORM>', PAGE,
    )
    assert form is not None and form.posts_cleartext
    assert form.action_url == "http://mail.example.test/owa/auth.owa"


def test_missing_action_posts_to_the_page_itself_and_base_href_is_honoured():
    page = "http://mail.example.test:80/owa"
    form = find_logon_form('<form><input type=password></form>', page)
    assert form is not None and form.action_url == page and form.posts_cleartext
    based = find_logon_form(
        '<base href="https://sso.example.test/"><form action="login">'
        '<input type="password"></form>', page,
    )
    assert based is not None and based.action_url == "https://sso.example.test/login"
    assert not based.posts_cleartext


def test_forms_without_a_password_are_not_logon_forms():
    html = ('<form action="/search"><input type="text" name="q"></form>'
            '<input type="password" name="stray">')
    assert find_logon_form(html, PAGE) is None


def test_broken_markup_still_yields_the_form_and_javascript_actions_resolve_to_nothing():
    form = find_logon_form(
        '<html><form action="javascript:go()" <<<><input type="password"', PAGE
    )
    # Whatever HTMLParser made of the garbage, nothing is invented.
    assert form is None or form.action_url is None


def test_a_form_beyond_the_bound_is_not_seen():
    padding = "<p>x</p>" * (MAX_HTML_CHARS // 8 + 1)
    html = padding + '<form action="/a"><input type="password"></form>'
    assert find_logon_form(html, PAGE) is None

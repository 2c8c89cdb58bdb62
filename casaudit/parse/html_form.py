"""Find a logon form (a <form> with a password input) in hostile HTML, bounded.

Forms-based authentication is how Outlook Web Access asks for a password, so
an auditor needs two facts from a page: is a logon form served at all, and
where does the browser post the password. The page comes from the server
under audit, so the scan is tolerant (the standard library's HTMLParser copes
with broken markup) and bounded: at most `MAX_HTML_CHARS` of text and
`MAX_TAGS` start tags are looked at, attribute values are cut to
`MAX_ATTRIBUTE_CHARS`, and nothing is fetched or executed.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from casaudit.evidence.http import LogonForm

MAX_HTML_CHARS = 64 * 1024
MAX_TAGS = 5000
MAX_ATTRIBUTE_CHARS = 2048


class _FormScanner(HTMLParser):
    """Remembers <base href>, the open <form> and the first form with a password input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.tags = 0
        self._form: dict[str, str] | None = None
        self.found: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags += 1
        if self.found is not None or self.tags > MAX_TAGS:
            return
        values = {name: (value or "")[:MAX_ATTRIBUTE_CHARS] for name, value in attrs}
        if tag == "base" and self.base is None and "href" in values:
            self.base = values["href"].strip()
        elif tag == "form":
            # A nested <form> is invalid HTML; browsers keep the outer one.
            if self._form is None:
                self._form = values
        elif tag == "input" and self._form is not None:
            if values.get("type", "").strip().lower() == "password":
                self.found = self._form

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def find_logon_form(html: str, page_url: str) -> LogonForm | None:
    """The first form holding a password input, with its absolute action URL.

    An empty or missing action posts to the page itself, as browsers do.
    """
    scanner = _FormScanner()
    try:
        scanner.feed(html[:MAX_HTML_CHARS])
        scanner.close()
    except (AssertionError, ValueError):
        # HTMLParser raises on a few malformed constructs; what was seen stands.
        pass
    form = scanner.found
    if form is None:
        return None
    action = form.get("action", "").strip()
    method = (form.get("method", "").strip() or "GET").upper()[:16]
    try:
        base = urljoin(page_url, scanner.base) if scanner.base else page_url
        resolved = urljoin(base, action) if action else page_url
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return LogonForm(action=action, action_url=None, method=method, posts_cleartext=False)
    if scheme not in ("http", "https"):
        return LogonForm(action=action, action_url=None, method=method, posts_cleartext=False)
    return LogonForm(
        action=action,
        action_url=resolved[:MAX_ATTRIBUTE_CHARS],
        method=method,
        posts_cleartext=scheme == "http",
    )

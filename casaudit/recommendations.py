"""CAS-01 to CAS-17, and the verdict on each from a scan's check results.

The ids are a public contract (JSON and HTML): never renumber them. Titles
paraphrase Microsoft's planning guide for the Exchange 2007 Client Access role;
`section` names the section of the guide each comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from casaudit.model import (
    CheckResult,
    CheckStatus,
    Finding,
    RecommendationVerdict,
    Severity,
    Verdict,
)


@dataclass(frozen=True)
class Recommendation:
    id: str
    title: str
    section: str
    #: Why an external probe cannot judge it, when that is so.
    unassessable_reason: str | None = None


RECOMMENDATIONS: tuple[Recommendation, ...] = (
    Recommendation("CAS-01", "Use SSL with Exchange ActiveSync",
                   "Planning Considerations for Exchange ActiveSync"),
    Recommendation("CAS-02", "Prefer Integrated Windows or certificate authentication for "
                   "ActiveSync over Basic", "Planning Considerations for Exchange ActiveSync"),
    Recommendation("CAS-03", "Deploy ActiveSync mailbox policies (password, encryption, "
                   "wipe after failed attempts)", "Planning Considerations for Exchange ActiveSync",
                   unassessable_reason="needs a test account to read the policy through "
                   "ActiveSync Provision"),
    Recommendation("CAS-04", "Require SSL on the Outlook Web Access virtual directories",
                   "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-05", "Use the most secure Outlook Web Access authentication; "
                   "forms only over SSL", "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-06", "Put every extra Outlook Web Access virtual directory on SSL",
                   "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-07", "Keep legacy /exchange, /exchweb and /public URLs from the "
                   "Internet unless still needed", "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-08", "Publish Outlook Anywhere over SSL only",
                   "Planning Considerations for Outlook Anywhere"),
    Recommendation("CAS-09", "Leave POP3 and IMAP4 off unless needed",
                   "Planning Considerations for POP3 and IMAP4"),
    Recommendation("CAS-10", "No cleartext credentials on POP3 and IMAP4",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-11", "Make both Autodiscover URLs work over SSL",
                   "Planning Considerations for Exchange 2007 Web Services"),
    Recommendation("CAS-12", "Publish Exchange Web Services over SSL only",
                   "Planning Considerations for Exchange 2007 Web Services"),
    Recommendation("CAS-13", "Use SSL for every Client Access feature",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-14", "Prefer Integrated Windows authentication over Basic",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-15", "Do not expose the Client Access server directly; front it with "
                   "a reverse proxy", "Security Planning for Client Access Servers"),
    Recommendation("CAS-16", "Run a supported Exchange version",
                   "Header of the guide (end of support)"),
    Recommendation("CAS-17", "Use a proper certificate for every SSL site",
                   "Planning Considerations for Outlook Web Access"),
)

RECOMMENDATION_IDS = tuple(r.id for r in RECOMMENDATIONS)


def judge(
    checks: Iterable[CheckResult], findings: Iterable[Finding]
) -> tuple[RecommendationVerdict, ...]:
    """A verdict per recommendation from what the checks concluded.

    A recommendation is `not_met` when an assessed row citing it failed at
    medium severity or above, or when every assessed row failed; `partial` when
    only low-severity failures stand beside passes; `met` when all assessed
    rows passed; `not_assessed` (with the reasons) when nothing could be judged.
    Informational findings do not count against a recommendation.
    """
    rows = list(checks)
    finding_list = list(findings)
    verdicts = []
    for rec in RECOMMENDATIONS:
        cited = [row for row in rows if rec.id in row.recommendations]
        failed = [r for r in cited if r.status is CheckStatus.FAIL and r.severity is not Severity.INFO]
        passed = [r for r in cited if r.status is CheckStatus.PASS]
        unjudged = [r for r in cited if r.status in (CheckStatus.NOT_ASSESSED, CheckStatus.ERROR)]
        finding_ids = tuple(f.id for f in finding_list if rec.id in f.recommendations)
        check_ids = tuple(sorted({r.check for r in cited}))
        by = ", ".join(check_ids)
        serious = any(r.severity.rank >= Severity.MEDIUM.rank for r in failed)
        if failed and passed and not serious:
            verdict, reason = Verdict.PARTIAL, (
                f"{len(failed)} of {len(failed) + len(passed)} endpoint checks failed ({by})"
            )
        elif failed:
            verdict, reason = Verdict.NOT_MET, f"{len(failed)} endpoint checks failed ({by})"
        elif passed:
            verdict, reason = Verdict.MET, (
                f"met as far as assessed: {len(passed)} endpoint checks passed ({by})"
            )
        elif unjudged:
            reasons = sorted({r.reason for r in unjudged})
            verdict, reason = Verdict.NOT_ASSESSED, "; ".join(reasons[:3])
        elif rec.unassessable_reason:
            verdict, reason = Verdict.NOT_ASSESSED, rec.unassessable_reason
        else:
            verdict, reason = Verdict.NOT_ASSESSED, "no check in this version of casaudit assesses it"
        verdicts.append(
            RecommendationVerdict(
                id=rec.id, title=rec.title, section=rec.section, verdict=verdict,
                reason=reason, findings=finding_ids, checks=check_ids,
            )
        )
    return tuple(verdicts)

"""Headline Exchange flaws and the first build of each cumulative update that fixes them.

Pure data and comparison; no I/O. Sources (EXCHANGE-FACTS section 11): the CVE
records of the Microsoft CNA (``lessThan`` = first fixed build), Microsoft's
own ProxyLogon nmap script (CSS-Exchange) and the security update builds of
the Microsoft build-number page.

How a build is judged against one flaw (Microsoft's HealthChecker logic,
``Test-ExchangeBuildGreaterOrEqualThanSecurityPatch``, made explicit):

* at or above the fix of the newest listed CU: fixed;
* same CU as a listed fix: vulnerable below that fix's revision, fixed at or above;
* an older CU with no fix of its own: vulnerable (the only remedy is a newer CU).

With a 3-part build (``/owa/auth/15.1.2176/``) the revision is not visible:
a CU newer than every fixed CU is fixed; an older CU without a fix is
vulnerable; a CU that has a fix is *undetermined* ("vulnerable unless security
update X is installed"), never guessed either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from casaudit.identify import EX2013, EX2016, EX2019, Build, BuildInfo


@dataclass(frozen=True)
class Flaw:
    name: str
    cves: tuple[str, ...]
    summary: str
    #: The security update that fixed it (Microsoft's SU name, e.g. "Mar21SU").
    update: str
    #: product -> the first fixed build of each CU that received the fix.
    fixed: dict[str, tuple[Build, ...]]
    reference: str


def _builds(*texts: str) -> tuple[Build, ...]:
    builds = []
    for text in texts:
        build = Build.parse(text)
        assert build is not None and build.exact, text
        builds.append(build)
    return tuple(sorted(builds))


FLAWS: tuple[Flaw, ...] = (
    Flaw(
        name="ProxyLogon",
        cves=("CVE-2021-26855",),
        summary="pre-authentication server-side request forgery, chained to remote code execution",
        update="Mar21SU (KB5000871)",
        fixed={
            # Includes the special Mar21SU builds for out-of-support CUs. For 2016 CU8 and CU9
            # the Microsoft page (.10, .16) and CSS-Exchange (.8, .13) differ: the lower one is
            # used, so a server is never called vulnerable on the disputed build.
            EX2013: _builds("15.0.847.64", "15.0.1395.12", "15.0.1473.6", "15.0.1497.12"),
            EX2016: _builds(
                "15.1.1415.8", "15.1.1466.13", "15.1.1531.12", "15.1.1591.18", "15.1.1713.10",
                "15.1.1779.8", "15.1.1847.12", "15.1.1913.12", "15.1.1979.8", "15.1.2044.13",
                "15.1.2106.13", "15.1.2176.9",
            ),
            EX2019: _builds(
                "15.2.221.18", "15.2.330.11", "15.2.397.11", "15.2.464.15", "15.2.529.13",
                "15.2.595.8", "15.2.659.12", "15.2.721.13", "15.2.792.10",
            ),
        },
        reference="https://msrc.microsoft.com/update-guide/vulnerability/CVE-2021-26855",
    ),
    Flaw(
        name="ProxyShell",
        cves=("CVE-2021-34473", "CVE-2021-34523"),
        summary="pre-authentication path confusion and PowerShell back-end elevation of privilege",
        update="Apr21SU (KB5001779)",
        fixed={
            EX2013: _builds("15.0.1497.15"),
            EX2016: _builds("15.1.2176.12", "15.1.2242.8"),
            EX2019: _builds("15.2.792.13", "15.2.858.10"),
        },
        reference="https://msrc.microsoft.com/update-guide/vulnerability/CVE-2021-34473",
    ),
    Flaw(
        name="ProxyShell (file write)",
        cves=("CVE-2021-31207",),
        summary="security feature bypass completing the ProxyShell chain (arbitrary file write)",
        update="May21SU (KB5003435)",
        fixed={
            EX2013: _builds("15.0.1497.18"),
            EX2016: _builds("15.1.2176.14", "15.1.2242.10"),
            EX2019: _builds("15.2.792.15", "15.2.858.12"),
        },
        reference="https://msrc.microsoft.com/update-guide/vulnerability/CVE-2021-31207",
    ),
    Flaw(
        name="ProxyToken",
        cves=("CVE-2021-33766",),
        summary="pre-authentication information disclosure (mailbox configuration changes)",
        update="Apr21SU (KB5001779)",
        fixed={
            EX2013: _builds("15.0.1497.15"),
            EX2016: _builds("15.1.2176.12", "15.1.2242.8"),
            EX2019: _builds("15.2.792.13", "15.2.858.10"),
        },
        reference="https://msrc.microsoft.com/update-guide/vulnerability/CVE-2021-33766",
    ),
    Flaw(
        name="ProxyNotShell",
        cves=("CVE-2022-41040", "CVE-2022-41082"),
        summary="server-side request forgery and PowerShell remote code execution (any mailbox user)",
        update="Nov22SU (KB5019758)",
        fixed={
            EX2013: _builds("15.0.1497.44"),
            EX2016: _builds("15.1.2375.37", "15.1.2507.16"),
            EX2019: _builds("15.2.986.36", "15.2.1118.20"),
        },
        reference="https://msrc.microsoft.com/update-guide/vulnerability/CVE-2022-41040",
    ),
)


class Exposure(StrEnum):
    VULNERABLE = "vulnerable"
    FIXED = "fixed"
    #: 3-part build in a CU that has a fix: depends on the invisible revision.
    UNDETERMINED = "undetermined"
    NOT_AFFECTED = "not_affected"


@dataclass(frozen=True)
class Assessment:
    flaw: Flaw
    exposure: Exposure
    #: The fixed build that decides it (the CU's own, or the newest), if any.
    fixed_build: Build | None
    reason: str

    @property
    def cve_text(self) -> str:
        return "/".join(self.flaw.cves)


def assess(info: BuildInfo, flaws: tuple[Flaw, ...] = FLAWS) -> tuple[Assessment, ...]:
    """Every flaw judged against one build (product from the build's own numbers)."""
    return tuple(_assess_one(info, flaw) for flaw in flaws)


def _assess_one(info: BuildInfo, flaw: Flaw) -> Assessment:
    build = info.build
    fixes = flaw.fixed.get(info.product or "", ())
    if not fixes:
        product = info.product or "this product"
        return Assessment(flaw, Exposure.NOT_AFFECTED, None, f"{product} is not among the affected products")
    newest = fixes[-1]
    own = next((fix for fix in fixes if fix.short == build.short), None)
    if build.exact:
        if build >= newest:
            return Assessment(flaw, Exposure.FIXED, newest, f"{build} is at or above {newest}")
        if own is not None:
            if build >= own:
                return Assessment(flaw, Exposure.FIXED, own, f"{build} is at or above this CU's fix {own}")
            return Assessment(flaw, Exposure.VULNERABLE, own, f"{build} is below this CU's fix {own}")
        return Assessment(
            flaw, Exposure.VULNERABLE, newest,
            f"{build}'s CU received no fix; the first fixed builds are {_list(fixes)}",
        )
    if build.short > newest.short:
        return Assessment(
            flaw, Exposure.FIXED, newest,
            f"CU {build} is newer than every fixed CU ({newest}); CUs are cumulative",
        )
    if own is not None:
        return Assessment(
            flaw, Exposure.UNDETERMINED, own,
            f"only {build} is visible: vulnerable unless {flaw.update} ({own}) or later is installed",
        )
    return Assessment(
        flaw, Exposure.VULNERABLE, newest,
        f"CU {build} predates the fixes and received none; the first fixed builds are {_list(fixes)}",
    )


def _list(builds: tuple[Build, ...]) -> str:
    shown = ", ".join(str(b) for b in builds[-3:])
    return shown if len(builds) <= 3 else f"... {shown}"

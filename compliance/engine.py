"""Which obligations apply to a use case, as a pure function over plain data.

The facts come from the use case (its tier, lifecycle, people affected) and from the answers
of its latest signed-off risk screening (role, Annex III area, the Article 6(3) exception,
transparency duties). An obligation's ``applies_when`` (in its framework file) names the
roles, tiers and facts it needs:

    {"roles": ["deployer"], "tiers": ["high"], "live": true,
     "all": ["annex_iii"], "any": ["annex_iii:5b", "annex_iii:5c", "public_body"]}

``applies`` answers whether it applies and a reason a person reads either way.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ROLES = ("provider", "deployer", "importer", "distributor")
ROLE_LABELS = {
    "provider": "provider",
    "deployer": "deployer",
    "importer": "importer",
    "distributor": "distributor",
}
TIER_LABELS = {
    "unscreened": "not screened",
    "prohibited": "prohibited",
    "high": "high risk",
    "limited": "limited risk",
    "minimal": "minimal risk",
    "outside": "outside the AI Act",
}
LIVE = frozenset({"pilot", "production", "suspended"})
FACT_LABELS = {
    "annex_iii": "an Annex III use",
    "exception_6_3": "an Annex III use judged not high-risk under Art. 6(3)",
    "interacts": "interacts directly with people",
    "generates_content": "generates synthetic content",
    "emotion_or_biometric": "recognises emotions or categorises people biometrically",
    "deep_fake": "generates deep fakes",
    "public_interest_text": "publishes text on matters of public interest",
    "public_body": "deployed by a public body or for a public service",
    "workplace": "used at the workplace",
}
DEFAULT_ROLE_NOTE = "The screening does not say our role: taken as deployer."


def fact_label(fact: str) -> str:
    if fact.startswith("annex_iii:"):
        return f"Annex III point {fact.split(':', 1)[1]}"
    return FACT_LABELS.get(fact, fact.replace("_", " "))


@dataclass(frozen=True)
class Facts:
    tier: str
    lifecycle: str
    roles: frozenset[str]
    facts: frozenset[str]
    screened: bool = True
    role_assumed: bool = False

    @property
    def live(self) -> bool:
        return self.lifecycle in LIVE

    def summary(self) -> str:
        roles = " and ".join(ROLE_LABELS.get(r, r) for r in sorted(self.roles)) or "none"
        parts = [f"tier {TIER_LABELS.get(self.tier, self.tier)}", f"role {roles}"]
        parts.append(f"lifecycle {self.lifecycle}")
        if self.facts:
            parts.append(", ".join(fact_label(f) for f in sorted(self.facts)))
        return "; ".join(parts)


def _yes(value) -> bool:
    return value is True or value == "yes"


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def facts_from(
    *,
    tier: str,
    lifecycle: str,
    people_affected: Iterable[str] = (),
    answers: Mapping | None,
) -> Facts:
    """What the engine reads of a use case and its signed-off screening's answers.

    ``answers`` None: no screening is signed off. The role defaults to deployer when the
    screening does not answer it (``role_assumed``), and the pages say so.
    """
    answers = answers or {}
    roles: set[str] = set()
    for value in _as_list(answers.get("role")):
        if value == "both":
            roles |= {"provider", "deployer"}
        elif value in ROLES:
            roles.add(value)
    assumed = not roles
    if assumed:
        roles = {"deployer"}
    facts: set[str] = set()
    areas = [a for a in _as_list(answers.get("annex_iii_areas")) if a and a != "none"]
    if areas:
        facts.add("annex_iii")
        facts |= {f"annex_iii:{a}" for a in areas}
    exceptions = [e for e in _as_list(answers.get("exceptions")) if e and e != "none"]
    if areas and exceptions and not _yes(answers.get("profiling")) and tier != "high":
        facts.add("exception_6_3")
    for answer, fact in (
        ("interacts_with_people", "interacts"),
        ("generates_content", "generates_content"),
        ("emotion_or_biometric_categorisation", "emotion_or_biometric"),
        ("deep_fake", "deep_fake"),
        ("public_interest_text", "public_interest_text"),
        ("public_body", "public_body"),
        ("public_service", "public_body"),
    ):
        if _yes(answers.get(answer)):
            facts.add(fact)
    # Art. 27(1): bodies governed by public law and private entities providing public services.
    if answers.get("deployer_sector") in ("public", "public_service"):
        facts.add("public_body")
    if {"4a", "4b"} & set(areas) or "staff" in set(people_affected):
        facts.add("workplace")
    return Facts(
        tier=tier,
        lifecycle=lifecycle,
        roles=frozenset(roles),
        facts=frozenset(facts),
        screened=bool(answers) or tier not in ("", "unscreened"),
        role_assumed=assumed,
    )


def applies(when: Mapping, facts: Facts) -> tuple[bool, str]:
    """Whether an obligation with ``when`` applies, and why (or why not)."""
    if facts.lifecycle == "retired":
        return False, "The use case is retired."
    if facts.tier in ("unscreened", ""):
        return False, "No signed-off screening yet: applicability is computed from it."
    if facts.tier == "outside":
        return False, "The screening found the system outside the AI Act (Art. 2 or 3(1))."
    roles = set(when.get("roles") or ROLES)
    mine = roles & facts.roles
    if not mine:
        wanted = ", ".join(ROLE_LABELS.get(r, r) for r in sorted(roles))
        have = ", ".join(ROLE_LABELS.get(r, r) for r in sorted(facts.roles))
        return False, f"Applies to the {wanted}; our role is {have}."
    tiers = when.get("tiers")
    if tiers and facts.tier not in tiers:
        wanted = ", ".join(TIER_LABELS.get(t, t) for t in tiers)
        return False, (
            f"Applies to {wanted} systems; this one is {TIER_LABELS.get(facts.tier, facts.tier)}."
        )
    missing = [f for f in when.get("all", []) if f not in facts.facts]
    if missing:
        return False, "Applies only when " + " and ".join(fact_label(f) for f in missing) + "."
    any_of = when.get("any", [])
    if any_of and not set(any_of) & facts.facts:
        return False, "Applies only when " + " or ".join(fact_label(f) for f in any_of) + "."
    if when.get("live") and not facts.live:
        return False, "Applies once the system is in use (pilot or production)."
    role = " and ".join(ROLE_LABELS.get(r, r) for r in sorted(mine))
    why = [f"We are its {role}", f"it is {TIER_LABELS.get(facts.tier, facts.tier)}"]
    met = [f for f in [*when.get("all", []), *any_of] if f in facts.facts]
    why += [fact_label(f) for f in dict.fromkeys(met)]
    reason = ", ".join(why) + "."
    if facts.role_assumed:
        reason += " " + DEFAULT_ROLE_NOTE
    return True, reason

"""The demo firm's register (``manage.py seed_demo``): three business units, a person per
role, data sources of every classification and about 25 use cases across the lifecycle, made
through the services as people would.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from portal.models import ReviewerGroup, Role
from registry import services
from registry.models import BusinessUnit, DataSource, UseCase

User = get_user_model()
DEMO_PASSWORD = "steward-demo"

UNITS = [
    ("Retail Banking", "RETAIL", "Current accounts, cards and lending for personal customers."),
    ("Operations", "OPS", "Customer service, back office, HR and finance."),
    ("Legal & Compliance", "LEGAL", "Contracts, regulatory change and financial crime."),
]

# username, first, last, roles, units, staff
PEOPLE: list[tuple[str, str, str, list[str], list[str], bool]] = [
    ("admin", "Ada", "Okafor", [Role.ADMIN], ["RETAIL", "OPS", "LEGAL"], True),
    ("risk", "Rita", "Mendes", [Role.RISK_OFFICER], ["RETAIL", "OPS", "LEGAL"], False),
    ("owner", "Priya", "Shah", [Role.PRODUCT_OWNER], ["RETAIL"], False),
    ("owner.ops", "Tom", "Becker", [Role.PRODUCT_OWNER], ["OPS"], False),
    ("owner.legal", "Chloe", "Dubois", [Role.PRODUCT_OWNER], ["LEGAL"], False),
    ("leader", "Lena", "Hughes", [Role.LEADERSHIP], ["RETAIL", "OPS", "LEGAL"], False),
    ("dpo", "Daniel", "Park", [Role.DPO], ["RETAIL", "OPS", "LEGAL"], False),
    ("auditor", "Amir", "Haddad", [Role.AUDITOR], [], False),
    ("legal.reviewer", "Grace", "Kim", ["legal"], ["LEGAL"], False),
    ("security.reviewer", "Sam", "Novak", ["security"], ["OPS"], False),
]

# ref key, name, unit, owner, classification, personal, destination, retention days, rule
SOURCES = [
    (
        "web",
        "Public product pages and FAQs",
        "RETAIL",
        "owner",
        "public",
        False,
        "external_api",
        None,
        "Kept while published",
    ),
    (
        "kb",
        "Internal knowledge base",
        "OPS",
        "owner.ops",
        "internal",
        False,
        "external_api",
        None,
        "Reviewed yearly",
    ),
    (
        "tickets",
        "Customer support tickets",
        "OPS",
        "owner.ops",
        "confidential",
        True,
        "private_vpc",
        730,
        "",
    ),
    (
        "contracts",
        "Supplier contracts",
        "LEGAL",
        "owner.legal",
        "confidential",
        False,
        "private_vpc",
        2555,
        "7 years after expiry",
    ),
    (
        "transactions",
        "Card transactions",
        "RETAIL",
        "owner",
        "restricted",
        True,
        "on_premises",
        2190,
        "6 years after account closure",
    ),
    (
        "credit",
        "Credit bureau files",
        "RETAIL",
        "owner",
        "restricted",
        True,
        "on_premises",
        2190,
        "",
    ),
    (
        "cvs",
        "Job applicants' CVs",
        "OPS",
        "owner.ops",
        "special_category",
        True,
        "private_vpc",
        180,
        "6 months after the hiring decision",
    ),
    (
        "health",
        "Occupational health notes",
        "OPS",
        "owner.ops",
        "special_category",
        True,
        "on_premises",
        2190,
        "",
    ),
    (
        "sales",
        "Branch sales history",
        "RETAIL",
        "owner",
        "internal",
        False,
        "private_vpc",
        1825,
        "",
    ),
    ("chat", "Chat transcripts", "RETAIL", "owner", "confidential", True, "private_vpc", 365, ""),
    (
        "regs",
        "Regulatory publications",
        "LEGAL",
        "owner.legal",
        "public",
        False,
        "external_api",
        None,
        "Kept while in force",
    ),
]

# title, unit, owner, lifecycle, people, impact, oversight, sources, purpose
USE_CASES = [
    (
        "Contract clause extraction",
        "LEGAL",
        "owner.legal",
        "production",
        ["staff"],
        "assists",
        "before_action",
        ["contracts"],
        "Pulls key clauses from supplier contracts for lawyers.",
    ),
    (
        "Support ticket triage",
        "OPS",
        "owner.ops",
        "production",
        ["staff", "customers"],
        "assists",
        "sampled",
        ["tickets"],
        "Routes incoming tickets to the right team.",
    ),
    (
        "Customer support chatbot",
        "RETAIL",
        "owner",
        "production",
        ["customers", "public"],
        "informational",
        "sampled",
        ["web", "chat"],
        "Answers customers' questions on the website.",
    ),
    (
        "CV screening assistant",
        "OPS",
        "owner.ops",
        "pilot",
        ["public"],
        "assists",
        "before_action",
        ["cvs"],
        "Ranks applicants' CVs for recruiters to review.",
    ),
    (
        "Credit decisioning model",
        "RETAIL",
        "owner",
        "production",
        ["customers"],
        "automatic",
        "sampled",
        ["credit", "transactions"],
        "Approves or declines small personal loans.",
    ),
    (
        "Branch demand forecasting",
        "RETAIL",
        "owner",
        "production",
        ["staff"],
        "informational",
        "none",
        ["sales"],
        "Forecasts footfall to plan branch staffing.",
    ),
    (
        "Card fraud scoring",
        "RETAIL",
        "owner",
        "production",
        ["customers"],
        "automatic",
        "sampled",
        ["transactions"],
        "Scores card payments and holds the riskiest for review.",
    ),
    (
        "Complaint summarisation",
        "OPS",
        "owner.ops",
        "pilot",
        ["staff", "customers"],
        "assists",
        "before_action",
        ["tickets"],
        "Summarises long complaint threads for case handlers.",
    ),
    (
        "Regulatory change horizon scanning",
        "LEGAL",
        "owner.legal",
        "pilot",
        ["staff"],
        "informational",
        "none",
        ["regs"],
        "Flags new regulation relevant to the firm.",
    ),
    (
        "Internal policy Q&A",
        "OPS",
        "owner.ops",
        "production",
        ["staff"],
        "informational",
        "none",
        ["kb"],
        "Answers staff questions from the policy library.",
    ),
    (
        "Anti-money-laundering alert prioritisation",
        "LEGAL",
        "owner.legal",
        "pilot",
        ["customers"],
        "assists",
        "before_action",
        [],
        "Orders AML alerts by likely risk.",
    ),
    (
        "Collections next-best-action",
        "RETAIL",
        "owner",
        "proposed",
        ["customers"],
        "assists",
        "before_action",
        ["transactions"],
        "Suggests how to contact customers in arrears.",
    ),
    (
        "Email drafting assistant",
        "OPS",
        "owner.ops",
        "production",
        ["staff"],
        "assists",
        "before_action",
        ["kb"],
        "Drafts replies to routine customer emails.",
    ),
    (
        "Meeting transcription and minutes",
        "LEGAL",
        "owner.legal",
        "pilot",
        ["staff"],
        "informational",
        "none",
        [],
        "Transcribes meetings and drafts minutes.",
    ),
    (
        "Mortgage document checking",
        "RETAIL",
        "owner",
        "proposed",
        ["customers"],
        "assists",
        "before_action",
        [],
        "Checks mortgage applications for missing documents.",
    ),
    (
        "Sickness absence prediction",
        "OPS",
        "owner.ops",
        "suspended",
        ["staff"],
        "assists",
        "before_action",
        ["health"],
        "Predicted absence risk; suspended after staff concerns.",
    ),
    (
        "Marketing copy generation",
        "RETAIL",
        "owner",
        "production",
        ["public"],
        "informational",
        "sampled",
        ["web"],
        "Drafts product marketing copy for review.",
    ),
    (
        "Sanctions name screening",
        "LEGAL",
        "owner.legal",
        "production",
        ["customers", "public"],
        "assists",
        "before_action",
        [],
        "Matches names against sanctions lists.",
    ),
    (
        "Call centre sentiment analysis",
        "OPS",
        "owner.ops",
        "retired",
        ["customers", "staff"],
        "informational",
        "none",
        ["tickets"],
        "Scored call sentiment; replaced by surveys.",
    ),
    (
        "Spend categorisation",
        "RETAIL",
        "owner",
        "production",
        ["customers"],
        "informational",
        "none",
        ["transactions"],
        "Categorises card spending in the mobile app.",
    ),
    (
        "Contract risk scoring",
        "LEGAL",
        "owner.legal",
        "proposed",
        ["staff"],
        "assists",
        "before_action",
        ["contracts"],
        "Rates contracts by risk before signature.",
    ),
    (
        "IT service desk assistant",
        "OPS",
        "owner.ops",
        "pilot",
        ["staff"],
        "informational",
        "none",
        ["kb"],
        "Suggests fixes for common IT problems.",
    ),
    (
        "Vulnerable customer detection",
        "RETAIL",
        "owner",
        "proposed",
        ["customers"],
        "assists",
        "before_action",
        ["chat"],
        "Spots signs of vulnerability in chats for specialist care.",
    ),
    (
        "Invoice data extraction",
        "OPS",
        "owner.ops",
        "production",
        ["staff"],
        "assists",
        "sampled",
        [],
        "Reads supplier invoices into the ledger.",
    ),
    (
        "Legal research assistant",
        "LEGAL",
        "owner.legal",
        "retired",
        ["staff"],
        "assists",
        "before_action",
        ["regs"],
        "Searched case law; retired when the licence ended.",
    ),
    (
        "Interview scheduling bot",
        "OPS",
        "owner.ops",
        "proposed",
        ["public"],
        "informational",
        "none",
        [],
        "Books interview slots with applicants.",
    ),
]

# Tiers recorded by the risk officer, with what they rest on (EU AI Act, Regulation 2024/1689).
TIERS = {
    "CV screening assistant": ("high", "Annex III point 4(a): recruitment and selection"),
    "Credit decisioning model": ("high", "Annex III point 5(b): creditworthiness of persons"),
    "Sickness absence prediction": ("high", "Annex III point 4(b): decisions affecting work"),
    "Customer support chatbot": ("limited", "Article 50(1): people interact with an AI system"),
    "Marketing copy generation": ("limited", "Article 50(2): AI-generated text published"),
    "Internal policy Q&A": ("limited", "Article 50(1): staff interact with an AI system"),
    "Card fraud scoring": ("minimal", "Annex III 5(b) excludes detecting financial fraud"),
    "Branch demand forecasting": ("minimal", "No Annex III area; no effect on persons"),
    "Spend categorisation": ("minimal", "No Annex III area; informational only"),
    "Contract clause extraction": ("minimal", "Article 6(3)(a): narrow procedural task"),
    "Support ticket triage": ("minimal", "Article 6(3)(a): narrow procedural task"),
    "Invoice data extraction": ("minimal", "No Annex III area"),
    "Email drafting assistant": ("minimal", "A person reviews every reply before it is sent"),
}

# Where each demo use case is registered, and the moves after that. Those that reach
# production were live before the firm adopted Steward, so they are recorded as such (as an
# imported register would be) rather than moved through the go-live gate.
LIFECYCLE_PATH = {
    "proposed": ("proposed", []),
    "pilot": ("proposed", ["start_pilot"]),
    "production": ("production", []),
    "suspended": ("production", ["suspend"]),
    "retired": ("production", ["retire"]),
}


def seed() -> dict:
    """The register's part of the demo: units, reviewer groups, people, data sources and use
    cases with their tiers and moves. Returns the people by username, for the other parts."""
    units = {}
    for name, code, description in UNITS:
        units[code], _ = BusinessUnit.objects.get_or_create(
            code=code, defaults={"name": name, "description": description}
        )
    for name, description in (
        ("legal", "Reviews assessments for legal exposure."),
        ("security", "Reviews security of AI systems and their data."),
    ):
        group, _ = Group.objects.get_or_create(name=name)
        ReviewerGroup.objects.get_or_create(group=group, defaults={"description": description})
    people = {}
    for username, first, last, roles, unit_codes, staff in PEOPLE:
        user, made = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "is_staff": staff,
                "is_superuser": staff,
            },
        )
        if made:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(*Group.objects.filter(name__in=roles))
        for code in unit_codes:
            units[code].members.add(user)
        people[username] = user
    admin = people["admin"]
    sources = {}
    for key, name, unit, owner, cls, personal, dest, days, rule in SOURCES:
        existing = DataSource.objects.filter(name=name).first()
        sources[key] = existing or services.data_source_create(
            actor=admin,
            data={
                "name": name,
                "business_unit": units[unit],
                "owner": people[owner],
                "classification": cls,
                "personal_data": personal,
                "allowed_destination": dest,
                "retention_days": days,
                "retention_notes": rule,
            },
        )
    today = timezone.localdate()
    for i, (
        title,
        unit,
        owner,
        lifecycle,
        affected,
        impact,
        oversight,
        keys,
        purpose,
    ) in enumerate(USE_CASES):
        use_case = services.use_case_register(
            actor=people[owner],
            data={
                "title": title,
                "purpose": purpose,
                "business_unit": units[unit],
                "owner": people[owner],
                "people_affected": affected,
                "decision_impact": impact,
                "human_oversight": oversight,
                "data_sources": [sources[k] for k in keys],
                "next_review_date": today + timedelta(days=30 + 17 * i),
            },
            lifecycle=LIFECYCLE_PATH[lifecycle][0],
        )
        if title in TIERS:
            tier, why = TIERS[title]
            services.use_case_record_risk_tier(
                actor=people["risk"], use_case=use_case, tier=tier, justification=why
            )
        for action in LIFECYCLE_PATH[lifecycle][1]:
            services.use_case_transition(
                actor=admin,
                use_case=use_case,
                action=action,
                reason="Demo history" if action in ("suspend", "retire") else "",
            )
    credit = UseCase.objects.get(title="Credit decisioning model")
    services.use_case_flag_for_reassessment(
        actor=people["risk"],
        use_case=credit,
        reason="Approval rate for applicants under 25 fell 9 points since the last review",
    )
    absence = UseCase.objects.get(title="Sickness absence prediction")
    services.use_case_set_kill_switch(
        actor=people["dpo"],
        use_case=absence,
        engaged=True,
        reason="Special-category data used without a DPIA",
    )
    return people

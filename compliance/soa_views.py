"""The Statement of Applicability's pages: per framework and per use case, as a page, a CSV
and a PDF; signing one (compliance/services/statements.py); and the statements as signed.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from compliance import selectors
from compliance.models import Framework, SignedStatement
from compliance.services import statements
from compliance.soa import (
    HEADER,
    Statement,
    framework_statement,
    statement_pdf,
    use_case_statement,
)
from portal.access import can, require
from portal.csvexport import stream_csv
from portal.forms import SignForm, apply_validation_error
from portal.pdf import pdf_response, render_pdf
from registry.models import UseCase


# Pages ----------------------------------------------------------------------------------------
def _framework(request, pk: int) -> Framework:
    framework = selectors.access_framework(request.user, pk)
    require(request.user, "compliance.view_coverage")
    return framework


def _use_case(request, use_case_id: int) -> UseCase:
    use_case = selectors.access_use_case_obligations(request.user, use_case_id)
    require(request.user, "compliance.view_applicability", use_case)
    return use_case


def _page(request, statement: Statement, form=None, **subject):
    """The statement, its downloads, the statements signed before, and the sign form.
    ``subject``: ``framework=`` or ``use_case=``; the routes' names follow from it."""
    ((kind, record),) = subject.items()
    routes = "compliance:framework-soa" if kind == "framework" else "compliance:use-case-soa"
    signed = SignedStatement.objects.filter(**subject).select_related("signed_by")
    may_sign = can(request.user, "compliance.sign_soa", record)
    return render(
        request,
        "compliance/soa.html",
        {
            "statement": statement,
            "signed": signed[:20],
            "can_sign": may_sign and (statement.basis is not None or kind == "framework"),
            "form": form or SignForm(),
            "csv": f"{routes}-csv",
            "pdf": f"{routes}-pdf",
            "sign": f"{routes}-sign",
            "pk": record.pk,
            **subject,
        },
        status=400 if form is not None and form.errors else 200,
    )


def _sign(request, form, **subject):
    if not can(request.user, "compliance.sign_soa", next(iter(subject.values()))):
        raise PermissionDenied
    if form.is_valid():
        try:
            signed = statements.statement_sign(
                actor=request.user,
                password=form.cleaned_data["password"],
                note=form.cleaned_data["note"],
                **subject,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"You signed {signed.reference}.")
            return redirect(signed)
    return None


@login_required
@require_safe
def framework_soa(request, pk: int):
    framework = _framework(request, pk)
    return _page(
        request,
        framework_statement(request.user, framework),
        framework=framework,
    )


@login_required
@require_POST
def framework_soa_sign(request, pk: int):
    framework = _framework(request, pk)
    form = SignForm(request.POST)
    return _sign(request, form, framework=framework) or _page(
        request,
        framework_statement(request.user, framework),
        form,
        framework=framework,
    )


@login_required
@require_safe
def framework_soa_csv(request, pk: int):
    framework = _framework(request, pk)
    statement = framework_statement(request.user, framework)
    return stream_csv(
        f"soa-{framework.key}-v{framework.version}.csv",
        HEADER,
        (r.cells() for r in statement.rows),
    )


@login_required
@require_safe
def framework_soa_pdf(request, pk: int):
    framework = _framework(request, pk)
    content = statement_pdf(framework_statement(request.user, framework))
    return pdf_response(content, f"soa-{framework.key}-v{framework.version}.pdf")


@login_required
@require_safe
def use_case_soa(request, use_case_id: int):
    use_case = _use_case(request, use_case_id)
    return _page(
        request,
        use_case_statement(use_case),
        use_case=use_case,
    )


@login_required
@require_POST
def use_case_soa_sign(request, use_case_id: int):
    use_case = _use_case(request, use_case_id)
    form = SignForm(request.POST)
    return _sign(request, form, use_case=use_case) or _page(
        request,
        use_case_statement(use_case),
        form,
        use_case=use_case,
    )


@login_required
@require_safe
def use_case_soa_csv(request, use_case_id: int):
    use_case = _use_case(request, use_case_id)
    statement = use_case_statement(use_case)
    return stream_csv(f"soa-{use_case.reference}.csv", HEADER, (r.cells() for r in statement.rows))


@login_required
@require_safe
def use_case_soa_pdf(request, use_case_id: int):
    use_case = _use_case(request, use_case_id)
    content = statement_pdf(use_case_statement(use_case))
    return pdf_response(content, f"soa-{use_case.reference}.pdf")


# Signed statements ----------------------------------------------------------------------------
def _signed(request, pk: int) -> SignedStatement:
    """A signed statement, for whoever may read its subject's statement (404 otherwise)."""
    signed = get_object_or_404(
        SignedStatement.objects.select_related("framework", "use_case", "signed_by"), pk=pk
    )
    if signed.use_case is not None:
        _use_case(request, signed.use_case.pk)
    elif signed.framework is not None:
        _framework(request, signed.framework.pk)
    return signed


def signed_filename(signed: SignedStatement) -> str:
    if signed.use_case is not None:
        subject = signed.use_case.reference
    else:
        assert signed.framework is not None  # one of the two, by a constraint
        subject = f"{signed.framework.key}-v{signed.framework.version}"
    return f"{signed.reference}-soa-{subject}-signed.pdf"


@login_required
@require_safe
def statement_detail(request, pk: int):
    signed = _signed(request, pk)
    return render(
        request,
        "compliance/statement_detail.html",
        {
            "signed": signed,
            "statement": Statement.from_signed(signed),
            "verified": statements.verified(signed),
        },
    )


@login_required
@require_safe
def statement_signed_pdf(request, pk: int):
    signed = _signed(request, pk)
    content = render_pdf(
        "compliance/pdf/soa.html",
        {"statement": Statement.from_signed(signed), "verified": statements.verified(signed)},
    )
    return pdf_response(content, signed_filename(signed))

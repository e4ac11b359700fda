"""The assessment pages: lists and queues, filling a section, review, sign-off, compare."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from assessments import engine, pdf, services
from assessments.compare import compare, result_rows
from assessments.forms import (
    OverrideTierForm,
    SignOffForm,
    StartForm,
    question_views,
    raw_answers,
    section_questions,
)
from assessments.models import (
    TRANSITIONS,
    Assessment,
    Comment,
    EvidenceFile,
    Kind,
    SignOff,
    Status,
)
from assessments.selectors import (
    access_assessment,
    assessments_visible_to,
    awaiting,
    templates_offered,
    to_revise,
    versions_of,
)
from portal.access import can
from portal.forms import apply_validation_error, error_messages
from registry.selectors import use_cases_visible_to


# Lists ---------------------------------------------------------------------------------------
@login_required
def assessment_list(request):
    tab = request.GET.get("tab", "all")
    if tab == "review":
        qs = awaiting(request.user, "review")
    elif tab == "sign":
        qs = awaiting(request.user, "approve")
    elif tab == "revise":
        qs = to_revise(request.user)
    else:
        tab = "all"
        qs = assessments_visible_to(request.user).order_by("-updated_at", "-pk")
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    if status in Status.values:
        qs = qs.filter(status=status)
    if kind in Kind.values:
        qs = qs.filter(kind=kind)
    page = Paginator(qs, settings.REGISTER_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "assessments/assessment_list.html",
        {
            "page": page,
            "assessments": page.object_list,
            "tab": tab,
            "status": status,
            "kind": kind,
            "statuses": Status.choices,
            "kinds": Kind.choices,
            "query": query.urlencode(),
            "to_review": awaiting(request.user, "review").count(),
            "to_sign": awaiting(request.user, "approve").count(),
            "to_revise": to_revise(request.user).count(),
        },
    )


@login_required
def sign_off_queue(request):
    queue = awaiting(request.user, "approve")
    return render(request, "assessments/sign_off_queue.html", {"queue": queue})


# Starting ------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def assessment_start(request, use_case_pk: int):
    use_case = get_object_or_404(use_cases_visible_to(request.user), pk=use_case_pk)
    if not can(request.user, "assessments.add_assessment", use_case):
        raise PermissionDenied
    templates = templates_offered(request.GET.get("kind") or None)
    form = StartForm(request.POST or None, templates=templates)
    if request.method == "POST" and form.is_valid():
        try:
            assessment = services.assessment_start(
                actor=request.user, use_case=use_case, template=form.cleaned_data["template"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{assessment.reference} started. It saves as you type.")
            first = assessment.definition["sections"][0]["key"]
            return redirect("assessments:section", assessment.pk, first)
    return render(
        request, "assessments/assessment_start.html", {"use_case": use_case, "form": form}
    )


# One assessment ------------------------------------------------------------------------------
def _sections(assessment) -> list[dict]:
    """Each section's title and progress; complete once its required questions are answered
    (optional ones may stay empty)."""
    done = engine.progress(assessment.definition, assessment.answers)
    missing = {
        q.section for q in engine.missing_required(assessment.definition, assessment.answers)
    }
    return [
        {
            "key": s["key"],
            "title": s["title"],
            "answered": done.get(s["key"], (0, 0))[0],
            "shown": done.get(s["key"], (0, 0))[1],
            "complete": s["key"] not in missing,
        }
        for s in assessment.definition["sections"]
    ]


@login_required
def assessment_detail(request, pk: int):
    assessment = access_assessment(request.user, pk)
    user = request.user
    comments = list(
        assessment.comments.select_related("author")
        .filter(parent__isnull=True)
        .prefetch_related("replies__author")
    )
    for c in comments:
        c.can_resolve = can(user, "assessments.resolve_comment", c)  # type: ignore[attr-defined]
    qmap = engine.question_map(assessment.definition)
    sections = _sections(assessment)
    answered = sum(s["answered"] for s in sections)
    shown = sum(s["shown"] for s in sections)
    sign_off = (
        getattr(assessment, "sign_off_record", None)
        if assessment.status
        in (
            Status.SIGNED_OFF,
            Status.SUPERSEDED,
        )
        else None
    )
    reviews = list(assessment.reviews.select_related("assignee", "decided_by", "group"))
    unfillable = {a.pk for a in services.unfillable_reviews(assessment)}
    can_delegate = can(user, "assessments.delegate_review", assessment)
    context = {
        "assessment": assessment,
        "use_case": assessment.use_case,
        "sections": sections,
        "answered": answered,
        "shown": shown,
        "percent": round(100 * answered / shown) if shown else 0,
        "transitions": [
            (name, t)
            for name, t in services.available_transitions(assessment, user)
            if name != "sign_off"
        ],
        "can_sign": can(user, "assessments.sign_off", assessment),
        "can_edit": can(user, "assessments.change_assessment", assessment),
        "can_comment": can(user, "assessments.comment", assessment),
        "can_reassess": can(user, "assessments.reassess", assessment),
        "can_override": can(user, "assessments.override_tier", assessment),
        "override_form": OverrideTierForm(),
        "reviews": reviews,
        "unfillable": unfillable,
        "can_delegate": can_delegate,
        "delegates": delegates_for(assessment) if can_delegate and unfillable else [],
        "comments": [(c, qmap.get(c.question_key)) for c in comments],
        "open_comments": sum(1 for c in comments if not c.resolved),
        "missing": engine.missing_required(assessment.definition, assessment.answers),
        "expired": engine.expired_evidence(
            assessment.definition, assessment.answers, timezone.localdate()
        ),
        "versions": list(versions_of(assessment)),
        "sign_off": sign_off,
        "sign_off_verified": services.sign_off_verified(assessment) if sign_off else False,
        "summary_available": pdf.summary_available(assessment),
        "recent_history": assessment.history.select_related("history_user")[:8],
    }
    return render(request, "assessments/assessment_detail.html", context)


def _upload_evidence(request, assessment, questions, post) -> None:
    """Store files chosen for evidence rows; their rows then refer to the stored file."""
    for q in questions:
        if q.type != "evidence":
            continue
        prefix = f"q-{q.key}-"
        for name, upload in request.FILES.items():
            if not (name.startswith(prefix) and name.endswith("-upload")):
                continue
            row = name[len(prefix) : -len("-upload")]
            try:
                stored = services.evidence_upload(
                    actor=request.user, assessment=assessment, upload=upload
                )
            except ValidationError as exc:
                # Tie the problem to its question, where the person chose the file.
                raise ValidationError({q.key: " ".join(exc.messages)}) from None
            post[f"{prefix}{row}-file"] = str(stored.pk)
            post[f"{prefix}{row}-filename"] = stored.filename
            post[f"{prefix}{row}-sha256"] = stored.sha256
            if not post.get(f"{prefix}{row}-title"):
                post[f"{prefix}{row}-title"] = stored.filename


def _mine_only(assessment, questions, typed: dict, base_revision: int) -> dict:
    """Of what was posted, only what the person changed since they opened the page.

    After a conflict the page shows the colleague's newer answers wherever this person did
    not touch a question, so saving again keeps both people's work.
    """
    before = services.answers_at(assessment, base_revision)
    qmap = {q.key: q for q in questions}
    mine = {}
    for key, raw in typed.items():
        try:
            value = engine.clean_answer(qmap[key], raw)
        except ValueError:
            mine[key] = raw  # not even valid: certainly typed by them
            continue
        if value != before.get(key):
            mine[key] = raw
    return mine


@login_required
@require_http_methods(["GET", "POST"])
def assessment_section(request, pk: int, section: str):
    assessment = access_assessment(request.user, pk)
    keys = [s["key"] for s in assessment.definition["sections"]]
    if section not in keys:
        raise Http404("No such section.")
    questions = section_questions(assessment.definition, section)
    can_edit = can(request.user, "assessments.change_assessment", assessment)
    autosave = request.headers.get("X-Autosave") == "1"
    typed, errors, conflict = None, {}, None
    revision = assessment.revision

    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        post = request.POST.copy()
        nonce = _nonce(post.get("draft_nonce", ""))
        try:
            base = int(post.get("revision", ""))
        except ValueError:
            return HttpResponseBadRequest("The form lost its revision; reload the page.")
        typed = raw_answers(questions, post)
        if autosave:
            # Files go up with the Save button; a half-made evidence row must not stop
            # the rest of the section saving as the person types.
            typed = {k: v for k, v in typed.items() if k not in _evidence_keys(questions)}
        try:
            with transaction.atomic():
                if not autosave:
                    _upload_evidence(request, assessment, questions, post)
                    typed = raw_answers(questions, post)
                assessment = services.assessment_save_answers(
                    actor=request.user,
                    assessment=assessment,
                    answers=typed,
                    base_revision=base,
                    autosave=autosave,
                )
        except services.EditConflict as exc:
            conflict = exc.changes
            revision = exc.current_revision
            if autosave:
                return JsonResponse(
                    {"saved": False, "conflict": conflict, "revision": revision}, status=409
                )
            assessment = exc.assessment
            # What was posted, not the files stored and rolled back with the refused save.
            typed = _mine_only(assessment, questions, raw_answers(questions, request.POST), base)
        except ValidationError as exc:
            errors = {k: " ".join(v) for k, v in exc.message_dict.items()}
            revision = base
            typed = raw_answers(questions, request.POST)
            if autosave:
                return JsonResponse({"saved": False, "errors": errors}, status=400)
        else:
            if autosave:
                return JsonResponse(
                    {
                        "saved": True,
                        "revision": assessment.revision,
                        "saved_at": timezone.localtime().strftime("%H:%M:%S"),
                        "progress": _sections(assessment),
                    }
                )
            messages.success(request, "Saved.")
            following = keys.index(section) + 1
            target = keys[following] if "next" in post and following < len(keys) else section
            url = reverse("assessments:section", args=[assessment.pk, target])
            # Tell the page's script that this save arrived, so it drops its browser copy.
            return redirect(f"{url}?saved={nonce}" if nonce else url)

    comments = list(
        assessment.comments.select_related("author").prefetch_related("replies__author")
    )
    for c in comments:
        c.can_resolve = can(request.user, "assessments.resolve_comment", c)  # type: ignore[attr-defined]
    index = keys.index(section)
    context = {
        "assessment": assessment,
        "use_case": assessment.use_case,
        "section": assessment.definition["sections"][index],
        "sections": _sections(assessment),
        "previous_key": keys[index - 1] if index > 0 else None,
        "next_key": keys[index + 1] if index + 1 < len(keys) else None,
        "questions": question_views(
            assessment.definition,
            section,
            assessment.answers,
            typed=_typed_for_display(questions, typed) if typed is not None else None,
            errors=errors,
            comments=comments,
        ),
        "revision": revision,
        "can_edit": can_edit,
        "can_comment": can(request.user, "assessments.comment", assessment),
        "conflict": conflict,
        "errors": errors,
        "likelihoods": engine.LIKELIHOOD,
        "severities": engine.SEVERITY,
        "ratings": engine.RATINGS,
        "effects": engine.EFFECTS,
    }
    context["draft_nonce"] = _nonce(request.POST.get("draft_nonce", "")) if request.POST else ""
    status = 409 if conflict else 400 if errors else 200
    return render(request, "assessments/assessment_section.html", context, status=status)


def _nonce(value: str) -> str:
    return value if value.isalnum() and len(value) <= 40 else ""


def _evidence_keys(questions) -> set[str]:
    return {q.key for q in questions if q.type == "evidence"}


def _typed_for_display(questions, typed: dict) -> dict:
    """What was typed, shaped like stored answers so the form can show it again."""
    shown = {}
    for q in questions:
        if q.key not in typed:
            continue
        value = typed[q.key]
        if q.type == "risk_table":
            value = [r for r in value if any(v for k, v in r.items() if k != "approved")]
            for r in value:
                r["approved"] = r.get("approved") in ("on", "true", "yes", "1", True)
        elif q.type == "evidence":
            value = [r for r in value if r.get("title") or r.get("url") or r.get("file")]
        shown[q.key] = value
    return shown


@login_required
@require_POST
def assessment_transition(request, pk: int, action: str):
    assessment = access_assessment(request.user, pk)
    if action not in TRANSITIONS or action == "sign_off":
        raise Http404
    try:
        services.assessment_transition(
            actor=request.user,
            assessment=assessment,
            action=action,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        for field, msgs in exc.message_dict.items():
            if field in ("__all__", "reason", "action"):
                for m in msgs:
                    messages.error(request, m)
        if action == "submit":
            missing = [k for k in exc.message_dict if k not in ("__all__", "reason", "action")]
            if missing:
                messages.error(
                    request, "Answer the questions listed under “Still to answer” first."
                )
    else:
        messages.success(request, f"{TRANSITIONS[action].label}: done.")
    return redirect(assessment.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def assessment_sign_off(request, pk: int):
    assessment = access_assessment(request.user, pk, "assessments.sign_off")
    questions = pdf.open_questions(assessment)
    form = SignOffForm(request.POST or None, open_questions=questions)
    if request.method == "POST" and form.is_valid():
        try:
            services.assessment_transition(
                actor=request.user,
                assessment=assessment,
                action="sign_off",
                password=form.cleaned_data["password"],
                reason=form.cleaned_data["note"],
                acknowledged_questions=form.cleaned_data["acknowledged_questions"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"You signed off {assessment.reference}.")
            return redirect(assessment.get_absolute_url())
    return render(
        request,
        "assessments/assessment_sign_off.html",
        {
            "assessment": assessment,
            "use_case": assessment.use_case,
            "form": form,
            "reviews": list(assessment.reviews.all()),
            "missing": engine.missing_required(assessment.definition, assessment.answers),
            "open_questions": [
                (c, engine.question_map(assessment.definition).get(c.question_key))
                for c in questions
            ],
        },
    )


@login_required
@require_POST
def assessment_comment(request, pk: int):
    assessment = access_assessment(request.user, pk, "assessments.comment")
    parent = None
    if request.POST.get("parent"):
        parent = get_object_or_404(Comment, pk=request.POST["parent"], assessment=assessment)
    try:
        comment = services.assessment_comment(
            actor=request.user,
            assessment=assessment,
            body=request.POST.get("body", ""),
            question_key=request.POST.get("question_key", ""),
            parent=parent,
        )
    except ValidationError as exc:
        error_messages(request, exc)
        return redirect(_back(request, assessment))
    messages.success(request, "Comment added.")
    return redirect(_back(request, assessment, f"comment-{comment.pk}"))


def _back(request, assessment, anchor: str = "") -> str:
    section = request.POST.get("section", "")
    if section in [s["key"] for s in assessment.definition["sections"]]:
        url = reverse("assessments:section", args=[assessment.pk, section])
    else:
        url = assessment.get_absolute_url()
    return f"{url}#{anchor}" if anchor else url


@login_required
@require_POST
def comment_resolve(request, pk: int, comment_pk: int):
    assessment = access_assessment(request.user, pk)
    comment = get_object_or_404(Comment, pk=comment_pk, assessment=assessment)
    services.comment_resolve(actor=request.user, comment=comment)
    messages.success(request, "Comment resolved.")
    return redirect(_back(request, assessment, f"comment-{comment.pk}"))


@login_required
def assessment_compare(request, pk: int):
    assessment = access_assessment(request.user, pk)
    versions = list(versions_of(assessment))
    other_pk = request.GET.get("with")
    others = [v for v in versions if v.pk != assessment.pk]
    if other_pk:
        other = next((v for v in versions if str(v.pk) == other_pk), None)
        if other is None:
            raise Http404("That is not a version of this assessment.")
    elif others:
        other = others[-1] if others[-1].version < assessment.version else others[0]
    else:
        other = None
    right: Assessment | None  # None: no other version to compare with
    if other is not None and other.version < assessment.version:
        left, right = other, assessment
    else:
        left, right = assessment, other
    rows = compare(left, right) if right is not None else []
    only_changes = request.GET.get("changes") == "1"
    return render(
        request,
        "assessments/assessment_compare.html",
        {
            "assessment": assessment,
            "use_case": assessment.use_case,
            "left": left,
            "right": right,
            "versions": versions,
            "rows": [r for r in rows if r.changed] if only_changes else rows,
            "results": result_rows(left, right) if right is not None else [],
            "changed": sum(1 for r in rows if r.changed),
            "only_changes": only_changes,
        },
    )


@login_required
@require_POST
def assessment_reassess(request, pk: int):
    assessment = access_assessment(request.user, pk, "assessments.reassess")
    try:
        new = services.assessment_reassess(actor=request.user, assessment=assessment)
    except ValidationError as exc:
        error_messages(request, exc)
        return redirect(assessment.get_absolute_url())
    messages.success(request, f"{new.reference} started from {assessment.reference}'s answers.")
    return redirect(new.get_absolute_url())


@login_required
@require_POST
def assessment_override_tier(request, pk: int):
    assessment = access_assessment(request.user, pk, "assessments.override_tier")
    form = OverrideTierForm(request.POST)
    if form.is_valid():
        try:
            services.assessment_override_tier(
                actor=request.user,
                assessment=assessment,
                tier=form.cleaned_data["tier"],
                justification=form.cleaned_data["justification"],
            )
        except ValidationError as exc:
            error_messages(request, exc)
        else:
            messages.success(request, "The tier was overridden and the reason recorded.")
    else:
        messages.error(request, "Choose a tier and say why the screening is overridden.")
    return redirect(assessment.get_absolute_url())


def delegates_for(assessment) -> list:
    """Who an admin may name to take a review: active people of the use case's unit who did
    not write the assessment."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, business_units=assessment.use_case.business_unit)
        .exclude(pk__in=[assessment.author_id, *(assessment.contributor_ids or [])])
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@login_required
@require_POST
def review_delegate(request, pk: int, review_pk: int):
    assessment = access_assessment(request.user, pk, "assessments.delegate_review")
    assignment = get_object_or_404(assessment.reviews, pk=review_pk)
    person = next(
        (p for p in delegates_for(assessment) if str(p.pk) == request.POST.get("person", "")),
        None,
    )
    try:
        services.review_delegate(
            actor=request.user,
            assignment=assignment,
            person=person,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, f"{assignment.reviewer_label} review delegated.")
    return redirect(assessment.get_absolute_url())


@login_required
@require_POST
def evidence_upload(request, pk: int):
    """Kept for forms that upload a file on its own; the section form uploads inline."""
    assessment = access_assessment(request.user, pk, "assessments.change_assessment")
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to upload.")
    else:
        try:
            stored = services.evidence_upload(
                actor=request.user, assessment=assessment, upload=upload
            )
        except ValidationError as exc:
            error_messages(request, exc)
        else:
            messages.success(request, f"{stored.filename} uploaded.")
    return redirect(assessment.get_absolute_url())


@login_required
def evidence_download(request, pk: int, file_pk: int):
    assessment = access_assessment(request.user, pk)
    # A re-assessment keeps the evidence of the version it started from.
    stored = get_object_or_404(
        EvidenceFile, pk=file_pk, assessment_id__in=services.evidence_chain_ids(assessment)
    )
    return FileResponse(stored.file.open("rb"), as_attachment=True, filename=stored.filename)


@login_required
def signed_content(request, pk: int):
    """Exactly the bytes that were signed, so anyone can recompute the SHA-256 themselves."""
    assessment = access_assessment(request.user, pk)
    record = get_object_or_404(SignOff, assessment=assessment)
    response = HttpResponse(record.content.encode("utf-8"), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{assessment.reference}-signed.json"'
    response["X-Content-SHA256"] = record.sha256
    return response

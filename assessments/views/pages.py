from django.http import Http404


def _stub(request, *args, **kwargs):
    raise Http404


assessment_list = sign_off_queue = assessment_start = assessment_detail = _stub
assessment_section = assessment_transition = assessment_sign_off = assessment_comment = _stub
comment_resolve = assessment_compare = assessment_reassess = assessment_override_tier = _stub
evidence_upload = evidence_download = _stub

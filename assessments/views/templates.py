from django.http import Http404


def template_list(request):
    raise Http404


template_import = template_detail = template_export = template_list

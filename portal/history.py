from django.http import HttpResponse


def audit_log(request):
    return HttpResponse("todo")


def record_history(request, model, pk):
    return HttpResponse("todo")

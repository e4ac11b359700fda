from django.contrib import admin

from portal.forms import AdminSignInForm
from portal.models import ReviewerGroup

# The admin's sign-in counts failures with the portal's (portal/throttle.py).
admin.site.login_form = AdminSignInForm


@admin.register(ReviewerGroup)
class ReviewerGroupAdmin(admin.ModelAdmin):
    list_display = ["group", "description"]

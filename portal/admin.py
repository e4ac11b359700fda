from django.contrib import admin

from portal.models import ReviewerGroup


@admin.register(ReviewerGroup)
class ReviewerGroupAdmin(admin.ModelAdmin):
    list_display = ["group", "description"]

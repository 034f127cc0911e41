"""The readers' "label these next" page (/label-next/), linked from the worklist.

Its own namespace (``label_next``) since lifecycle.urls is mounted under /curation/.
"""

from django.urls import path

from lifecycle import views_next

app_name = "label_next"

urlpatterns = [
    path("", views_next.reader_queue, name="queue"),
]

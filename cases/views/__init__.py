"""Server-rendered pages of the web UI. Each view parses input, reads through a selector and calls one service."""

from cases.views.browse import adjudication_queue, case_statuses, worklist, worklist_new
from cases.views.case import case_detail, case_priority, case_task
from cases.views.images import image_frame, image_header, image_pixels, image_thumbnail
from cases.views.review import adjudication_submit_view, review_submit_view
from cases.views.uploads import upload, upload_result

__all__ = [
    "adjudication_queue",
    "adjudication_submit_view",
    "case_detail",
    "case_priority",
    "case_statuses",
    "case_task",
    "image_frame",
    "image_header",
    "image_pixels",
    "image_thumbnail",
    "review_submit_view",
    "upload",
    "upload_result",
    "worklist",
    "worklist_new",
]

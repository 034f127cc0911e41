"""Response examples the OpenAPI documents share (made-up data)."""

from __future__ import annotations

from typing import Any

PREDICTION_EXAMPLE: dict[str, Any] = {
    "id": 311,
    "case": 42,
    "image": 97,
    "status": "done",
    "label": "meningioma",
    "confidence": 0.91,
    "probabilities": {"glioma": 0.04, "meningioma": 0.91, "notumor": 0.02, "pituitary": 0.03},
    "uncertainty": 0.27,
    "disagreement": None,
    "members": [
        {"version_id": 3, "version": "brain_mri@1.2.0", "weight": 1.0, "probabilities": {"meningioma": 0.91}}
    ],
    "model_version": {"id": 3, "name": "brain_mri", "version": "1.2.0", "untrained": False},
    "untrained": False,
    "device": "cuda:0",
    "timings": {"decode": 1.9, "forward": 6.4, "saliency": 0.3},
    "frame": 0,
    "error": "",
    "created_at": "2026-03-02T08:15:02Z",
    "started_at": "2026-03-02T08:15:02Z",
    "finished_at": "2026-03-02T08:15:03Z",
    "saliency_url": "https://oncoportal.example.org/api/v1/predictions/311/saliency.png",
    "overlay_url": "https://oncoportal.example.org/api/v1/predictions/311/overlay.png",
}
REVIEW_EXAMPLE: dict[str, Any] = {
    "id": 58,
    "case": 42,
    "image": 97,
    "reviewer": "dr.meyer",
    "decision": "confirm",
    "label": "meningioma",
    "note": "",
    "ai_label": "meningioma",
    "ai_model_version": "brain_mri@1.2.0",
    "submitted_at": "2026-03-02T09:40:11Z",
    "seconds_spent": None,
}
CASE_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "url": "https://oncoportal.example.org/api/v1/cases/42/",
    "site": "uh-radiology",
    "task": "brain_mri",
    "task_label": "Brain MRI",
    "status": "in_review",
    "priority": 1,
    "priority_label": "Urgent",
    "flagged": False,
    "ai": {
        "label": "meningioma",
        "confidence": 0.91,
        "uncertainty": 0.27,
        "positive": True,
        "untrained": False,
    },
    "image_count": 1,
    "created_at": "2026-03-02T08:15:01Z",
    "status_changed_at": "2026-03-02T09:40:11Z",
    "task_inferred": False,
    "flag_reason": "",
    "failure_reason": "",
    "assignee": None,
    "readers_required": 2,
    "study": {
        "id": 40,
        "study_instance_uid": "2.25.118473641283766612374616",
        "patient": "p-3f2a9c0d41e7b5a8",
        "is_dicom": True,
        "study_date": "2026-03-01",
        "modality": "MR",
        "body_part": "BRAIN",
        "description": "MRI head w/o contrast",
    },
    "images": [
        {
            "id": 97,
            "series": {
                "id": 51,
                "series_instance_uid": "2.25.118473641283766612374616.1",
                "modality": "MR",
                "number": 3,
                "description": "T1 post",
            },
            "sop_instance_uid": "2.25.118473641283766612374616.1.1",
            "instance_number": 1,
            "kind": "dicom",
            "frames": 1,
            "rows": 512,
            "columns": 512,
            "pixel_spacing": [0.45, 0.45],
            "burned_in_annotation": False,
            "predictions": [PREDICTION_EXAMPLE],
            "reviews": [],
            "hidden_readings": 1,
            "adjudication": None,
        }
    ],
    "links": {
        "reviews": "https://oncoportal.example.org/api/v1/cases/42/reviews/",
        "audit": "https://oncoportal.example.org/api/v1/cases/42/audit/",
        "retry": "https://oncoportal.example.org/api/v1/cases/42/retry/",
    },
}

from cases.models.audit import AuditEvent, AuditSource
from cases.models.case import Case, CaseStatus, Priority, Task
from cases.models.image import Image, ImageKind
from cases.models.intake import IntakeBatch
from cases.models.patient import Patient
from cases.models.review import Adjudication, Review, ReviewDecision, ReviewPolicy
from cases.models.routing import RoutingRule
from cases.models.study import Series, Study
from cases.models.task import TaskDefinition
from cases.models.user import Role, Site, User

__all__ = [
    "Adjudication",
    "AuditEvent",
    "AuditSource",
    "Case",
    "CaseStatus",
    "Image",
    "ImageKind",
    "IntakeBatch",
    "Patient",
    "Priority",
    "Review",
    "ReviewDecision",
    "ReviewPolicy",
    "Role",
    "RoutingRule",
    "Series",
    "Site",
    "Study",
    "Task",
    "TaskDefinition",
    "User",
]

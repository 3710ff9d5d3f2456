"""The review queue: members correct wrong answers, admins approve, the gallery grows where
recognition failed. One interface (`ReviewQueue`), one module per gallery backend, one service
(`ReviewDesk`)."""

from __future__ import annotations

from .base import APPROVED, EXPIRED, PENDING, REJECTED, STATUSES, UNKNOWN, Decision, ReviewQueue, Suggestion

__all__ = [
    "APPROVED",
    "EXPIRED",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "UNKNOWN",
    "Decision",
    "ReviewQueue",
    "Suggestion",
    "open_review_queue",
]


def open_review_queue(settings, gallery=None) -> ReviewQueue:
    """The queue of the configured gallery backend: a SQLite file (`review.path`, else
    `<data_dir>/review.sqlite3`), or an index next to the Elasticsearch gallery (sharing `gallery`'s
    client when one is given). Nothing is opened or created until first use."""
    backend = settings.gallery.backend
    if backend == "elasticsearch":
        from ..gallery.elastic import ElasticsearchGallery
        from .elastic import ElasticsearchReviewQueue

        if isinstance(gallery, ElasticsearchGallery):
            return ElasticsearchReviewQueue(gallery, owns_client=False)
        return ElasticsearchReviewQueue(ElasticsearchGallery(settings.gallery.elasticsearch))
    from .sqlite import SQLiteReviewQueue

    return SQLiteReviewQueue(settings.review_path)

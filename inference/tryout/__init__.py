"""Try-outs: one image through a task's active model, shown in seconds, kept only if saved as a case.

``services`` (web side: start, save as case, discard), ``selectors`` (reads,
owner only), ``worker`` (the Celery side: the case pipeline's predictor cache
and decoders on one stored file; expiry), ``forms``.
"""

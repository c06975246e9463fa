"""Collection tasks: workers photograph, record or film something on their phones.

models.py (uploads and their chunks, consents), media.py (what a file really is, privacy
stripping, perceptual hashes), services.py (the resumable upload protocol, checks, duplicates,
submission, media for reviewers, cleanup), task_type.py (the `collection` task type).
"""

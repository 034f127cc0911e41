"""Listeners for `cases` signals (shadow runs start when a case's clinical prediction is done)."""

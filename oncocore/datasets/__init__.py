"""Dataset snapshots as files: the manifest every exporter writes and every trainer reads (Django-free)."""

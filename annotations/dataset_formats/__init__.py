"""Readers for public dermatology datasets' metadata, one module per format; see ``base.py`` for the
protocol and ``registry.py`` for the names ``manage.py import_dataset`` takes."""

"""Shared building blocks of every role: config, errors, lifecycle, metadata, storage, broker."""

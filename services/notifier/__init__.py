"""Terminarz notifier service."""

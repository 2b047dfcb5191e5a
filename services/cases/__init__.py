"""Terminarz cases service."""

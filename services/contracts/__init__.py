"""Terminarz contracts service."""

"""Terminarz gateway service."""

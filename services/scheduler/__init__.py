"""Terminarz scheduler service."""

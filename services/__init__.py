"""Terminarz: the five services of an accounting office's contract system and their shared platform."""

"""Unit tests of the scheduler's domain, engine wrapper and CLI."""

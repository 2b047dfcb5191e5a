"""Shared platform for every service: settings, logging, clock, database, bus, outbox and inbox, errors."""

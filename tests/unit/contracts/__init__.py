"""Unit tests of the contracts domain: identifiers, models, the terms document and CSV import."""

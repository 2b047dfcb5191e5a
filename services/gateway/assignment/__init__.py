"""Who works a case: reassignments and absences (the cases service owns them)."""

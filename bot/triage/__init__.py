"""Triage: what a mention is (classification), whether and how urgently to answer (policy), and
whether a reply needs a spokesperson (sensitivity). Every label carries the evidence behind it."""

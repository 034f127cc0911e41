"""The authorisation matrix: every URL x every principal x own, foreign and missing objects."""

"""Figure functions, one per figure kind. Each takes tidy tables (pandas) and returns a Figure."""

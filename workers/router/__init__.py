"""workers/router: rules, round robin, presence, business hours, manual assignment (R1-R10)."""

"""mediacore: the real-time communications core of an emergency command centre."""

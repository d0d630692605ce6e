"""Recording storage: segmented PCM16 WAV tracks, a SHA-256 chain per track, a sealed manifest."""

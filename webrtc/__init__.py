"""Browsers and other WebRTC clients as room participants: aiortc peers, signalling, WHIP/WHEP."""

"""Radio gateways: EUROCAE ED-137B radio-over-IP (header extension, signalling) and VOX legs."""

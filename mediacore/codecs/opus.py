"""Opus through libopus (opuslib's ctypes bindings), mono at 48 kHz.

SDP always says "opus/48000/2"; we encode mono and decode to mono (libopus downmixes stereo
packets). The hot calls go straight to libopus with numpy buffers instead of opuslib's wrappers,
which copy every sample through Python lists."""

from __future__ import annotations

import ctypes

import numpy as np
import opuslib
import opuslib.api.ctl
import opuslib.api.decoder
import opuslib.api.encoder

from mediacore.codecs.base import CodecError, CodecInfo, Pcm

OPUS = CodecInfo(
    "opus",
    clock_rate=48000,
    sample_rate=48000,
    channels=2,
    default_fmtp="minptime=10;useinbandfec=1",
)

# Opus frames are 2.5, 5, 10, 20, 40 or 60 ms; 30 and 50 ms are not among them.
OPUS_PTIMES_MS = (10, 20, 40, 60)

_RATE = 48000
_PLC_GRANULE = _RATE * 25 // 10000  # libopus conceals in multiples of 2.5 ms
_MAX_PACKET_BYTES = 4000  # libopus's recommended output buffer; a 60 ms packet is far smaller
_FLOAT_POINTER = ctypes.POINTER(ctypes.c_float)


class OpusDecoder:
    """libopus decoder state for one stream, with its PLC and in-band FEC."""

    def __init__(self) -> None:
        self._decoder = opuslib.Decoder(_RATE, 1)  # owns the state and frees it
        self._state = self._decoder.decoder_state

    def _run(self, data: bytes | None, samples: int, fec: bool) -> Pcm:
        pcm = np.empty(samples, dtype=np.float32)
        length = 0 if data is None else len(data)
        decoded = opuslib.api.decoder.libopus_decode_float(
            self._state, data, length, pcm.ctypes.data_as(_FLOAT_POINTER), samples, int(fec)
        )
        if decoded < 0:
            raise CodecError(f"Opus decode failed: {opuslib.OpusError(decoded)}")
        return pcm[:decoded]

    def _samples_in(self, payload: bytes) -> int:
        count = opuslib.api.decoder.libopus_get_nb_samples(self._state, payload, len(payload))
        if count <= 0:
            raise CodecError(f"not an Opus packet: {opuslib.OpusError(count)}")
        return int(count)

    def decode(self, payload: bytes) -> Pcm:
        """Takes: one Opus packet. Returns: its full duration (2.5 to 120 ms) at 48 kHz.
        Raises: CodecError for an empty or malformed packet."""
        if not payload:
            raise CodecError("empty Opus payload")
        return self._run(payload, self._samples_in(payload), fec=False)

    def conceal(self, samples: int) -> Pcm:
        """libopus PLC for `samples` (run in whole 2.5 ms steps, trimmed to `samples`).
        Raises: ValueError for a negative sample count."""
        if samples < 0:
            raise ValueError(f"cannot conceal {samples} samples")
        if samples == 0:
            return np.zeros(0, dtype=np.float32)
        rounded = -(-samples // _PLC_GRANULE) * _PLC_GRANULE
        return self._run(None, rounded, fec=False)[:samples]

    def recover(self, next_payload: bytes, samples: int) -> Pcm:
        """Rebuild the `samples` lost just before `next_payload` from its in-band FEC.

        libopus conceals whatever the FEC does not cover (all of it if the packet has none).
        `samples` must be a multiple of 2.5 ms; `next_payload` must still be decoded afterwards.
        Raises: CodecError for a malformed packet or a sample count libopus refuses."""
        if not next_payload:
            return self.conceal(samples)
        self._samples_in(next_payload)  # validates the packet before libopus touches the state
        if samples <= 0 or samples % _PLC_GRANULE:
            raise CodecError(f"Opus FEC needs a multiple of 2.5 ms, not {samples} samples")
        return self._run(next_payload, samples, fec=True)


class OpusEncoder:
    """libopus encoder state for one stream: VoIP mode, in-band FEC, no DTX."""

    def __init__(self, ptime_ms: int, bitrate: int = 32000, complexity: int = 5) -> None:
        """Takes: packet time, target bit rate in bit/s, complexity 0..10.
        Raises: CodecError for a ptime not in OPUS_PTIMES_MS or settings libopus refuses."""
        if ptime_ms not in OPUS_PTIMES_MS:
            raise CodecError(f"Opus ptime {ptime_ms} ms not supported (use {OPUS_PTIMES_MS})")
        self._samples = _RATE * ptime_ms // 1000
        self._encoder = opuslib.Encoder(_RATE, 1, opuslib.APPLICATION_VOIP)
        self._state = self._encoder.encoder_state
        settings = (
            (opuslib.api.ctl.set_bitrate, bitrate),
            (opuslib.api.ctl.set_complexity, complexity),
            (opuslib.api.ctl.set_inband_fec, 1),
            (opuslib.api.ctl.set_packet_loss_perc, 10),  # tells FEC how much to spend
            (opuslib.api.ctl.set_dtx, 0),
        )
        try:
            for request, value in settings:
                opuslib.api.encoder.encoder_ctl(self._state, request, value)
        except opuslib.OpusError as error:
            raise CodecError(f"Opus encoder setting refused: {error}") from error
        self._output = ctypes.create_string_buffer(_MAX_PACKET_BYTES)

    def encode(self, pcm: Pcm) -> bytes:
        """Takes: exactly ptime x 48 samples. Returns: one Opus packet.
        Raises: CodecError for the wrong number of samples or if libopus fails."""
        if pcm.shape != (self._samples,):
            raise CodecError(f"Opus encoder wants {self._samples} samples, got {pcm.shape}")
        samples = np.ascontiguousarray(pcm, dtype=np.float32)
        size = opuslib.api.encoder.libopus_encode_float(
            self._state,
            samples.ctypes.data_as(_FLOAT_POINTER),
            self._samples,
            self._output,
            _MAX_PACKET_BYTES,
        )
        if size < 0:
            raise CodecError(f"Opus encode failed: {opuslib.OpusError(size)}")
        return ctypes.string_at(self._output, size)


def opus_decoder() -> OpusDecoder:
    """A new Opus decoder (48 kHz mono)."""
    return OpusDecoder()


def opus_encoder(ptime_ms: int, bitrate: int = 32000, complexity: int = 5) -> OpusEncoder:
    """A new Opus encoder for `ptime_ms` packets. Raises: CodecError for an unsupported ptime."""
    return OpusEncoder(ptime_ms, bitrate, complexity)

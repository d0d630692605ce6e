"""Each built-in codec: bit-exactness where there is a reference, tone round trips by measurement,
loss concealment and FEC, and malformed payloads."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mediacore import codecs
from mediacore.audio import dominant_frequency, int16_to_float, tone, tone_levels_by_block
from mediacore.codecs import G722, L16_16000, OPUS, PCMA, PCMU, CodecError, CodecInfo, Pcm
from mediacore.codecs.g711 import (
    ALAW_POWER,
    ALAW_TO_INT16,
    ULAW_POWER,
    ULAW_TO_INT16,
    pcma_encoder,
    pcmu_encoder,
)
from mediacore.codecs.opus import OpusDecoder, OpusEncoder

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the stdlib reference G.711 (gone in 3.13; test-only)

TONE_HZ = 1000.0
TONE_DBFS = -12.0
WARM_UP_S = 0.06  # codec start-up (Opus, G.722 QMF) is not what these tests measure

EVERY_CODE = bytes(range(256))
EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def packets_of(info: CodecInfo, ptime: int, pcm: Pcm) -> list[bytes]:
    encoder = codecs.new_encoder(info, ptime)
    n = info.samples_per_packet(ptime)
    return [encoder.encode(pcm[i : i + n]) for i in range(0, pcm.size - n + 1, n)]


def round_trip_cases() -> list[tuple[CodecInfo, int]]:
    return [(info, p) for info in codecs.supported() for p in codecs.supported_ptimes(info)]


# --- G.711 against the reference ---


def test_g711_decode_tables_match_audioop_on_all_256_codes() -> None:
    np.testing.assert_array_equal(
        ULAW_TO_INT16, np.frombuffer(audioop.ulaw2lin(EVERY_CODE, 2), dtype=np.int16)
    )
    np.testing.assert_array_equal(
        ALAW_TO_INT16, np.frombuffer(audioop.alaw2lin(EVERY_CODE, 2), dtype=np.int16)
    )
    for info, table in ((PCMU, ULAW_TO_INT16), (PCMA, ALAW_TO_INT16)):
        np.testing.assert_array_equal(
            codecs.new_decoder(info).decode(EVERY_CODE), int16_to_float(table)
        )


def test_g711_encoders_match_audioop_on_every_int16_value() -> None:
    packet = 8 * 20
    padded = np.zeros(-(-EVERY_INT16.size // packet) * packet, dtype=np.int16)
    padded[: EVERY_INT16.size] = EVERY_INT16
    pcm = int16_to_float(padded)  # exact: float_to_int16 gives these values back
    encoders = ((pcmu_encoder, audioop.lin2ulaw), (pcma_encoder, audioop.lin2alaw))
    for new_encoder, reference in encoders:
        encoder = new_encoder(20)
        ours = b"".join(encoder.encode(pcm[i : i + packet]) for i in range(0, pcm.size, packet))
        assert ours == reference(padded.tobytes(), 2)


def test_g711_power_tables_meter_a_payload_without_decoding() -> None:
    pcm = tone(TONE_HZ, 0.02, 8000, level_dbfs=-20.0)
    for info, power in ((PCMU, ULAW_POWER), (PCMA, ALAW_POWER)):
        payload = codecs.new_encoder(info, 20).encode(pcm)
        mean_square = power[np.frombuffer(payload, dtype=np.uint8)].mean()
        assert 10 * np.log10(mean_square) == pytest.approx(-20.0, abs=0.2)


# --- every codec, every ptime: a tone survives ---


@pytest.mark.parametrize(
    ("info", "ptime"), round_trip_cases(), ids=lambda v: v.key if isinstance(v, CodecInfo) else v
)
def test_tone_round_trip_keeps_frequency_and_level(info: CodecInfo, ptime: int) -> None:
    rate = info.sample_rate
    decoder = codecs.new_decoder(info)
    packets = packets_of(info, ptime, tone(TONE_HZ, 0.48, rate, level_dbfs=TONE_DBFS))
    decoded = [decoder.decode(p) for p in packets]
    assert all(block.dtype == np.float32 for block in decoded)
    assert {block.size for block in decoded} == {info.samples_per_packet(ptime)}
    steady = np.concatenate(decoded)[round(WARM_UP_S * rate) :]
    assert dominant_frequency(steady, rate) == pytest.approx(TONE_HZ, abs=3.0)
    np.testing.assert_allclose(tone_levels_by_block(steady, TONE_HZ, rate), TONE_DBFS, atol=1.0)


@pytest.mark.parametrize("ptime", [10, 20, 30, 40, 50, 60])
def test_g722_packets_are_half_a_byte_per_sample(ptime: int) -> None:
    pcm = tone(TONE_HZ, ptime / 1000, 16000)
    assert [len(p) for p in packets_of(G722, ptime, pcm)] == [8 * ptime]


@pytest.mark.parametrize("info", codecs.supported(), ids=lambda info: info.key)
def test_encoders_refuse_the_wrong_number_of_samples(info: CodecInfo) -> None:
    encoder = codecs.new_encoder(info, 20)
    for n in (0, info.samples_per_packet(20) - 1, info.samples_per_packet(10)):
        with pytest.raises(CodecError):
            encoder.encode(np.zeros(n, dtype=np.float32))


def test_opus_encoder_refuses_30_ms_directly() -> None:
    with pytest.raises(CodecError):
        OpusEncoder(30)


# --- loss: Opus PLC and FEC ---


def opus_tone_packets(ptime: int) -> list[bytes]:
    return packets_of(OPUS, ptime, tone(TONE_HZ, 0.6, 48000, level_dbfs=TONE_DBFS))


def test_opus_decode_takes_the_duration_from_the_packet() -> None:
    decoder = OpusDecoder()
    for ptime in (10, 20, 40, 60):
        assert decoder.decode(opus_tone_packets(ptime)[3]).size == 48 * ptime


def test_opus_fec_rebuilds_a_lost_packet_from_the_next() -> None:
    packets = opus_tone_packets(20)
    lost = len(packets) // 2
    decoder = OpusDecoder()
    for packet in packets[:lost]:
        decoder.decode(packet)
    recovered = decoder.recover(packets[lost + 1], 960)
    after = decoder.decode(packets[lost + 1])
    assert recovered.size == 960 and recovered.dtype == np.float32
    assert dominant_frequency(recovered, 48000) == pytest.approx(TONE_HZ, abs=5.0)
    levels = tone_levels_by_block(recovered, TONE_HZ, 48000, block_seconds=0.01)
    np.testing.assert_allclose(levels, TONE_DBFS, atol=1.5)
    np.testing.assert_allclose(tone_levels_by_block(after, TONE_HZ, 48000), TONE_DBFS, atol=1.5)


def test_opus_fec_beats_plc_for_the_end_of_a_lost_multi_frame_packet() -> None:
    # 40 ms packets are two 20 ms frames; the next packet's FEC covers only the later one.
    packets = opus_tone_packets(40)
    lost = len(packets) // 2
    with_fec, with_plc = OpusDecoder(), OpusDecoder()
    for packet in packets[:lost]:
        with_fec.decode(packet)
        with_plc.decode(packet)
    fec_tail = with_fec.recover(packets[lost + 1], 1920)[960:]
    plc_tail = with_plc.conceal(1920)[960:]
    assert tone_levels_by_block(fec_tail, TONE_HZ, 48000).min() > (
        tone_levels_by_block(plc_tail, TONE_HZ, 48000).max() + 10.0
    )


def test_opus_plc_continues_the_tone_then_fades() -> None:
    packets = opus_tone_packets(20)
    decoder = OpusDecoder()
    for packet in packets[:10]:
        decoder.decode(packet)
    concealed = decoder.conceal(960)
    assert concealed.size == 960 and concealed.dtype == np.float32
    first, second = tone_levels_by_block(concealed, TONE_HZ, 48000, block_seconds=0.01)
    assert TONE_DBFS - 6.0 < first <= TONE_DBFS + 1.0
    assert second < first
    assert decoder.conceal(1000).size == 1000  # not a 2.5 ms multiple: trimmed
    assert decoder.conceal(0).size == 0


def test_opus_recover_without_a_next_packet_conceals() -> None:
    assert OpusDecoder().recover(b"", 960).size == 960


# --- loss: fading repeat for codecs without PLC ---


@pytest.mark.parametrize("info", [PCMU, PCMA, G722, L16_16000], ids=lambda info: info.key)
def test_codecs_without_plc_fade_the_last_packet_to_silence(info: CodecInfo) -> None:
    rate, n = info.sample_rate, info.samples_per_packet(20)
    decoder = codecs.new_decoder(info)
    assert not decoder.conceal(n).any()  # nothing decoded yet: silence
    for packet in packets_of(info, 20, tone(TONE_HZ, 0.2, rate, level_dbfs=TONE_DBFS)):
        decoder.decode(packet)
    lost = [decoder.conceal(n) for _ in range(3)] + [decoder.recover(b"\x00\x00", n)]
    levels = [tone_levels_by_block(block, TONE_HZ, rate, 0.01) for block in lost[:3]]
    assert TONE_DBFS - 6.5 < levels[0][0] < TONE_DBFS  # first 10 ms: between 0 and -6 dB
    assert levels[0][0] > levels[0][1] > levels[1][0] > levels[1][1] > levels[2][0]
    assert np.abs(lost[2][-n // 20 :]).max() < 3e-3  # faded out by 60 ms ...
    assert not lost[3].any()  # ... and silent after
    decoder.decode(packets_of(info, 20, tone(TONE_HZ, 0.02, rate))[0])  # a new loss run starts
    assert tone_levels_by_block(decoder.conceal(n), TONE_HZ, rate, 0.01)[0] > TONE_DBFS - 6.5


# --- malformed payloads ---


@pytest.mark.parametrize("info", codecs.supported(), ids=lambda info: info.key)
def test_empty_payload_is_a_codec_error(info: CodecInfo) -> None:
    with pytest.raises(CodecError):
        codecs.new_decoder(info).decode(b"")


@pytest.mark.parametrize("payload", [b"\x01", b"\x01\x02\x03"])
def test_odd_length_l16_is_a_codec_error(payload: bytes) -> None:
    with pytest.raises(CodecError):
        codecs.new_decoder(L16_16000).decode(payload)


@pytest.mark.parametrize("payload", [b"\xff", b"\x03", b"\xff\xff\xff", b"\x0b" + bytes(3)])
def test_garbage_opus_is_a_codec_error(payload: bytes) -> None:
    decoder = OpusDecoder()
    with pytest.raises(CodecError):
        decoder.decode(payload)
    with pytest.raises(CodecError):
        decoder.recover(payload, 960)
    assert decoder.decode(opus_tone_packets(20)[0]).size == 960  # state still usable


def test_opus_recover_refuses_a_sample_count_off_the_2_5_ms_grid() -> None:
    with pytest.raises(CodecError):
        OpusDecoder().recover(opus_tone_packets(20)[1], 1000)

from mediacore.jitter import JitterBuffer, PlayoutKind


def test_after_the_reader_stalls_the_backlog_is_dropped_within_a_second() -> None:
    buffer = JitterBuffer(8000)
    n = 0
    now = 0.0
    for _ in range(50):  # a steady second
        buffer.put(n, n * 160, b"x", now)
        assert buffer.get(now + 0.001).kind is PlayoutKind.PACKET
        n += 1
        now += 0.02
    for _ in range(8):  # the reader stalls for 160 ms while packets keep arriving
        buffer.put(n, n * 160, b"x", now)
        n += 1
        now += 0.02
    for _ in range(40):  # then reads one packet per tick again
        buffer.put(n, n * 160, b"x", now)
        buffer.get(now + 0.001)
        n += 1
        now += 0.02
    assert buffer.depth <= 1
    assert buffer.stats.shrunk >= 7

from mixer.talk import TalkDetector


def test_onset_frame_above_threshold_starts_talking_at_once() -> None:
    detector = TalkDetector(on_dbfs=-45, off_dbfs=-55, hang_frames=3)
    assert detector.update(-80) is False
    assert detector.update(-30) is True


def test_hysteresis_holds_between_thresholds_and_hang_time_ends_talk() -> None:
    detector = TalkDetector(on_dbfs=-45, off_dbfs=-55, hang_frames=3)
    detector.update(-30)
    assert detector.update(-50) is True  # between thresholds: still talking
    assert [detector.update(-70) for _ in range(3)] == [True, True, False]


def test_a_loud_frame_during_the_hang_restarts_it() -> None:
    detector = TalkDetector(on_dbfs=-45, off_dbfs=-55, hang_frames=3)
    detector.update(-30)
    detector.update(-70)
    detector.update(-70)
    detector.update(-30)
    assert [detector.update(-70) for _ in range(3)] == [True, True, False]

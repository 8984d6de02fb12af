from fer.bench.classifier import both_peer_runs


def _run(ms_one, ms_ten):
    return {"1": ms_one, "10": ms_ten, "found": {"1": [], "10": []}, "scores": {"1": {"recall": 0.4}, "10": {"recall": 0.6}}}


def test_the_peer_runs_before_and_after_ours_are_pooled_and_each_median_kept():
    both = both_peer_runs(_run([10.0, 30.0, 20.0], [100.0, 90.0]), _run([40.0, 50.0, 60.0], [70.0, 80.0]))
    assert both["1"] == [10.0, 30.0, 20.0, 40.0, 50.0, 60.0] and both["10"] == [100.0, 90.0, 70.0, 80.0]
    assert both["before"] == {"1": 20.0, "10": 95.0} and both["after"] == {"1": 50.0, "10": 75.0}
    assert both["scores"] == {"1": {"recall": 0.4}, "10": {"recall": 0.6}}


def test_a_failed_peer_run_leaves_the_other():
    only = _run([10.0], [20.0])
    assert both_peer_runs(only, None) is only and both_peer_runs(None, only) is only
    assert both_peer_runs(None, None) is None


def test_the_table_gives_one_row_per_frame_set_and_pipeline_with_its_speed_up_over_the_peer():
    from fer.bench.classifier import SETS, print_table

    score = {"faces": 8.0, "recall": 0.8, "accuracy": 0.7}
    ours = {"yunet": {"10": ([20.0, 30.0, 40.0], score)}, "yunet, stream mean": {"10": ([10.0, 20.0], {"faces": 7.0})}}
    peer = {"10": [90.0, 120.0, 150.0], "scores": {"10": {"faces": 6.0, "recall": 0.6, "accuracy": 0.5}}}
    lines = print_table(ours, peer, {"10": []}).splitlines()
    assert lines[2] == f"| {SETS['10'][3]} | ClassMood (yunet) | 30.0 | 4.0x | 8.0 | 80% | 0.70 |"
    assert lines[3] == f"| {SETS['10'][3]} | ClassMood (yunet, stream mean) | 15.0 | 8.0x | 7.0 | – | – |"  # a mean
    assert lines[4] == f"| {SETS['10'][3]} | fer 25.10.3 (peer, Haar + its CNN) | 120.0 | 1.0x | 6.0 | 60% | 0.50 |"
    assert "–" in print_table(ours, None, {"10": []}).splitlines()[2]  # no peer: no ratio

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

"""An evaluation tells its stages and steps to a listener, and nothing without one."""


from compvae_geo.datasets import SineParts
from compvae_geo.evaluation import sample_distances
from compvae_geo.evaluation.progress import listening, stage


class Recorder:
    def __init__(self):
        self.events = []

    def start(self, name, total):
        self.events.append(("start", name, total))

    def advance(self, detail):
        self.events.append(("step", detail))

    def finish(self):
        self.events.append(("finish",))


def test_sample_distances_counts_one_step_per_multiset_and_k():
    problem = SineParts()
    recorder = Recorder()
    sampler = {"same": lambda part, attr, c, n: problem.sample_wholes(part, n, attr)}
    with listening(recorder):
        sample_distances(problem, sampler, (1, 3), num_samples=16, multisets_per_k=2, num_permutations=5)
    assert recorder.events == [("start", "distances per K", 4), ("step", "K=1, multiset 1/2"),
                               ("step", "K=1, multiset 2/2"), ("step", "K=3, multiset 1/2"),
                               ("step", "K=3, multiset 2/2"), ("finish",)]


def test_a_stage_ends_on_an_error_and_is_silent_without_a_listener():
    recorder = Recorder()
    try:
        with listening(recorder), stage("work", 3) as step:
            step("one")
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert recorder.events == [("start", "work", 3), ("step", "one"), ("finish",)]
    with stage("alone", 2) as step:  # no listener: a step is a no-op
        step("nothing")
    assert len(recorder.events) == 3

"""What a time limit says (`nas.deadline`): its line at a driver's start, and a pause naming the job nearest to
fitting with what it needed against what was left."""
import time

from ray.tune.search import Searcher

from nas.deadline import Deadline, Held, JobQueue


def test_a_held_queue_says_what_the_nearest_to_fitting_job_needed():
    d = Deadline(at=time.time() + 100, started=time.time())
    d.guess("long", 500.0)
    d.guess("mid", 200.0)
    jobs = [{"label": "a", "k": "long"}, {"label": "b", "dir": "b-s1", "k": "mid"}]
    q = JobQueue(jobs, d, lambda j: j["k"])
    assert q.suggest("t1") == Searcher.FINISHED and q.held == 2
    # 1.15 x 200 + 10 = 240 s, worked by hand; the job named by its folder, which tells its seed
    assert q.why.startswith("b-s1 needs 240 s = 1.15 x 200 s expected + 10 s, ") and q.why.endswith(" s were left")
    left = int(q.why.split(", ")[-1].split()[0])
    assert 98 <= left <= 100


def test_a_held_job_of_unknown_duration_says_so():
    now = time.time()
    d = Deadline(at=now + 40, started=now - 60)
    q = JobQueue([{"label": "new"}], d, lambda j: "k")
    assert q.suggest("t") == Searcher.FINISHED
    assert q.why == "new has no expected duration and the first 50% of the limit had passed"
    d.floor("k", 100.0)
    assert d.shortfall("k", name="new").startswith("new takes at least 100 s, ")


def test_held_reads_as_a_count_and_a_reason():
    assert not Held() and Held(2, "x needs 9 s")
    assert Held(2, "x needs 9 s").of(5, "trainings") == "2 of 5 trainings left at the time limit; x needs 9 s"
    assert Held(1).of(1, "trainings") == "1 of 1 trainings left at the time limit"


def test_describe_names_the_limit_and_the_clock_time():
    d = Deadline(at=1_000_600.0, started=1_000_000.0)
    assert d.describe() == ("time limit 10.00 min: a training starts only if 1.15 x its expected seconds + 10 s fit "
                            f"before {time.strftime('%H:%M:%S', time.localtime(1_000_600.0))}")
    assert Deadline().describe() == ""


def test_fit_grid_starts_no_ray_tune_when_nothing_fits():
    from nas.final import fit_grid
    d = Deadline(at=time.time() + 50, started=time.time())
    d.guess("long", 500.0)

    def never(config):  # pragma: no cover - must not run
        raise AssertionError("a trial ran")

    # no slots, run folder or recorder: building a Tuner from them would raise, so returning shows none was built
    held = fit_grid(never, {}, [{"label": "a"}], slots=None, run=None, stage="stage2", recorder=None, deadline=d,
                    kind=lambda j: "long")
    assert held.count == 1 and held.why.startswith("a needs 585 s")  # 1.15 x 500 + 10

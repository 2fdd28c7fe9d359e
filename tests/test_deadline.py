"""`--time-limit`: which trainings may start before a deadline (`nas.deadline`), and a real study that pauses at
its limit (exit 75, nothing cut off half-way) and finishes on `--resume`."""
import json
import time

import pytest
from ray.tune.search import Searcher

from nas.deadline import PAUSED_EXIT, Deadline, JobQueue, probe_guess
from nas.fidelity_cli import main
from nas.runs import read_table
from nas.schema import Status
from nas.settings import SettingsError, minutes


def test_no_limit_allows_everything():
    assert Deadline.after(None).allows("anything")


def test_a_training_starts_only_when_its_slowest_kin_would_end_in_time():
    d = Deadline(at=time.time() + 100, started=time.time())
    d.learn("full", 40.0)
    d.learn("full", 60.0)
    assert d.expected("full") == 60.0  # the slowest so far
    assert d.allows("full")  # 1.15 * 60 + 10 = 79 s < 100 s
    d.learn("full", 85.0)
    assert not d.allows("full")  # 1.15 * 85 + 10 > 100 s


def test_a_guess_stands_in_until_a_training_of_that_kind_ends():
    d = Deadline(at=time.time() + 100, started=time.time())
    d.guess("full", 200.0)
    assert not d.allows("full")
    d.learn("full", 20.0)
    assert d.expected("full") == 20.0 and d.allows("full")


def test_unknown_durations_start_only_in_the_first_half():
    now = time.time()
    assert Deadline(at=now + 100, started=now - 10).allows("new")
    assert not Deadline(at=now + 40, started=now - 60).allows("new")


def test_learn_ignores_what_is_not_a_duration():
    d = Deadline(at=time.time() + 10)
    d.learn_rows([{"wall_s": ""}, {"wall_s": None}, {"wall_s": "abc"}, {"wall_s": "-1"}, {"wall_s": "3.5"}],
                 lambda r: "k")
    assert d.walls == {"k": [3.5]}


def test_probe_guess_scales_by_the_trainings_sharing_a_gpu():
    measure = {"setup_s": 1.0, "epoch_s": 5.0, "val_s": 2.0}
    assert probe_guess(measure, 10, 1, 4) == pytest.approx(4 * (1 + 50 + 2))
    assert probe_guess({}, 10, 1, 4) is None


def test_job_queue_hands_out_jobs_in_order_and_holds_back_what_would_not_end():
    d = Deadline(at=time.time() + 100, started=time.time())
    jobs = [{"label": "a", "k": "short"}, {"label": "b", "k": "short"}, {"label": "c", "k": "long"}]
    d.guess("short", 5.0)
    d.guess("long", 500.0)
    q = JobQueue(jobs, d, lambda j: j["k"])
    assert q.suggest("t1") == {"job": jobs[0]}
    q.on_trial_complete("t1", {"wall_s": 7.0})
    assert d.expected("short") == 7.0
    assert q.suggest("t2") == {"job": jobs[1]}
    assert q.suggest("t3") == Searcher.FINISHED and q.held == 1
    assert JobQueue([], d, lambda j: "x").suggest("t") == Searcher.FINISHED


def test_job_queue_fills_the_time_a_long_job_cannot_use_with_a_shorter_one():
    d = Deadline(at=time.time() + 100, started=time.time())
    d.guess("long", 500.0)
    d.guess("short", 5.0)
    jobs = [{"label": "a", "k": "long"}, {"label": "b", "k": "short"}, {"label": "c", "k": "long"}]
    q = JobQueue(jobs, d, lambda j: j["k"])
    assert q.suggest("t1") == {"job": jobs[1]}
    assert q.suggest("t2") == Searcher.FINISHED and q.held == 2


def test_a_failed_trial_teaches_nothing():
    d = Deadline(at=time.time() + 100)
    q = JobQueue([{"label": "a"}], d, lambda j: "k")
    q.suggest("t1")
    q.on_trial_complete("t1", {"failed": 1, "wall_s": 1.0})
    assert d.walls == {}


@pytest.mark.parametrize("text", ["0", "-3", "soon", "nan"])
def test_time_limit_must_be_positive_minutes(text):
    with pytest.raises((SettingsError, ValueError)):
        minutes(text)


@pytest.mark.ray
@pytest.mark.slow
def test_a_study_pauses_at_its_limit_and_finishes_on_resume(tiny_cache, tmp_path, capsys):
    base = ["--data", str(tiny_cache), "--preset", "smoke", "--archs", "2", "--proxies", "final,grad_norm",
            "--out", str(tmp_path), "--name", "t"]
    # 0.05 min = 3 s: Ray's start alone takes longer, so the first invocation starts nothing it cannot finish
    assert main([*base, "--time-limit", "0.05"]) == PAUSED_EXIT
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("nas-fidelity: paused at the time limit") and last.endswith("--resume`")
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["fidelity"] == "paused" and summary["paused"]
    rows = read_table(tmp_path / "t" / "jobs.csv")
    assert all(Status.parse(r["status"]) in (Status.PENDING, Status.COMPLETE) for r in rows)  # none cut off
    cells = [v for m in read_table(tmp_path / "t" / "models.csv") for k, v in m.items()
             if k.startswith(("full_score_s", "final_s", "grad_norm_s"))]
    # one cell per finished job (each of these two proxies reads one job), so a paused study's report is not empty
    assert sum(v != "" for v in cells) == sum(Status.parse(r["status"]) == Status.COMPLETE for r in rows)
    assert main(["--out", str(tmp_path), "--name", "t", "--resume"]) == 0
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["fidelity"] == "done" and not summary.get("paused")
    assert all(Status.parse(r["status"]) == Status.COMPLETE for r in read_table(tmp_path / "t" / "jobs.csv"))


def test_walls_measured_on_another_gpu_share_do_not_hold_back_trainings_alone(tmp_path):
    """Five trainings side by side each took 348 s; one alone (the probe: ~57 s) must not be expected to take 348."""
    from nas.final import expect_durations
    from nas.runs import RunDir, update_summary
    run = RunDir(tmp_path / "study")
    run.root.mkdir()
    update_summary(run.summary, packing_full={"per_gpu": 5, "measure": {"setup_s": 0.24, "epoch_s": 5.46,
                                                                         "val_s": 1.72}})
    rows = [{"status": "complete", "wall_s": "348.0", "gpu_share": "0.2"},
            {"status": "complete", "wall_s": "60.0", "gpu_share": ""}]  # a table that does not say: counted
    alone = Deadline.after(10)
    expect_durations(alone, run, "packing_full", "full", rows, epochs=10, per_gpu=1, share=1.0)
    assert alone.expected("full") == 60.0
    packed = Deadline.after(10)
    expect_durations(packed, run, "packing_full", "full", rows, epochs=10, per_gpu=5, share=0.2)
    assert packed.expected("full") == 348.0
    fresh = Deadline.after(10)
    expect_durations(fresh, run, "packing_full", "full", rows[:1], epochs=10, per_gpu=1, share=1.0)
    assert fresh.expected("full") == pytest.approx(0.24 + 10 * 5.46 + 1.72)  # the probe's guess, alone


def test_the_probes_guess_follows_the_gpu_share_the_trainings_get(tmp_path):
    """Stage 2 probed at 4 per GPU, resumed with --gpus-per-trial 1: a training alone is not guessed 4x as long."""
    from nas.cluster import slots_for
    from nas.final import expect_durations
    from nas.runs import RunDir, update_summary
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    update_summary(run.summary, packing_stage2={"per_gpu": 4, "measure": {"setup_s": 0.3, "epoch_s": 7.0,
                                                                          "val_s": 1.4}})
    for gpus_per_trial, per_gpu in ((1.0, 1), (0.25, 4)):
        slots = slots_for(16, 1.0, gpus_per_trial, None)
        assert slots.per_gpu == per_gpu
        deadline = Deadline.after(10)
        expect_durations(deadline, run, "packing_stage2", "final", [], 40, slots.per_gpu)
        assert deadline.expected("final") == pytest.approx(per_gpu * (0.3 + 40 * 7.0 + 1.4))
    assert slots_for(2, 0.0, 1.0, None).per_gpu == 1  # a CPU-only cluster


def test_stage2_guesses_each_model_by_its_measured_speed_against_the_probed_one(tmp_path):
    """The probe timed the deepest pick (~300 s alone); resnet18d, measured 3x as fast, is not held back as if it
    took 300 s too, and a model's own finished training outranks any guess."""
    from nas.final import expect_stage2, final_kind
    from nas.runs import RunDir, update_summary
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    measure = {"setup_s": 0.3, "epoch_s": 7.0, "val_s": 1.4}
    alone = 0.3 + 40 * 7.0 + 1.4
    update_summary(run.summary, packing_stage2={"per_gpu": 4, "measure": measure})
    models = [{"label": "deep", "arch": "deep"}, {"label": "ctrl", "arch": "ctrl"},
              {"label": "resnet18d", "arch": "resnet18d"}]
    rows = [{"label": "deep", "seed": 0, "status": "pending", "train_img_s": 1000.0},
            {"label": "ctrl", "seed": 0, "status": "pending", "train_img_s": ""},
            {"label": "resnet18d", "seed": 0, "status": "complete", "wall_s": 95.0, "train_img_s": 3000.0},
            {"label": "resnet18d", "seed": 1, "status": "pending", "train_img_s": 3000.0}]
    deadline = Deadline.after(10)
    guesses = expect_stage2(deadline, run, rows, models, 40, per_gpu=1)
    assert guesses == pytest.approx({"deep": alone, "ctrl": alone, "resnet18d": alone / 3})
    assert deadline.expected(final_kind({"label": "resnet18d", "plan": "final_s1"})) == 95.0  # measured wins
    assert deadline.expected(final_kind({"label": "ctrl", "plan": "final_s0"})) == pytest.approx(alone)
    assert deadline.expected(final_kind({"label": "ctrl", "plan": "proxy"})) is None
    # the probe names what it timed: a run whose probe timed resnet18d scales the others up from it
    update_summary(run.summary, packing_stage2={"per_gpu": 1, "measure": measure, "arch": "resnet18d"})
    guesses = expect_stage2(Deadline.after(10), run, rows, models, 40, per_gpu=1)
    assert guesses["deep"] == pytest.approx(3 * alone) and guesses["resnet18d"] == pytest.approx(alone)
    assert expect_stage2(Deadline.after(10), RunDir(tmp_path / "none"), rows, models, 40, 1) == {}


def test_once_a_training_ends_the_others_are_expected_as_its_fixed_cost_plus_their_images_at_their_speed(tmp_path):
    """Measured on one H200: walls of 324 s and 187 s were 38-44 s above 40 epochs of images at the model's speed;
    scaling the probe's 293 s by speed alone had guessed 148 s for the 187 s one."""
    from nas.final import expect_stage2
    from nas.runs import RunDir, update_summary
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    update_summary(run.summary, packing_stage2={"per_gpu": 1, "arch": "deep",
                                                "measure": {"setup_s": 0.3, "epoch_s": 7.0, "val_s": 1.4,
                                                            "img_s": 1000.0}})
    models = [{"label": "deep", "arch": "deep"}, {"label": "fast", "arch": "fast"}, {"label": "new", "arch": "new"}]
    rows = [{"label": "deep", "status": "complete", "wall_s": 320.0, "train_img_s": 1000.0},
            {"label": "fast", "status": "complete", "wall_s": 170.0, "train_img_s": 2000.0},
            {"label": "new", "status": "pending", "train_img_s": 4000.0}]
    images = 40 * 7.0 * 1000.0
    guesses = expect_stage2(Deadline.after(10), run, rows, models, 40, per_gpu=1)
    assert guesses["new"] == pytest.approx(max(320.0 - images / 1000, 170.0 - images / 2000) + images / 4000)
    assert guesses["new"] > (0.3 + 40 * 7.0 + 1.4) / 4  # what speed alone would have said
    # trainings that ran alone (rows that do not say) teach nothing of two to a GPU: the probe's guess stands in
    two = expect_stage2(Deadline.after(10), run, rows, models, 40, per_gpu=2, share=0.5)
    assert two["new"] == pytest.approx(2 * (0.3 + 40 * 7.0 + 1.4) * 1000.0 / 4000.0)


def test_a_floor_keeps_an_unknown_training_that_cannot_end_in_time_from_starting():
    """One H200: a training of unknown duration (images alone 152 s) started 85 s before the limit and was cut."""
    now = time.time()
    d = Deadline(at=now + 85, started=now)
    assert d.allows("final:a")  # nothing known: the first half admits it
    d.floor("final:a", 152.0)
    assert not d.allows("final:a")
    d.floor("final:b", 30.0)
    assert d.allows("final:b")  # 1.15 * 30 + 10 < 85, and still in the first half
    assert not Deadline(at=now + 85, started=now - 100, floors={"final:b": 1.0}).allows("final:b")  # second half
    d.learn("final:a", 60.0)
    assert d.allows("final:a")  # a measured wall outranks the floor


def test_without_a_probe_stage2_floors_models_by_their_images_then_learns_the_fixed_cost(tmp_path):
    """`--gpus-per-trial` given: no probe, so before any training ends only the images at each model's speed are
    known; once one ends, every model is expected at that training's fixed cost plus its own images."""
    from nas.final import expect_stage2, final_kind
    from nas.runs import RunDir
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    models = [{"label": "deep", "arch": "deep"}, {"label": "fast", "arch": "fast"}, {"label": "blind", "arch": "x"}]
    rows = [{"label": "deep", "status": "pending", "train_img_s": 1000.0},
            {"label": "fast", "status": "pending", "train_img_s": 4000.0},
            {"label": "blind", "status": "pending", "train_img_s": ""}]
    images = 40 * 16_896
    d = Deadline.after(10)
    assert expect_stage2(d, run, rows, models, 40, per_gpu=1, epoch_images=16_896) == {}
    assert d.floors == pytest.approx({"final:deep": images / 1000, "final:fast": images / 4000})
    assert d.expected(final_kind(models[0])) is None
    rows[0].update(status="complete", wall_s=images / 1000 + 40.0)  # alone: 40 s beside its images
    d = Deadline.after(10)
    guesses = expect_stage2(d, run, rows, models, 40, per_gpu=1, epoch_images=16_896, share=1.0)
    assert guesses == pytest.approx({"deep": 40 + images / 1000, "fast": 40 + images / 4000})
    assert d.expected(final_kind(models[0])) == pytest.approx(images / 1000 + 40.0)  # its own wall
    # two to a GPU: the alone wall teaches nothing; a training that ran at that share does, at half its speed
    d = Deadline.after(10)
    assert expect_stage2(d, run, rows, models, 40, per_gpu=2, epoch_images=16_896, share=0.5) == {}
    assert d.expected(final_kind(models[0])) is None and d.floors["final:fast"] == pytest.approx(images / 4000)
    rows[1].update(status="complete", wall_s=2 * images / 4000 + 50.0, gpu_share=0.5)
    guesses = expect_stage2(Deadline.after(10), run, rows, models, 40, per_gpu=2, epoch_images=16_896, share=0.5)
    assert guesses == pytest.approx({"deep": 50 + 2 * images / 1000, "fast": 50 + 2 * images / 4000})
    # MPS overlapping more than half: what is beside the images never counts below zero
    rows[1].update(wall_s=1.2 * images / 4000)
    guesses = expect_stage2(Deadline.after(10), run, rows, models, 40, per_gpu=2, epoch_images=16_896, share=0.5)
    assert guesses["deep"] == pytest.approx(2 * images / 1000)


def test_stage2_proxies_are_expected_at_stage1s_slowest_complete_trial(tmp_path):
    """One H200: a paused stage 2 held its seven synflow proxies (0.2-11 s each in stage 1) as of unknown duration."""
    from nas.final import expect_proxies, final_kind
    from nas.runs import RunDir
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    d = Deadline.after(10)
    assert expect_proxies(d, run, 1) is None and d.expected("proxy") is None  # no stage 1 yet
    run.trials.write_text("number,status,wall_s\n0,complete,0.6\n1,complete,11.0\n2,failed,90.0\n3,complete,\n")
    assert expect_proxies(d, run, 4) == pytest.approx(44.0)
    assert d.expected(final_kind({"label": "resnet18d", "plan": "proxy"})) == pytest.approx(44.0)


def test_a_full_epochs_images_come_from_the_training_frames_the_task_reported(tmp_path):
    from nas.final import full_epoch_images
    from nas.runs import RunDir, update_summary
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    assert full_epoch_images(run, 256) is None
    update_summary(run.summary, data={"frames": {"train": 17_000, "selection": 4_000}})
    assert full_epoch_images(run, 256) == 66 * 256  # the default preset's 34 subjects x 500 frames


def test_final_csv_records_the_gpu_share_a_training_had(tmp_path):
    """What `expect_stage2` filters on: written by the recorder as each training ends, read back as a number."""
    from types import SimpleNamespace
    from nas.final import FinalRecorder, same_share
    from nas.runs import RunDir, final_columns
    from nas.schema import run_schema
    run = RunDir(tmp_path / "search")
    run.root.mkdir()
    schema = run_schema("faces", "resnet_d")
    models = [{"label": "resnet18d", "arch": "resnet18d", "kind": "baseline", "seed": 0}]
    recorder = FinalRecorder(run, models, schema, final_columns(schema))
    recorder.gpu_share = 0.5
    trial = SimpleNamespace(config={"job": {"label": "resnet18d", "plan": "final_s0", "seed": 0}},
                            last_result={"score": 120.0, "wall_s": 200.0, "epoch": 40})
    recorder.on_trial_complete(0, [], trial)
    (row,) = read_table(run.final)
    assert float(row["gpu_share"]) == 0.5 and row["status"] == Status.COMPLETE.value
    assert same_share(row, 0.5, 1.0) and not same_share(row, 1.0, 1.0) and same_share(row, None, 1.0)
    assert same_share({"gpu_share": ""}, 1.0, 1.0) and not same_share({"gpu_share": "x"}, 1.0, 1.0)  # not said: alone


def test_a_resumed_training_is_expected_to_take_its_fixed_cost_and_the_epochs_it_has_left():
    d = Deadline(at=time.time() + 200, started=time.time(), fixed_s=23.0)
    d.learn("full", 518.0)  # the default preset's slowest control alone on one H200
    assert d.remaining("full") == 518.0
    assert d.remaining("full", 0.25) == pytest.approx(23.0 + 0.25 * (518.0 - 23.0))
    assert not d.allows("full") and d.allows("full", 0.25)  # 1.15 * 146.75 + 10 < 200 s
    assert d.remaining("unknown", 0.25) is None


def test_job_queue_starts_a_resumable_training_that_fits_in_what_it_has_left():
    d = Deadline(at=time.time() + 200, started=time.time(), fixed_s=20.0)
    d.guess("long", 500.0)
    jobs = [{"label": "fresh", "dir": "a"}, {"label": "cut", "dir": "b"}]
    q = JobQueue(jobs, d, lambda j: "long", lambda j: {"b": 0.25}.get(j["dir"], 1.0))
    assert q.suggest("t1") == {"job": jobs[1]}
    assert q.suggest("t2") == Searcher.FINISHED and q.held == 1


def test_fraction_left_reads_the_record_beside_a_checkpoint(tmp_path):
    from trainers.progress import CHECKPOINT_NAME, PROGRESS_NAME, fraction_left, write_progress

    assert fraction_left(tmp_path / "missing") == 1.0
    write_progress(tmp_path, 30, 40, 400.0)
    assert fraction_left(tmp_path) == 1.0  # a record without its checkpoint resumes nothing
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    assert fraction_left(tmp_path) == 0.25
    for text in ["{", '{"epoch": 50, "epochs": 40}', '{"epochs": 40}', '{"epoch": 1, "epochs": 0}']:
        (tmp_path / PROGRESS_NAME).write_text(text)
        assert fraction_left(tmp_path) == 1.0  # unreadable or impossible: a whole training is the safe guess


def test_a_finished_training_records_all_its_epochs(trained_run):
    from trainers.progress import fraction_left

    run, _ = trained_run
    assert fraction_left(run) == 0.0


def test_stage2_knows_which_trainings_resume_and_their_fixed_cost(tmp_path):
    from nas.final import expect_stage2, resumable
    from nas.runs import RunDir
    from trainers.progress import CHECKPOINT_NAME, write_progress

    run = RunDir(tmp_path)
    (tmp_path / "final" / "m1-s1").mkdir(parents=True)
    (tmp_path / "final" / "m1-s1" / CHECKPOINT_NAME).write_bytes(b"")
    write_progress(tmp_path / "final" / "m1-s1", 30, 40, 300.0)
    jobs = [{"label": "m1", "seed": 0, "dir": "m1"}, {"label": "m1", "seed": 1, "dir": "m1-s1"},
            {"label": "m1", "plan": "proxy"}]
    lines = []
    assert resumable(run, jobs, lines.append) == {"m1-s1": 0.25}
    assert lines == ["stage 2: m1 seed 1 resumes from its checkpoint, 25% of its epochs left"]
    # m1 trained 40 x 1000 images at 400 img/s alone in 124 s: 24 s besides its epochs
    rows = [{"label": "m1", "seed": 0, "status": "complete", "wall_s": 124.0, "train_img_s": 400.0}]
    d = Deadline(at=time.time() + 100)
    expect_stage2(d, run, rows, [{"label": "m1", "arch": "x"}], 40, 1, epoch_images=1000)
    assert d.fixed_s == pytest.approx(24.0)
    assert d.remaining("final:m1", 0.25) == pytest.approx(24.0 + 0.25 * 100.0)


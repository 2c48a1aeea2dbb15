"""Chunked evaluation (config evaluation.chunks): the slicing, the merge into one job's files, the config key,
and the DAG Snakemake plans with chunks; chunks merged equal one job in every number but the seconds."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from skimage import data, transform

from conftest import copy_workflow, snakemake
from inpaintbench import features
from inpaintbench.chunks import Chunk, merge_chunks
from inpaintbench.config import ConfigError, evaluation_chunks, validate_config
from inpaintbench.data import tfrecords
from inpaintbench.data.masks import MaskSource
from inpaintbench.evaluation import chunk_span, evaluate, real_features
from test_evaluation import RECIPES
from test_reruns import as_set, job, planned_jobs, summaries, tiny_config

SIZE = 32
# Batches of 2, features' batches of 4: chunks are runs of 4 images, so 10 images make 3 chunks of 4, 4 and 2,
# the last batch short, as one job's is.
EVALUATION = {"batch_size": 2, "limit": None, "save_images": 4, "seed": 0,
              "distribution": {"weights": "imagenet", "batch_size": 4}}
PARAMS = {"evaluation": EVALUATION, "note": "the rule's params slice"}
SQUARE = MaskSource("square", RECIPES["square"], 5)


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> list[Path]:
    """Ten crops of five photos in three TFRecord shards (read interleaved: not the order they were written in)."""
    folder = tmp_path_factory.mktemp("split")
    paths = [folder / f"test-{i}-of-3.tfrecord" for i in range(3)]
    writers = [tfrecords.writer(path) for path in paths]
    names = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
    for i in range(10):
        name = names[i % 5]
        photo = getattr(data, name)()[..., :3]
        side = min(photo.shape[:2]) // (1 + i // 5)
        crop = transform.resize(photo[:side, -side:], (SIZE, SIZE), anti_aliasing=True)
        writers[i % 3].write(tfrecords.serialize(np.round(crop * 255).astype(np.uint8), f"{name}_{i}", name))
    for writer in writers:
        writer.close()
    return paths


@pytest.fixture(scope="module")
def extractor():
    """InceptionV3 with random weights and Keras's md5 (as test_evaluation's): features with numbers."""
    made = features.FeatureExtractor(None, batch_size=4)
    made.weights_md5 = features.WEIGHTS_MD5
    return made


@pytest.fixture(scope="module")
def real_npz(split, extractor, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("real") / "real.npz"
    real_features(split, SIZE, EVALUATION, path, extractor=extractor)
    return path


def outputs(folder: Path) -> dict:
    return {"metrics_csv": folder / "metrics.csv", "summary_json": folder / "summary.json",
            "features_npz": folder / "features.npz", "images_dir": folder / "images"}


def run(folder: Path, method: str, split, model_dir=None, real=None, extractor=None, chunk=None, **settings):
    files = outputs(folder)
    if real is None:
        files.pop("features_npz")
    return evaluate(method, split, SIZE, {**EVALUATION, **settings}, model_dir=model_dir, masks=SQUARE, params=PARAMS,
                    real_features_npz=real, extractor=extractor, chunk=chunk, **files)


def run_chunks(folder: Path, method: str, split, count: int, **options) -> list[Chunk]:
    chunks = []
    for number in range(1, count + 1):
        part = folder / f"{number}-of-{count}"
        run(part, method, split, chunk=(number, count), **options)
        chunks.append(Chunk(part / "metrics.csv", part / "summary.json", part / "features.npz", part / "images"))
    return chunks


def without_seconds(path: Path) -> list[str]:
    """The CSV's lines as written, the last column (seconds, the one timing) cut off."""
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]


def test_chunks_are_contiguous_runs_of_whole_units_sharing_them_evenly():
    for total in range(0, 40):
        for unit in (1, 3, 4):
            for count in (1, 2, 3, 7):
                spans = [chunk_span(total, unit, number, count) for number in range(1, count + 1)]
                assert spans[0][0] == 0 and spans[-1][1] == total
                assert all(previous[1] == span[0] for previous, span in zip(spans, spans[1:]))
                assert all(start % unit == 0 or start == total for start, _ in spans)
                units = [-(-(stop - start) // unit) for start, stop in spans]
                assert max(units) - min(units) <= 1, (total, unit, count, spans)
    assert [chunk_span(10, 4, number, 3) for number in (1, 2, 3)] == [(0, 4), (4, 8), (8, 10)]
    assert [chunk_span(8, 4, number, 3) for number in (1, 2, 3)] == [(0, 0), (0, 4), (4, 8)]  # 2 units, 3 chunks
    with pytest.raises(ValueError, match="^chunk 4 of 3: a chunk is numbered 1 to 3$"):
        chunk_span(10, 4, 4, 3)


def test_three_chunks_merged_equal_one_job_in_every_metric_feature_and_showcase_image(tmp_path, split, real_npz,
                                                                                     extractor):
    """A baseline here; a seeded diffusion model, whose fill depends on its batch's seed, in the workflow test
    below (test_a_chunked_workflow_run_writes_one_jobs_files_and_rechunking_reruns_only_that_method)."""
    method = "biharmonic"
    options = {"model_dir": None, "real": real_npz, "extractor": extractor}
    one = run(tmp_path / "one", method, split, **options)
    chunks = run_chunks(tmp_path / "chunks", method, split, 3, **options)
    merged = merge_chunks(chunks, params=PARAMS, **outputs(tmp_path / "merged"))

    parts = [json.loads(chunk.summary.read_text()) for chunk in chunks]
    assert [(part["start"], part["stop"]) for part in parts] == [(0, 4), (4, 8), (8, 10)]
    assert without_seconds(tmp_path / "merged" / "metrics.csv") == without_seconds(tmp_path / "one" / "metrics.csv")
    assert len(without_seconds(tmp_path / "one" / "metrics.csv")) == 11
    for key in ("config", "method", "protocol", "kind", "needs_original", "seed", "model_dir", "n",
                "hole_ssim_defined", "saved_images"):
        assert merged[key] == one[key], key
    assert json.dumps(merged["means"]) == json.dumps(one["means"])  # every mean, bit for bit (NaN too)
    assert merged["saved_images"] == 4
    distribution = {**one["distribution"], "features": str(tmp_path / "merged" / "features.npz")}
    assert merged["distribution"] == distribution and distribution["n"] == 10
    assert json.loads((tmp_path / "merged" / "summary.json").read_text())["means"] == json.loads(
        (tmp_path / "one" / "summary.json").read_text())["means"]
    whole, joined = (features.load_features(folder / "features.npz") for folder in (tmp_path / "one",
                                                                                     tmp_path / "merged"))
    assert list(joined.ids) == list(whole.ids) and joined.ids.dtype == whole.ids.dtype
    assert np.array_equal(joined.values, whole.values) and joined.weights_md5 == whole.weights_md5
    assert joined.provenance["config"] == whole.provenance["config"] == PARAMS
    pngs = sorted(path.name for path in (tmp_path / "one" / "images").iterdir())
    assert pngs == sorted(path.name for path in (tmp_path / "merged" / "images").iterdir()) and len(pngs) == 4
    assert all((tmp_path / "one" / "images" / name).read_bytes() == (tmp_path / "merged" / "images" / name).read_bytes()
               for name in pngs)


def test_a_chunk_past_the_last_batch_is_empty_and_merges(tmp_path, split):
    """10 images in batches of 2 and features' batches of 4 are 3 runs of 4: a fourth chunk has none."""
    one = run(tmp_path / "one", "mean_fill", split)
    chunks = run_chunks(tmp_path / "chunks", "mean_fill", split, 4)
    assert json.loads(chunks[0].summary.read_text())["n"] == 0  # chunk 1 of 4: units 0 to 0
    merged = merge_chunks(chunks, params=PARAMS, metrics_csv=tmp_path / "merged.csv",
                          summary_json=tmp_path / "merged.json", images_dir=tmp_path / "images")
    assert without_seconds(tmp_path / "merged.csv") == without_seconds(tmp_path / "one" / "metrics.csv")
    assert json.dumps(merged["means"]) == json.dumps(one["means"])


@pytest.fixture(scope="module")
def black_chunks(split, tmp_path_factory) -> list[Chunk]:
    return run_chunks(tmp_path_factory.mktemp("black"), "black", split, 3)


def merge_into(tmp_path, chunks, params=PARAMS):
    return merge_chunks(chunks, params=params, metrics_csv=tmp_path / "m.csv", summary_json=tmp_path / "m.json",
                        images_dir=tmp_path / "images")


def test_the_merge_refuses_a_missing_stale_or_cut_chunk_naming_its_file(tmp_path, black_chunks):
    with pytest.raises(ValueError, match=r"2-of-3/summary.json: chunk 2 of 3, expected chunk 1 of 2$"):
        merge_into(tmp_path, black_chunks[1:])
    with pytest.raises(ValueError, match=r"1-of-3/summary.json: chunk 1 of 3 was made with another config"):
        merge_into(tmp_path, black_chunks, params={**PARAMS, "note": "edited"})
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(black_chunks[1].metrics.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"cut.csv: 3 rows of columns .*, expected 4 of id, category"):
        merge_into(tmp_path, [black_chunks[0], dataclasses.replace(black_chunks[1], metrics=cut), black_chunks[2]])
    assert not (tmp_path / "m.csv").exists() and not (tmp_path / "m.json").exists()


def test_features_of_parts_join_in_order_or_say_why_there_are_none():
    parts = [features.Features(np.asarray(ids), np.full((len(ids), 2), i, np.float32), "md5")
             for i, ids in enumerate([["a", "b"], [], ["ccc"]])]
    joined = features.concatenate(parts, method="m")
    assert list(joined.ids) == ["a", "b", "ccc"] and joined.values.tolist() == [[0, 0], [0, 0], [2, 2]]
    assert joined.provenance["method"] == "m" and joined.provenance["weights_md5"] == "md5"
    missing = features.unavailable_features("no weights")
    assert features.concatenate([parts[0], missing], method="m").unavailable == "no weights"
    with pytest.raises(ValueError, match="features of 2 different weights"):
        features.concatenate([parts[0], features.Features(np.asarray(["d"]), np.zeros((1, 2)), "other")])


def tiny_with_chunks(chunks) -> dict:
    config = yaml.safe_load((Path(__file__).parent / "configs" / "tiny.yaml").read_text())
    config["evaluation"]["chunks"] = chunks
    return config


def test_one_number_or_a_mapping_gives_each_method_its_chunks():
    assert evaluation_chunks(validate_config(tiny_with_chunks(1)), "diffusion") == 1
    assert evaluation_chunks(validate_config(tiny_config()), "black") == 1  # the default
    mapping = validate_config(tiny_with_chunks({"default": 2, "diffusion": 64, "gan": 8}))
    assert [evaluation_chunks(mapping, m) for m in ("diffusion", "gan", "black")] == [64, 8, 2]
    assert evaluation_chunks(validate_config(tiny_with_chunks({"diffusion": 3})), "black") == 1


@pytest.mark.bad_input
@pytest.mark.parametrize("chunks, message", [
    (0, "key evaluation.chunks: 0 is less than the minimum of 1"),
    (-2, "key evaluation.chunks: -2 is less than the minimum of 1"),
    (2.5, "key evaluation.chunks: 2.5 is not of type 'integer', 'object'"),
    ("8", "key evaluation.chunks: '8' is not of type 'integer', 'object'"),
    ({"diffusion": 0}, "key evaluation.chunks.diffusion: 0 is less than the minimum of 1"),
    ({"default": -1}, "key evaluation.chunks.default: -1 is less than the minimum of 1"),
    ({"difusion": 4}, "key evaluation.chunks.difusion: no model or baseline 'difusion' (models: gan_paper, "),
])
def test_a_bad_chunks_value_is_one_line_naming_the_key(chunks, message):
    with pytest.raises(ConfigError) as caught:
        validate_config(tiny_with_chunks(chunks), "tiny.yaml")
    assert str(caught.value).startswith(f"tiny.yaml: {message}") and "\n" not in str(caught.value)


@pytest.mark.bad_input
def test_chunks_for_an_external_method_stop_a_dry_run_with_one_line(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "predictions" / "square").mkdir(parents=True)
    config = tiny_with_chunks({"theirs": 4})
    config["external"] = {"theirs": {"predictions": "predictions/{protocol}", "family": "gan"}}
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert ("inpaintbench: error: bad.yaml: key evaluation.chunks.theirs: theirs is an external method, scored "
            "from its files in one job") in result.stderr.splitlines()


def chunk_jobs(method: str, count: int, protocols) -> set:
    return {job("evaluate_chunk", protocol=p, method=method, chunk=str(k), chunks=str(count))
            for p in protocols for k in range(1, count + 1)}


def test_chunks_plan_n_jobs_and_a_merge_per_protocol_for_that_method_only(tiny_run):
    protocols = tiny_config()["evaluation"]["protocols"]
    assert planned_jobs(tiny_run, tiny_with_chunks(1)) == []  # one job each: today's DAG, nothing to redo
    assert planned_jobs(tiny_run, tiny_with_chunks({"default": 1})) == []
    planned = as_set(planned_jobs(tiny_run, tiny_with_chunks({"diffusion": 3, "black": 2})))
    merges = {job("merge_evaluation", protocol=p, method=m) for p in protocols for m in ("diffusion", "black")}
    assert planned == {*chunk_jobs("diffusion", 3, protocols), *chunk_jobs("black", 2, protocols), *merges,
                       *summaries()}


@pytest.mark.slow
def test_a_chunked_workflow_run_writes_one_jobs_files_and_rechunking_reruns_only_that_method(tiny_run, tmp_path):
    """The tiny run's diffusion and biharmonic on the square protocol, evaluated in batches of 4 (14 images: 4
    batches, so 3 chunks of 1 or 2), once in one job each and once in 3 chunks each: the same files but the
    seconds; then the DAG of re-chunking one method, and of going back to one job."""
    workdir = Path(shutil.copytree(tiny_run, tmp_path / "run", symlinks=True))
    config = tiny_config()
    config["evaluation"]["batch_size"] = 4
    config["evaluation"]["distribution"]["batch_size"] = 4
    methods = ("diffusion", "biharmonic")
    targets = [f"results/metrics/square/{m}.{ext}" for m in methods for ext in ("csv", "json", "features.npz")]

    def evaluate_with(chunks, name) -> dict:
        """What the run wrote per method: CSV lines without the seconds, summary, features, showcase PNGs."""
        config["evaluation"]["chunks"] = chunks
        (workdir / name).write_text(yaml.safe_dump(config))
        snakemake(workdir, "--cores", "2", "--configfile", name, "--", *targets)
        written = {}
        for method in methods:
            base = workdir / "results" / "metrics" / "square" / method
            summary = json.loads(base.with_suffix(".json").read_text())
            made = features.load_features(base.with_suffix(".features.npz"))
            written[method] = {
                "rows": without_seconds(base.with_suffix(".csv")),
                "means": json.dumps(summary["means"]),
                "summary": {k: v for k, v in summary.items() if k not in ("created", "inference_ms_per_image")},
                "features": (list(made.ids), made.unavailable, made.provenance["config"]),
                "pngs": {png.name: png.read_bytes() for png in (workdir / "results" / "inpainted" / "square" /
                                                                method).glob("*.png")},
            }
        return written

    one = evaluate_with(1, "one.yaml")
    chunked = evaluate_with({"diffusion": 3, "biharmonic": 3}, "chunked.yaml")
    for method in methods:
        assert len(one[method]["rows"]) == 15 and len(one[method]["pngs"]) == 4 and len(one[method]["features"][0]) == 0
        for key in one[method]:
            assert chunked[method][key] == one[method][key], (method, key)
    assert sorted(path.name for path in (workdir / "results/evaluation/chunks/square/diffusion").iterdir()) == [
        "1-of-3", "2-of-3", "3-of-3"]

    assert planned_jobs(workdir, config, "--", *targets) == []
    config["evaluation"]["chunks"] = {"diffusion": 2, "biharmonic": 3}
    assert as_set(planned_jobs(workdir, config, "--", *targets)) == {
        *chunk_jobs("diffusion", 2, ["square"]), job("merge_evaluation", protocol="square", method="diffusion")}
    config["evaluation"]["chunks"] = {"biharmonic": 3}
    assert as_set(planned_jobs(workdir, config, "--", *targets)) == {
        job("evaluate", protocol="square", method="diffusion")}

"""The content-addressed cache: entries trusted only when whole, recomputed when damaged."""

import json
import threading
import time

import pytest

from bfpdse.store.cache import Cache, entry_id

KEY = {"model_sha256": "abc", "samples": 8, "settings": {"cim.adc": "bfp", "cim.adc_bits": 3}}


def _get(cache, key=KEY, value=None, calls=None, decode=dict):
    calls = [] if calls is None else calls

    def compute():
        calls.append(1)
        return dict(value or {"x": 1.5, "bits": "0110"})

    return cache.get_or_compute("thing", key, compute, dict, decode), calls


def test_an_entry_is_computed_once_and_read_back(tmp_path):
    cache = Cache(tmp_path / "c")
    (id_, value, reused), calls = _get(cache)
    assert (reused, len(calls), value["x"]) == (False, 1, 1.5)
    assert id_ == entry_id(KEY) and len(id_) == 16
    assert (tmp_path / "c" / "thing" / f"{id_}.json").is_file()
    (id2, again, reused), calls = _get(Cache(tmp_path / "c"))  # as another process would
    assert (id2, again, reused, calls) == (id_, value, True, [])
    # key order does not matter; any other value of a key is another entry
    assert entry_id(dict(reversed(list(KEY.items())))) == id_
    assert entry_id({**KEY, "samples": 9}) != id_


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # torn write
        lambda text: text.replace('"x":1.5', '"x":2.5'),  # a changed value (checksum)
        lambda text: text.replace('"samples":8', '"samples":9'),  # another key's entry
        lambda text: text.replace('"format":1', '"format":0'),
        lambda text: "",
    ],
)
def test_a_damaged_entry_is_recomputed_and_replaced(tmp_path, damage):
    cache = Cache(tmp_path)
    (id_, _, _), _ = _get(cache)
    path = tmp_path / "thing" / f"{id_}.json"
    path.write_text(damage(path.read_text()))
    with pytest.warns(UserWarning, match="damaged"):
        (_, value, reused), calls = _get(Cache(tmp_path))
    assert (reused, len(calls), value["x"]) == (False, 1, 1.5)
    assert json.loads(path.read_text())["value"]["x"] == 1.5  # whole again
    (_, _, reused), calls = _get(Cache(tmp_path))
    assert reused and not calls


def test_a_value_its_reader_rejects_is_recomputed(tmp_path):
    def strict(data):
        if data["bits"] != "0110":
            raise ValueError("wrong")
        return data

    _get(Cache(tmp_path), value={"x": 1.5, "bits": "01"})
    with pytest.warns(UserWarning, match="wrong"):
        (_, value, reused), calls = _get(Cache(tmp_path), decode=strict)
    assert not reused and calls == [1] and value["bits"] == "0110"


def test_concurrent_askers_wait_for_one_computation(tmp_path):
    calls, results = [], []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return {"x": 1.0}

    def ask():
        results.append(Cache(tmp_path).get_or_compute("thing", KEY, slow, dict, dict))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(r[2] for r in results) == [False, True, True]


def test_a_folder_that_cannot_be_written_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="cannot write to the cache"):
        (_, value, reused), calls = _get(Cache(blocker / "cache"))
    assert value["x"] == 1.5 and not reused and calls == [1]

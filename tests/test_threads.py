"""bfpdse.threads: idle thread pools sleep, set before numpy loads, the user's settings kept."""

import json
import os
import subprocess
import sys

from bfpdse.threads import IDLE_SLEEP, quiet_idle_threads

PROBE = (
    "import sys, json, os, bfpdse\n"
    "from bfpdse.threads import IDLE_SLEEP\n"
    "print(json.dumps({'numpy_first': 'numpy' in sys.modules,\n"
    "                  'env': {k: os.environ.get(k) for k in IDLE_SLEEP}}))\n"
)


def _probe(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in IDLE_SLEEP}


def test_import_bfpdse_sets_them_before_numpy_loads():
    got = _probe(_clean_env())
    # `import bfpdse` loads no numpy, so OpenBLAS reads the variable when it loads later
    assert not got["numpy_first"]
    assert got["env"] == IDLE_SLEEP


def test_a_users_own_setting_wins():
    env = {**_clean_env(), "OPENBLAS_THREAD_TIMEOUT": "12", "OMP_WAIT_POLICY": "ACTIVE"}
    got = _probe(env)["env"]
    assert got["OPENBLAS_THREAD_TIMEOUT"] == "12"
    assert got["OMP_WAIT_POLICY"] == "ACTIVE"
    assert got["KMP_BLOCKTIME"] == IDLE_SLEEP["KMP_BLOCKTIME"]


def test_quiet_idle_threads_returns_what_it_set(monkeypatch):
    for k in IDLE_SLEEP:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("KMP_BLOCKTIME", "200")
    added = quiet_idle_threads()
    assert added == {k: v for k, v in IDLE_SLEEP.items() if k != "KMP_BLOCKTIME"}
    assert os.environ["KMP_BLOCKTIME"] == "200"
    assert quiet_idle_threads() == {}  # a second call changes nothing

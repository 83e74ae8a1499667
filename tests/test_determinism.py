"""The same file gives the same JSON on an idle machine and on a loaded one: no limit counts seconds (issue:
dim algebra, work limits). Two `shapealg analyze --format json` runs of a window-padding graph, the
second while two busy processes load both cores, must print identical bytes."""
import multiprocessing
import subprocess
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_value_prop import torch_pad_to_window  # noqa: E402


def _spin(stop):
    while not stop.is_set():
        sum(range(10000))


def _analyze_json(path: Path) -> bytes:
    code = "from shapealg_cli.main import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "analyze", str(path), "--format", "json"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    return r.stdout


def test_same_json_idle_and_under_load(tmp_path):
    files = []
    for name, build in (("pad_to_window", lambda: torch_pad_to_window(window=7)),):
        p = tmp_path / f"{name}.onnx"
        onnx.save(build(), p)
        files.append(p)
    idle = [_analyze_json(p) for p in files]
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(2)]
    for h in hogs:
        h.start()
    try:
        loaded = [_analyze_json(p) for p in files]
    finally:
        stop.set()
        for h in hogs:
            h.join(10)
    assert idle == loaded
    assert all(b'"valid_if"' in j for j in idle)

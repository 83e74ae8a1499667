"""For every node of every model in a corpus folder: ``shapealg analyze``'s MACs equal ``shapealg cost``'s
(default convention). Prints one line per model and exits 1 on any difference.

    python bench/macs_agree.py /tmp/corpus
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(folder: str) -> int:
    from shapealg import analyze
    from shapealg.cost import cost
    from shapealg.dims import canon

    bad = 0
    for p in sorted(Path(folder).glob("*.onnx")):
        a = analyze(str(p))
        c = cost(a)
        diff = [n.name for n in a.result.nodes
                if (n.macs is None) != (c.node(n.name).macs is None)
                or (n.macs is not None and canon(n.macs - c.node(n.name).macs) != 0)]
        bad += bool(diff)
        print(f"{p.name}: {len(a.result.nodes)} nodes, {len(diff)} differ{': ' + ', '.join(diff[:5]) if diff else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

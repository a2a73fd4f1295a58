"""Run SCALE-Sim on this reference set; keep only each run's COMPUTE_REPORT.csv.

Run it with the Python of a venv that has SCALE-Sim (see README.md), e.g.

    /tmp/scalesim-venv/bin/python run_scalesim.py conv_odd:ws_8x8 gemm_odd:os_32x32 ...
    /tmp/scalesim-venv/bin/python run_scalesim.py            # every job in JOBS

A job TOPOLOGY:CONFIG runs topologies/TOPOLOGY.csv (GEMM form when the name
starts with ``gemm``: SCALE-Sim's ``-i gemm``) with layouts/TOPOLOGY.csv
and configs/CONFIG.cfg, and leaves reports/TOPOLOGY/CONFIG/COMPUTE_REPORT.csv.
It calls SCALE-Sim's own entry class exactly as ``python -m scalesim.scale -c
CFG -t TOPO -l LAYOUT -p OUT [-i gemm]`` does, except that it asks it not to
write the per-cycle traces (the CLI's ``-s N`` flag is parsed but not passed
on in 3.0.0); the report is the same either way.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ARRAYS = ("8x8", "16x16", "32x32", "12x20", "64x64", "5x3")
JOBS = [f"{topo}:{df}_{arr}" for topo in ("conv_odd", "gemm_odd") for df in ("ws", "os", "is") for arr in ARRAYS]
# the one mid-size layer (56x56x64, 3x3, 64 filters): ws and os on the four main arrays, is only on
# 32x32 (SCALE-Sim's time grows with the square of the fold count, and is has the most folds:
# 26280 on 8x8, hours)
JOBS += [f"conv_known:{df}_{arr}" for df in ("ws", "os") for arr in ARRAYS[:4]] + ["conv_known:is_32x32"]
# whole networks, as `npusim trace export NAME` writes them: ResNet-50 on every dataflow, and
# MobileNetV2 (17 depthwise layers, 7172 SCALE-Sim layers once expanded per channel) on ws
JOBS += [f"resnet50:{df}_32x32" for df in ("ws", "os", "is")] + ["mobilenet_v2:ws_32x32"]


def run(job: str) -> None:
    from scalesim.scale_sim import scalesim

    topo, cfg = job.split(":")
    with tempfile.TemporaryDirectory() as tmp:
        sim = scalesim(save_disk_space=True, verbose=False,
                       config=str(HERE / "configs" / f"{cfg}.cfg"),
                       topology=str(HERE / "topologies" / f"{topo}.csv"),
                       layout=str(HERE / "layouts" / f"{topo}.csv"),
                       input_type_gemm=topo.startswith("gemm"))
        sim.run_scale(top_path=tmp)
        dest = HERE / "reports" / topo / cfg
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / cfg / "COMPUTE_REPORT.csv", dest / "COMPUTE_REPORT.csv")


def main(argv: list[str]) -> None:
    for job in argv or JOBS:
        start = time.time()
        run(job)
        print(f"{job}: {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Write the SCALE-Sim configs and layout files of this reference set (run with any Python 3).

Configs: one per (dataflow, array) in CONFIGS, SRAMs of 4096 kB each so that
no memory stall occurs, bandwidth mode CALC; every section SCALE-Sim 3.0.0
requires is present. Layouts: one row of twenty 1s per topology row (custom
layouts are off; SCALE-Sim still requires the file), the channel count in
field 5 of depthwise (DP) rows so that its per-channel expansion matches the
topology's.
"""

from pathlib import Path

HERE = Path(__file__).parent
ARRAYS = ((8, 8), (16, 16), (32, 32), (12, 20), (64, 64), (5, 3))  # (rows = ArrayHeight, cols = ArrayWidth)
DATAFLOWS = ("ws", "os", "is")

CFG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    4096
FilterSramSzkB:   4096
OfmapSramSzkB:    4096
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {dataflow}
Bandwidth : 100
ReadRequestBuffer: 32
WriteRequestBuffer: 32
MemoryBanks: 1

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

LAYOUT_HEADER = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                 "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
                 "Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width Intraline Order, "
                 "Channel Intraline Order, IFMAP Height Interline Order, IFMAP Width Interline Order, "
                 "Channel Interline Order, Num Filter Intraline Order, Channel Intraline Order, "
                 "Filter Height Intraline Order, Filter Width Intraline Order, Num Filter Interline Order, "
                 "Channel Interline Order, Filter Height Interline Order, Filter Width Interline Order,")


def main() -> None:
    (HERE / "configs").mkdir(exist_ok=True)
    (HERE / "layouts").mkdir(exist_ok=True)
    for dataflow in DATAFLOWS:
        for rows, cols in ARRAYS:
            run_name = f"{dataflow}_{rows}x{cols}"
            text = CFG.format(run_name=run_name, rows=rows, cols=cols, dataflow=dataflow)
            (HERE / "configs" / f"{run_name}.cfg").write_text(text)
    for topo in sorted((HERE / "topologies").glob("*.csv")):
        lines = [LAYOUT_HEADER]
        for row in topo.read_text().splitlines()[1:]:
            fields = [f.strip() for f in row.split(",")]
            if not fields[0]:
                continue
            ones = ["1"] * 20
            if "DP" in fields[0]:
                ones[4] = fields[5]  # layout field 5 = the topology's channel count
            lines.append(", ".join([fields[0], *ones]) + ",")
        (HERE / "layouts" / topo.name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

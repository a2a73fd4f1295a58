import json
import os

import pytest


def test_help_lists_verbs(cli):
    r = cli("--help")
    assert r.returncode == 0
    for verb in ("run", "sweep", "report", "map", "trace", "regress", "soc"):
        assert verb in r.stdout


def test_soc_show_json(cli):
    r = cli("soc", "show", "camdn", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["llc"]["size"] == "16MiB" and data["npu"]["array"] == "32x32"


def test_soc_show_overrides(cli):
    r = cli("soc", "show", "gemmini-moca", "--json", "--llc-size", "4MiB", "--cores", "2")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["llc"]["size"] == "4MiB" and data["npu"]["cores"] == 2


@pytest.mark.parametrize("content, expect", [
    ("base: camdn\nllc:\n  ways: 16\n  npu_ways: 20\n", "bad.yaml:4: llc.npu_ways: "),
    ("base: camdn\nnpu:\n  cores: 4\n  bogus: 1\n", "bad.yaml:4: npu.bogus: unknown key"),
    ("base: camdn\nnpu:\n  cores: 2.5\n", "bad.yaml:3: npu.cores: expected an integer"),
    ("base: camdn\nnpu:\n  cores: true\n", "bad.yaml:3: npu.cores: expected an integer, got True"),
    ("base: camdn\nllc:\n  page: 100B\n", "bad.yaml:3: llc.page: page size 100 B is not a multiple of the 64 B line"),
    ("base: camdn\ndram:\n  ranks: 3\n", "bad.yaml:3: dram.ranks: rank count must be a power of two, got 3"),
    ("base: camdn\nllc:\n  size: -1MiB\n", "bad.yaml:3: llc.size: "),
    ("base: camdn\nllc:\n  size: 0\n", "bad.yaml:3: llc.size: must be at least 1"),
    ("base: camdn\nllc:\n  size: 24MiB\n", "bad.yaml:3: llc.size: gives"),
    ("base: camdn\nllc:\n  size: 4 MB\n", "bad.yaml:3: llc.size: '4 MB' is ambiguous"),
    ("base: camdn\ndram:\n  standard: DDR9\n", "bad.yaml:3: dram.standard: unknown value 'DDR9'"),
    ("base: camdn\ndram:\n  channels: 3\n", "bad.yaml:3: dram.channels: channel count must be a power of two"),
    ("npu: [1\n", "bad.yaml:2: yaml: malformed YAML"),
    # sizes no simulation could hold or finish
    ("base: camdn\nnpu:\n  cores: 100000\n", "bad.yaml:3: npu.cores: must be at most 4096"),
    ("base: camdn\nnpu:\n  array: 1x100000000000\n", "bad.yaml:3: npu.array: at most 65536 PEs"),
    ("base: camdn\nnpu:\n  clock: 1Hz\n", "bad.yaml:3: npu.clock: must be between 1MHz and 100GHz"),
    ("base: camdn\nnpu:\n  clock: 101GHz\n", "bad.yaml:3: npu.clock: must be between 1MHz and 100GHz"),
    ("base: camdn\nname: x\x07\n", "bad.yaml:2: yaml: malformed YAML: character #x0007 is not allowed"),
    ("base: camdn\nnpu:\n  cores: 1:6\n", "bad.yaml:3: npu.cores: expected an integer, got '1:6'"),
    ("base: camdn\nllc:\n  ways: 128\n", "bad.yaml:3: llc.ways: must be at most 64"),
    ("base: camdn\nnpu:\n  array: 0x32\n",
     "bad.yaml:3: npu.array: expected ROWSxCOLS such as 32x32, got 0x32, which YAML reads as the hex number 50"),
    ("base: camdn\nnpu:\n  array: 0o17\n",
     "bad.yaml:3: npu.array: expected ROWSxCOLS such as 32x32, got 0o17, which YAML reads as the octal number 15"),
    ("base: camdn\nnpu:\n  array: 32\n", "bad.yaml:3: npu.array: expected ROWSxCOLS such as 32x32, got the number 32 "
     "(YAML reads 0x.. and 0o.. as hex and octal numbers)"),
    ("base: camdn\nllc:\n  hit_latency_cycles: 9000000000000000\n", "bad.yaml:3: llc.hit_latency_cycles: must be at most"),
    ("base: camdn\ndram:\n  ranks: 1099511627776\n", "bad.yaml:3: dram.ranks: must be at most 16"),
    ("base: camdn\ndram:\n  channels: 1024\n", "bad.yaml:3: dram.channels: must be at most 256"),
    ("description: " + "[" * 2000 + "]" * 2000 + "\n", "bad.yaml: yaml: malformed YAML: nested too deeply"),
    # one of a unit is singular
    ("base: camdn\nllc:\n  size: 0B\n", "bad.yaml:3: llc.size: must be at least 1 byte, got 0 bytes"),
    ("base: camdn\nllc:\n  size: 64B\n  ways: 1\n", "bad.yaml:4: llc.ways: 12 NPU ways exceed the cache's 1 way"),
    ("base: camdn\nllc:\n  size: 64B\n  ways: 1\n  npu_ways: 1\n  page: 64B\n",
     "bad.yaml:5: llc.npu_ways: the only way is an NPU way; leave at least one way for the LRU part"),
    ("base: camdn\nnpu:\n  compute_min_rows: 4\n", "bad.yaml:3: npu.compute_min_rows: applies to conv_lowering: per_window only"),
    ("base: gemmini-moca\nnpu:\n  compute_min_rows: 17\n", "bad.yaml:3: npu.compute_min_rows: must be at most 16"),
    ("base: camdn\nnpu:\n  matmul_waits_for: tiles\n",
     "bad.yaml:3: npu.matmul_waits_for: unknown value 'tiles' (choose from tile, block)"),
    ("base: camdn\nnpu:\n  tiler: timeloop\n", "bad.yaml:3: npu.tiler: unknown value 'timeloop' (choose from search, moca)"),
    ("base: camdn\nnpu:\n  tiler: moca\n", "bad.yaml:3: npu.tiler: moca needs a scratchpad shared by inputs and weights"),
    ("base: gemmini-moca\nnpu:\n  dataflow: os\n", "bad.yaml:3: npu.tiler: moca tiles for a weight-stationary array"),
    ("base: gemmini-moca\nllc:\n  size: 192KiB\n  ways: 1\n",
     "bad.yaml:3: llc.size: gives 3072 sets (192KiB / 1 way / 64 B lines); the set count must be a power of two"),
])
def test_bad_spec_one_line_exit_2(cli, tmp_path, content, expect):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    r = cli("soc", "show", str(path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and expect in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_hex_array_is_named_as_written_through_a_base_chain(cli, tmp_path):
    # the text survives the merge of a base file into the SoC that names it
    (tmp_path / "base.yaml").write_text("base: camdn\nnpu:\n  array: 0x10\n")
    top = tmp_path / "top.yaml"
    top.write_text("base: ./base.yaml\nllc:\n  size: 8MiB\n")
    r = cli("soc", "show", str(top))
    assert r.returncode == 2
    assert r.stderr.strip().endswith("npu.array: expected ROWSxCOLS such as 32x32, got 0x10, "
                                     "which YAML reads as the hex number 16"), r.stderr
    assert "base.yaml:3:" in r.stderr
    # a value set over the base's takes its own text with it
    top.write_text("base: ./base.yaml\nnpu:\n  array: 32\n")
    r = cli("soc", "show", str(top))
    assert r.returncode == 2
    assert r.stderr.strip().endswith("top.yaml:3: npu.array: expected ROWSxCOLS such as 32x32, got the number 32 "
                                     "(YAML reads 0x.. and 0o.. as hex and octal numbers)"), r.stderr


@pytest.mark.parametrize("n_bytes, text", [
    (16 << 20, "16 MiB"), (1536 << 10, "1.5 MiB"), (256 << 10, "256 KiB"), (64, "64 B"), (1024, "1 KiB"),
    (1 << 30, "1 GiB"),
])
def test_the_run_header_spells_the_llc_size_in_a_unit_it_fills(n_bytes, text):
    from npusim.units import bytes_text

    assert bytes_text(n_bytes, None) == text  # a 64 B LLC was "6.10352e-05 MiB"


def test_a_preset_name_wins_over_a_file_of_that_name(cli, tmp_path):
    (tmp_path / "camdn").write_text("junk: [\n")
    r = cli("soc", "show", "camdn", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "camdn", r.stderr
    r = cli("soc", "show", "./camdn", cwd=tmp_path)  # the file, when asked for by path
    assert r.returncode == 2 and r.stderr.startswith("error: camdn:2: yaml: malformed YAML"), r.stderr


def test_a_path_the_file_system_refuses_is_one_line(cli, tmp_path):
    long_name = str(tmp_path / ("x" * 300 + ".csv"))
    r = cli("run", "--mix", "kws", "--out", long_name, "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "File name too long" in r.stderr


LONG = "x" * 300  # longer than any file system's name


@pytest.mark.parametrize("args, flag, value", [
    (["run", "--mix", "kws", "--out", LONG], "--out", LONG),
    (["run", "--mix", "kws", "--out", LONG + "/sub"], "--out", LONG + "/sub"),
    (["sweep", "--mix", "kws", "--out", LONG + ".csv"], "--out", LONG + ".csv"),
    (["sweep", "--mix", "kws", "--out", LONG + "/r.csv"], "--out", LONG + "/r.csv"),
    (["report", "results.csv", "--out", LONG], "--out", LONG),
    (["map", "--workload", "kws", "--cores", "1", "--budgets", "0", "--out", LONG + ".csv"], "--out", LONG + ".csv"),
    (["trace", "import", "t.csv", "--out", LONG + ".csv"], "--out", LONG + ".csv"),
    (["trace", "export", "kws", "--out", LONG + ".csv"], "--out", LONG + ".csv"),
    (["trace", "export", "kws", "--out", "t2.csv", "--layout", LONG + ".csv"], "--layout", LONG + ".csv"),
])
def test_an_output_path_the_file_system_refuses_is_the_flags_error(cli, tmp_path, args, flag, value):
    (tmp_path / "t.csv").write_text("name,op,M,N,K\nfc,gemm,2,3,4\n")
    r = cli(*args, *(["--quiet"] if args[0] in ("run", "sweep") else []), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == f"error: <command line>: {flag}: cannot write {value!r}: " \
                                             "File name too long\n", r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing written


@pytest.mark.parametrize("workload, expect", [
    ("nope", "--workload: unknown workload 'nope' (models: resnet50,"),  # the flag, as run --mix
    ("missing.csv", "--workload: no such file"),
    (LONG, f"--workload: cannot read {LONG!r}: File name too long"),
    ("folder", "--workload: 'folder' is a folder, not a trace file"),
])
def test_map_blames_a_workload_it_cannot_find_on_the_flag(cli, tmp_path, workload, expect):
    (tmp_path / "folder").mkdir()
    r = cli("map", "--workload", workload, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"error: <command line>: {expect}"), r.stderr
    assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args, expect", [
    (["trace", "show", LONG], f"error: {LONG}: workload: cannot read {LONG!r}: File name too long\n"),
    (["run", "--mix", LONG, "--quiet"], f"error: <command line>: --mix: cannot read {LONG!r}: File name too long\n"),
    (["run", "--scenario", "s.yaml", "--quiet"],
     f"error: s.yaml:3: tenants[0].workload: cannot read {LONG!r}: File name too long\n"),
])
def test_a_workload_name_the_file_system_refuses_is_the_workloads_error(cli, tmp_path, args, expect):
    (tmp_path / "s.yaml").write_text(f"soc: camdn\ntenants:\n  - workload: {LONG}\n")
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == expect, r.stderr


def test_waypart_on_a_one_way_llc_counts_in_the_singular(cli):
    r = cli("run", "--soc", "gemmini-moca", "--mix", "kws,kws", "--policy", "waypart", "--llc-ways", "1", "--quiet")
    assert r.returncode == 2 and r.stderr == ("error: <command line>: --policy: waypart needs at least one LLC way "
                                              "per tenant: 1 way for 2 tenants\n"), r.stderr


def test_unknown_preset(cli):
    r = cli("soc", "show", "warp-drive")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: warp-drive: soc: unknown preset and no such file 'warp-drive' (presets: camdn, gemmini-moca)")


@pytest.mark.parametrize("flags, expect", [
    (["--llc-size", "4 MB"], "error: <command line>: --llc-size: '4 MB' is ambiguous"),
    (["--array", "0x16"], "error: <command line>: --array: array needs at least one PE"),
    (["--llc-ways", "0"], "error: <command line>: --llc-ways: must be at least 1"),
    (["--llc-ways", "17"], "error: <command line>: --llc-ways: 16MiB is not a whole number"),
    (["--cores", "-3"], "error: <command line>: --cores: must not be negative"),
    (["--llc-size", "-1KiB"], "error: <command line>: --llc-size: '-1KiB' is negative"),  # not a missing value
    (["--dataflow", "xy"], "error: <command line>: --dataflow: unknown value 'xy'"),
])
def test_bad_overrides(cli, flags, expect):
    r = cli("soc", "show", "camdn", *flags)
    assert r.returncode == 2 and r.stderr.startswith(expect), r.stderr


def test_debug_shows_traceback(cli):
    # the traceback, then the one-line error, and still the exit status of bad input
    r = cli("--debug", "soc", "show", "warp-drive")
    assert r.returncode == 2 and "Traceback" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_map_cli_writes_the_plan_table_and_totals(cli, tmp_path):
    import pandas as pd

    out = tmp_path / "plans.csv"
    r = cli("map", "--workload", "kws", "--cores", "1,2", "--budgets", "0,256KiB,4MiB", "--out", str(out))
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out)
    # the columns in the order docs/MAPPING.md gives them
    assert list(table.columns) == [
        "layer", "op", "cores", "budget_bytes", "budget", "cores_used", "split_k", "split_g", "split_p", "split_q",
        "tile_g", "tile_k", "tile_c", "tile_p", "tile_q", "loop_order", "resident", "tiled_by", "block", "fused",
        "input_in_region", "output_in_region", "region_bytes", "dram_read_bytes", "dram_write_bytes", "dram_bytes",
        "llc_bytes", "compute_cycles", "memory_cycles", "predicted_cycles", "steps"]
    assert (table.budget == table.budget_bytes.map(lambda b: "unmanaged" if b < 0 else str(b))).all()
    assert (table.dram_bytes == table.dram_read_bytes + table.dram_write_bytes).all()
    plain = table[~table.fused]
    assert set(plain.cores) == {1, 2} and set(plain.budget_bytes) == {-1, 0, 256 << 10, 4 << 20}
    assert plain.groupby(["cores", "budget_bytes"]).layer.nunique().eq(36).all()  # every layer planned
    totals = plain.groupby(["cores", "budget_bytes"]).dram_bytes.sum()
    for cores in (1, 2):  # a bigger region never costs DRAM bytes, and the printed totals are the table's
        assert totals[cores, 0] >= totals[cores, 256 << 10] >= totals[cores, 4 << 20]
        row = next(l for l in r.stdout.splitlines() if l.split()[:2] == [str(cores), "256KiB"])
        assert float(row.split()[2]) == round(totals[cores, 256 << 10] / 2**20, 2)


@pytest.mark.parametrize("args, expect", [
    (["--budgets", ""], "--budgets: no budget given"),
    (["--budgets", "1TiB"], "--budgets: 1TiB is more than the largest LLC"),
    (["--budgets", "12 parsecs"], "--budgets:"),
    (["--cores", "0"], "--cores: must be at least 1"),
    (["--cores", ""], "--cores: expected integers separated by commas, got ''"),
    (["--cores", "17"], "--cores: 17 cores but the SoC has 16"),
])
def test_map_bad_flags(cli, args, expect):
    r = cli("map", "--workload", "kws", *args)
    assert r.returncode == 2 and r.stderr.startswith(f"error: <command line>: {expect}"), r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_no_verb_is_a_one_line_error(cli):
    r = cli()
    assert r.returncode == 2 and "VERB" in r.stdout  # the help, then why it is not enough
    assert r.stderr.strip() == ("error: <command line>: VERB: missing (choose from run, sweep, report, map, trace, "
                                "regress, soc)")


def test_soc_defaults_that_follow_other_fields(tmp_path):
    import json as _json

    import yaml

    from npusim.soc import load_soc

    # the vector path is as wide as the array unless given
    spec = _json.loads(run_cli_json("camdn"))
    spec["npu"]["array"] = "64x64"
    del spec["npu"]["vector_elems_per_cycle"]
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert load_soc(str(path)).npu.vector_elems_per_cycle == 64
    # the NPU ways, not each way, must hold whole pages: 2 ways of 16 KiB hold one 32 KiB page
    ok = tmp_path / "pages.yaml"
    ok.write_text("base: camdn\nllc:\n  size: 256KiB\n  ways: 16\n  npu_ways: 2\n  page: 32KiB\n")
    llc = load_soc(str(ok)).llc
    assert (llc.npu_bytes, llc.page_bytes) == (32 << 10, 32 << 10)


def run_cli_json(name: str) -> str:
    from conftest import run_cli

    r = run_cli("soc", "show", name, "--json")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("args, expect", [
    (["map", "--workload", "kws", "--cores", "1", "--budgets", "256KiB,262144"], "--budgets: 262144 given twice (as 256KiB)"),
    (["map", "--workload", "kws", "--cores", "2,2"], "--cores: 2 given twice"),
    (["run", "--mix", "kws", "--format", "parquet", "--quiet"],
     "--format: only with --out (the format of the tables it writes)"),
    # SCALE-Sim reads CSV; 'dir/' used to become a file named dir
    (["trace", "export", "kws", "--out", "d1/"], "--out: SCALE-Sim reads CSV: name the file .csv, got 'd1/'"),
    (["trace", "export", "kws", "--out", "t.csv", "--layout", "l.txt"],
     "--layout: SCALE-Sim reads CSV: name the file .csv, got 'l.txt'"),
])
def test_flags_that_would_be_ignored_or_repeat_a_row_are_refused(cli, tmp_path, args, expect):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == f"error: <command line>: {expect}\n", r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_file_that_is_there_but_unreadable_is_not_called_missing(cli, tmp_path):
    """A FIFO or a loop of links is there: it is no 'unknown preset' or 'unknown workload'."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    r = cli("soc", "show", "fifo", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: fifo: file: not a regular file"
    r = cli("soc", "show", "loop", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: loop: file: cannot read: ")
    r = cli("run", "--mix", "./loop", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: loop: file: a symbolic link that leads to no file"


@pytest.mark.parametrize("name", ["plans.csv", "plans.parquet"])
def test_map_that_fails_to_write_its_table_leaves_no_half_file(cli, tmp_path, name):
    import resource
    import subprocess
    import sys

    def limit_writes():  # writes past 4 KiB fail (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    args = ["map", "--workload", "kws", "--cores", "1", "--budgets", "0,256KiB"]
    assert cli(*args).returncode == 0  # plans cached: only the table is written below
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "npusim", *args, "--out", str(out)], capture_output=True, text=True,
                       preexec_fn=limit_writes, timeout=600)
    assert r.returncode == 2 and r.stderr.startswith(f"error: <command line>: --out: cannot write {str(out)!r}"), \
        r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no cut-off table, no staging file

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from npusim.errors import InputError
from npusim.soc import _preset_text, load_soc, preset_names, soc_from_dict


def test_presets_exist():
    assert {"camdn", "gemmini-moca"} <= set(preset_names())


def test_camdn_preset_values():
    s = load_soc("camdn")
    assert (s.npu.cores, s.npu.array_rows, s.npu.array_cols, s.npu.dataflow) == (16, 32, 32, "ws")
    assert s.npu.clock_hz == 10**9
    assert (s.npu.input_buffer_bytes, s.npu.weight_buffer_bytes, s.npu.accumulator_bytes) == (
        32 << 10, 32 << 10, 64 << 10)
    assert (s.llc.size_bytes, s.llc.ways, s.llc.line_bytes, s.llc.banks) == (16 << 20, 16, 64, 8)
    assert (s.llc.npu_ways, s.llc.page_bytes, s.llc.write_policy, s.llc.replacement) == (
        12, 32 << 10, "write-back", "lru")
    assert s.llc.npu_bytes == 12 << 20 and s.llc.npu_pages == 384
    assert (s.dram.standard, s.dram.channels) == ("DDR4-3200", 4)


def test_gemmini_preset_values():
    s = load_soc("gemmini-moca")
    assert (s.npu.cores, s.npu.array_rows, s.npu.dataflow) == (8, 16, "ws")
    assert s.npu.scratchpad_bytes == 128 << 10 and s.npu.accumulator_bytes == 64 << 10
    assert s.npu.input_buffer_bytes is None
    assert (s.llc.size_bytes, s.llc.banks, s.llc.npu_ways) == (2 << 20, 8, 0)
    assert (s.dram.standard, s.dram.scheduler, s.dram.ranks) == ("DDR3-1600", "frfcfs", 4)
    # its pool and residual-add calls load every tile into the same rows (docs/SOC.md)
    assert not s.npu.vector_overlap and load_soc("camdn").npu.vector_overlap
    # a store writes one array row per request; elsewhere writes default to the read size
    assert (s.npu.dma_request_bytes, s.npu.dma_write_request_bytes) == (64, 16)
    camdn = load_soc("camdn").npu
    assert camdn.dma_write_request_bytes is None and camdn.write_request_bytes == camdn.dma_request_bytes == 64
    assert dataclasses.replace(camdn, dma_request_bytes=32).write_request_bytes == 32


@pytest.mark.parametrize("name", ["camdn", "gemmini-moca"])
def test_round_trip(name, tmp_path):
    spec = load_soc(name)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict()))
    again = load_soc(str(path))
    assert again == spec
    assert json.loads(json.dumps(spec.to_dict())) == spec.to_dict()


def test_overrides():
    s = load_soc("camdn", {"--llc-size": "4MiB", "--llc-ways": "8", "--cores": "4", "--array": "16x8",
                           "--dataflow": "os", "--dram": "HBM2", "--dram-channels": "8"})
    assert (s.llc.size_bytes, s.llc.ways, s.npu.cores) == (4 << 20, 8, 4)
    assert (s.npu.array_rows, s.npu.array_cols, s.npu.dataflow) == (16, 8, "os")
    assert (s.dram.standard, s.dram.channels) == ("HBM2", 8)


def test_base_file(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text("base: camdn\nname: small\nllc:\n  size: 4MiB\n")
    s = load_soc(str(path))
    assert s.name == "small" and s.llc.size_bytes == 4 << 20 and s.llc.ways == 16 and s.npu.cores == 16


def test_a_file_without_a_name_is_named_after_itself_not_its_base(tmp_path):
    (tmp_path / "tiny.yaml").write_text("base: camdn\nllc:\n  size: 4MiB\n")
    (tmp_path / "named.yaml").write_text("base: tiny.yaml\nname: big-dram\n")
    (tmp_path / "child.yaml").write_text("base: named.yaml\n")
    names = [load_soc(str(tmp_path / f)).name for f in ("tiny.yaml", "named.yaml", "child.yaml")]
    assert names == ["tiny", "big-dram", "child"] and load_soc("camdn").name == "camdn"
    assert load_soc(str(tmp_path / "child.yaml")).llc.size_bytes == 4 << 20


def _bad(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_soc(str(path))
    return info.value


def test_errors_carry_line_and_field(tmp_path):
    e = _bad(tmp_path, "base: camdn\nllc:\n  ways: 16\n  npu_ways: 17\n")
    assert (e.line, e.field) == (4, "llc.npu_ways") and "exceed" in e.message
    e = _bad(tmp_path, "base: camdn\nnpu:\n  cores: 4\n  colour: red\n")
    assert (e.line, e.field, e.message) == (4, "npu.colour", "unknown key")
    # a blank or null key is named quoted, never as an empty field (`error: bad.yaml:2: : unknown key`)
    e = _bad(tmp_path, 'base: camdn\n"": 1\n')
    assert (e.line, e.field, e.message) == (2, "''", "unknown key")
    e = _bad(tmp_path, "base: camdn\nllc: {' ': 1}\n")
    assert (e.line, e.field) == (2, "llc.' '")
    e = _bad(tmp_path, "base: camdn\nllc: {~: 1}\n")
    assert (e.line, e.field) == (2, "llc.null")
    e = _bad(tmp_path, "base: camdn\nnpu:\n  cores: four\n")
    assert e.field == "npu.cores" and "integer" in e.message
    e = _bad(tmp_path, "base: camdn\nllc:\n  size: 0\n")
    assert e.field == "llc.size" and "at least 1" in e.message
    e = _bad(tmp_path, "base: camdn\nllc:\n  size: 12MiB\n")
    assert e.field == "llc.size" and "power of two" in e.message
    # a 1 MiB line was accepted and the run never finished (every transfer is whole lines)
    e = _bad(tmp_path, "base: camdn\nllc:\n  size: 16MiB\n  ways: 16\n  line: 1MiB\n  page: 1MiB\n")
    assert (e.line, e.field, e.message) == (5, "llc.line", "must be at most 4096 bytes, got 1048576 bytes")
    e = _bad(tmp_path, "base: nosuchpreset\n")
    assert "unknown preset" in e.message or "no such file" in e.message
    e = _bad(tmp_path, "npu:\n  cores: 1\n  cores: 2\n")
    assert "duplicate key" in e.message and e.line == 3
    e = _bad(tmp_path, "base: camdn\nnpu:\n  dma_write_request_bytes: 0\n")
    assert (e.line, e.field) == (3, "npu.dma_write_request_bytes") and "at least 1" in e.message
    e = _bad(tmp_path, "base: gemmini-moca\nnpu:\n  vector_overlap: 0\n")
    assert (e.line, e.field, e.message) == (3, "npu.vector_overlap", "expected true or false, got 0")


def test_direct_dict_requires_sections():
    with pytest.raises(InputError, match="required field is missing"):
        soc_from_dict({"npu": {}}, "x.yaml")


def test_llc_ways_override_keeps_npu_share():
    assert load_soc("camdn", {"--llc-ways": "8"}).llc.npu_ways == 6
    assert load_soc("camdn", {"--llc-ways": "32", "--llc-size": "32MiB"}).llc.npu_ways == 24
    assert load_soc("camdn", {"--llc-ways": "1", "--llc-size": "1MiB"}).llc.npu_ways == 0



@pytest.mark.parametrize("llc, line, field, message", [
    ("  ways: abc\n", 3, "llc.ways", "expected an integer, got 'abc'"),
    ("  ways: 16\n  npu_ways: 20\n", 4, "llc.npu_ways", "20 NPU ways exceed the cache's 16 ways"),
    ("  ways: 16\n  npu_ways: 16\n", 4, "llc.npu_ways", "all 16 ways are NPU ways"),
])
def test_llc_ways_override_does_not_hide_or_take_the_blame_for_the_files_share(tmp_path, llc, line, field, message):
    # --llc-ways scales the file's share, so an invalid share is the file's error, at its line
    path = tmp_path / "bad.yaml"
    path.write_text("base: camdn\nllc:\n" + llc)
    with pytest.raises(InputError) as info:
        load_soc(str(path), {"--llc-ways": "8"})
    e = info.value
    assert (e.source, e.line, e.field) == (str(path), line, field) and message in e.message
    path.write_text("base: camdn\nllc:\n  npu_ways: 4\n")  # ways from the preset: 4 of 16 becomes 2 of 8
    assert load_soc(str(path), {"--llc-ways": "8"}).llc.npu_ways == 2

def test_an_error_in_a_base_file_names_that_file_and_its_line(tmp_path):
    bottom = tmp_path / "bottom.yaml"
    bottom.write_text("base: camdn\n# a comment\nllc:\n  ways: 0\n")
    middle = tmp_path / "middle.yaml"
    middle.write_text("base: bottom.yaml\nnpu:\n  cores: 4\n")
    for top_text in ("base: middle.yaml\n", "base: middle.yaml\nllc:\n  size: 8MiB\n"):
        top = tmp_path / "top.yaml"
        top.write_text(top_text)
        with pytest.raises(InputError) as info:
            load_soc(str(top))
        assert (info.value.source, info.value.line, info.value.field) == (str(bottom), 4, "llc.ways")
    # what the top file sets stays its own, with its line
    top.write_text("base: middle.yaml\nllc:\n  ways: 16\n  npu_ways: 17\n")
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    assert (info.value.source, info.value.line, info.value.field) == (str(top), 4, "llc.npu_ways")


def test_a_misspelt_required_key_is_blamed_on_its_own_line(tmp_path):
    """A standalone SoC file (no base to inherit the key from) with `arrayx:` was
    reported as `npu.array: required field is missing` on the `npu:` line."""
    preset = _preset_text("camdn")
    for good, bad, section in (("  array: 32x32", "  arrayx: 32x32", "npu"), ("  ways: 16", "  wayz: 16", "llc"),
                               ("    accumulator: 64KiB", "    acumulator: 64KiB", "npu.buffers")):
        assert preset.count(good + "\n") == 1
        text = preset.replace(good + "\n", bad + "\n")
        key = bad.split(":")[0].strip()
        line = text.splitlines().index(bad) + 1
        e = _bad(tmp_path, text)
        assert (e.line, e.field, e.message) == (
            line, f"{section}.{key}", f"unknown key (did you mean {good.split(':')[0].strip()}?)")
    # a key nothing like the missing one: that one is missing, at its section's line
    text = preset.replace("  array: 32x32\n", "  colour: red\n")
    e = _bad(tmp_path, text)
    assert (e.field, e.message) == ("npu.array", "required field is missing")
    assert e.line == text.splitlines().index("npu:") + 1


def test_a_base_that_is_missing_or_a_folder_is_blamed_on_the_base_line(tmp_path):
    (tmp_path / "adir").mkdir()
    e = _bad(tmp_path, "name: x\nbase: adir\n")
    assert (e.source, e.line, e.field, e.message) == (
        str(tmp_path / "bad.yaml"), 2, "base", "'adir' is a directory, not a SoC file")
    e = _bad(tmp_path, "base: nothere.yaml\n")
    assert (e.source, e.line, e.field) == (str(tmp_path / "bad.yaml"), 1, "base")
    assert e.message.startswith(f"unknown preset and no such file 'nothere.yaml' (looked for {tmp_path / 'nothere.yaml'})")
    with pytest.raises(InputError) as info:
        load_soc(str(tmp_path / "adir"))
    assert (info.value.field, info.value.message) == ("soc", "is a directory, not a SoC file")


def test_a_soc_name_must_be_one_printable_line(tmp_path):
    assert _bad(tmp_path, 'base: camdn\nname: "a\\nb"\n').message.startswith("holds a control character")
    e = _bad(tmp_path, 'base: camdn\nname: " "\n')
    assert (e.line, e.field, e.message) == (2, "name", "empty")


def test_a_broken_relation_is_blamed_on_the_field_a_file_set_not_on_the_presets(tmp_path):
    (tmp_path / "mid.yaml").write_text("base: camdn\nnpu:\n  cores: 4\n# 4\n# 5\n# 6\n# 7\n")
    top = tmp_path / "top.yaml"
    top.write_text("base: mid.yaml\nllc:\n  ways: 7\n")
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    # 16 MiB (the preset's) is no whole number of 7-way sets: the 7 is what the user wrote
    assert (info.value.source, info.value.line, info.value.field) == (str(top), 3, "llc.ways")
    # set in a base file, at that file's line, even below a key of the same section it did not set
    (tmp_path / "u.yaml").write_text("base: camdn\nllc:\n  hit_latency_cycles: 5\n  ways: 3\n")
    top.write_text("base: u.yaml\n")
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    assert (info.value.source, info.value.line, info.value.field) == (str(tmp_path / "u.yaml"), 4, "llc.ways")
    # the top document's own key first, then a base file's
    top.write_text("base: u.yaml\nllc:\n  size: 8MiB\n")
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    assert (info.value.source, info.value.line, info.value.field) == (str(top), 3, "llc.size")
    top.write_text("base: camdn\nllc:\n  npu_ways: 10\n  page: 48KiB\n")  # 10 ways of 1 MiB: not 48 KiB pages
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    assert (info.value.line, info.value.field) == (4, "llc.page") and "whole number of 48KiB pages" in str(info.value)
    top.write_text("base: camdn\nllc:\n  page: 96\n")
    with pytest.raises(InputError) as info:
        load_soc(str(top))
    assert (info.value.line, info.value.field) == (3, "llc.page")


def test_yaml_integers_are_read_as_yaml_1_2_reads_them():
    from npusim.specio import load_yaml_text

    doc = load_yaml_text("a: 010\nb: 0x10\nc: 0o17\nd: 1:6\ne: 5e-2\nf: -3\n", "t.yaml")
    # decimal with a leading zero, hex, octal; no sexagesimal (YAML 1.1 made 1:6 sixty-six)
    assert (doc["a"], doc["b"], doc["c"], doc["d"], doc["e"], doc["f"]) == (10, 16, 15, "1:6", 0.05, -3)
    # floats likewise: no underscores or base 60, an exponent without a dot
    doc = load_yaml_text("a: 1_0.5\nb: 1:30.5\nc: 1e3\nd: .inf\ne: -.5\nf: 2.\n", "t.yaml")
    assert (doc["a"], doc["b"], doc["c"], doc["d"], doc["e"], doc["f"]) == ("1_0.5", "1:30.5", 1000.0, float("inf"), -0.5, 2.0)
    # no timestamps: a date is text, reported as a value, not as a Python datetime
    assert load_yaml_text("a: 2024-01-01\n", "t.yaml") == {"a": "2024-01-01"}


def test_yaml_integer_beyond_pythons_digit_limit_is_an_input_error():
    from npusim.specio import load_yaml_text

    with pytest.raises(InputError) as info:
        load_yaml_text("llc:\n  size: " + "9" * 5000 + "\n", "t.yaml")
    e = info.value
    assert (e.source, e.line, e.field) == ("t.yaml", 2, "yaml") and "an integer of 5000 digits is too large" in e.message


def test_circular_base_chains_are_found_however_the_paths_are_spelled(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("npu:\n  cores: 2\nbase: ./a.yaml\n")
    (tmp_path / "sub" / "c.yaml").write_text("base: ../a.yaml\n")
    for start in (tmp_path / "a.yaml", tmp_path / "sub" / "c.yaml"):
        with pytest.raises(InputError) as info:
            load_soc(str(start))
        e = info.value
        assert (Path(e.source).resolve(), e.line, e.field) == (tmp_path / "b.yaml", 3, "base")
        assert e.message == "circular base chain through './a.yaml'"
    (tmp_path / "b.yaml").write_text("base: camdn\n")
    ended = load_soc(str(tmp_path / "sub" / "c.yaml"))  # a chain that ends is fine
    camdn = load_soc("camdn")
    assert (ended.npu, ended.llc, ended.dram, ended.name) == (camdn.npu, camdn.llc, camdn.dram, "c")


@pytest.mark.parametrize("text, message", [
    ('base: ""\n', "expected a preset name or file"),
    ('base: "x\\0.yaml"\n', "a file name cannot hold a NUL character"),
])
def test_bad_base_names(tmp_path, text, message):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as info:
        load_soc(str(p))
    assert (info.value.source, info.value.line, info.value.field, info.value.message) == (str(p), 1, "base", message)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_yaml_path_that_is_not_a_regular_file_is_refused_without_reading(tmp_path):
    import os

    from npusim.scenario import load_scenario

    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # reading it would block for ever
    for load in (load_soc, load_scenario):
        with pytest.raises(InputError) as info:
            load(str(fifo))
        assert (info.value.field, info.value.message) == ("file", "not a regular file")


def test_an_unreadable_yaml_file_is_named_in_the_systems_words(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    with pytest.raises(InputError) as exc:
        load_soc(str(tmp_path / "a.yaml"))
    assert (exc.value.field, exc.value.message) == ("file", "cannot read: Too many levels of symbolic links")
    (tmp_path / "bin.yaml").write_bytes(b"base: camdn\nname: \xff\n")
    with pytest.raises(InputError) as exc:
        load_soc(str(tmp_path / "bin.yaml"))
    assert exc.value.message.startswith("not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 18")
    assert exc.value.line == 2  # the line of the byte


def test_a_null_in_a_soc_file_clears_what_its_base_set(tmp_path):
    """A SoC file's only way to drop an inherited optional key is `key: null`: it takes the default."""
    from npusim.soc import load_soc

    split = tmp_path / "split.yaml"
    # the library tiler of gemmini-moca needs a unified scratchpad: split buffers take the search
    split.write_text("base: gemmini-moca\nnpu:\n  tiler: search\n"
                     "  buffers: {scratchpad: null, input: 64KiB, weight: 64KiB}\n")
    base = load_soc("gemmini-moca").to_dict()["npu"]["buffers"]
    assert "scratchpad" in base
    buffers = load_soc(str(split)).to_dict()["npu"]["buffers"]
    assert "scratchpad" not in buffers and buffers["input"] == "64KiB" and buffers["weight"] == "64KiB"
    ranks = tmp_path / "ranks.yaml"
    ranks.write_text("base: camdn\ndram: {ranks: 2}\n")
    cleared = tmp_path / "cleared.yaml"
    cleared.write_text(f"base: {ranks}\ndram: {{ranks: null}}\n")
    assert load_soc(str(ranks)).dram.ranks == 2
    assert load_soc(str(cleared)).dram.ranks == load_soc("camdn").dram.ranks

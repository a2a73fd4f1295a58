"""The hardware specification: an SoC of NPU cores, a shared LLC and DRAM.

One YAML format (docs/SOC.md), one loader (`load_soc`), frozen dataclasses.
Presets ship in ``npusim/presets/<name>.yaml`` and are accepted anywhere a
spec file is. A spec file may start from another with ``base: <preset|file>``
and override only some fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import COMMAND_LINE, InputError
from .specio import LineDict, Section, entry_there, load_yaml, load_yaml_text
from .units import UnitError, capped_int, count_text, format_frequency, format_size, parse_int_text, parse_size

WRITE_POLICIES = ("write-back", "write-through")
REPLACEMENT_POLICIES = ("lru", "srrip")
PAGE_POLICIES = ("open", "closed")
CONV_LOWERINGS = ("im2col", "per_window")
MATMUL_WAITS = ("tile", "block")
DRAM_SCHEDULERS = ("frfcfs", "fcfs")


def dataflow_names() -> tuple[str, ...]:
    from .npu import dataflow_names as names  # the compute model's registry owns the list

    return names()


def timing_names() -> tuple[str, ...]:
    from .npu import timing_names as names

    return names()


def dram_standard_names() -> tuple[str, ...]:
    from .dram import standard_names  # the DRAM registry owns the list

    return standard_names()


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class NPUSpec:
    cores: int
    array_rows: int
    array_cols: int
    dataflow: str
    clock_hz: int
    accumulator_bytes: int
    input_buffer_bytes: int | None = None  # separate input / weight buffers ...
    weight_buffer_bytes: int | None = None
    scratchpad_bytes: int | None = None  # ... or one scratchpad they share (Gemmini)
    input_elem_bytes: int = 1
    weight_elem_bytes: int = 1
    output_elem_bytes: int = 1
    accumulator_elem_bytes: int = 4
    timing: str = "pipelined"
    vector_elems_per_cycle: int = 32
    dma_bytes_per_cycle: int = 64
    conv_lowering: str = "im2col"  # im2col: K = R*S*C on the array; per_window: one GEMM per kernel position
    compute_min_rows: int = 1  # per_window: a compute streams at least this many rows (Gemmini: 4)
    dma_max_inflight: int = 64  # requests a core's DMA keeps in flight (latency x bandwidth limit)
    dma_request_bytes: int = 64  # largest DMA request; each row of a transfer is requested on its own
    dma_write_request_bytes: int | None = None  # largest DMA write request (None: dma_request_bytes)
    layer_setup_cycles: int = 0  # fixed cost of starting a layer (host tiling code, command issue)
    # a vector-path layer fetches its next tile while computing this one (each tile in half the
    # buffer); False: every tile takes the whole buffer and is fetched after the previous one is done
    vector_overlap: bool = True
    # when a matmul-loop layer's compute may start: once its whole tile is loaded ("tile"), or
    # once its own blocks are ("block", Gemmini's matmul loop), overlapping the tile's loads
    matmul_waits_for: str = "tile"
    # who picks a layer's tiles: npusim's search, or a library's tiler it reproduces (mapping/tilers.py)
    tiler: str = "search"
    # where `npu.buffers` was given (file, line), for errors found only when a layer is mapped
    buffers_at: tuple[str, int | None] = field(default=("", None), compare=False, repr=False)

    @property
    def write_request_bytes(self) -> int:
        """The largest DMA write request: `dma_write_request_bytes`, else `dma_request_bytes`."""
        return self.dma_write_request_bytes or self.dma_request_bytes

    @property
    def pe_count(self) -> int:
        return self.array_rows * self.array_cols

    @property
    def unified_scratchpad(self) -> bool:
        return self.scratchpad_bytes is not None


@dataclass(frozen=True)
class LLCSpec:
    size_bytes: int
    ways: int
    line_bytes: int = 64
    banks: int = 8
    hit_latency_cycles: int = 20
    miss_latency_cycles: int = 0  # extra round trip of a miss beyond the DRAM's own timing (NoC, controller)
    bank_bytes_per_cycle: int = 64
    write_policy: str = "write-back"
    replacement: str = "lru"
    npu_ways: int = 0
    page_bytes: int = 32 * 1024

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)

    @property
    def way_bytes(self) -> int:
        return self.size_bytes // self.ways

    @property
    def npu_bytes(self) -> int:
        """Capacity of the NPU-controlled ways (CaMDN's page region store)."""
        return self.way_bytes * self.npu_ways

    @property
    def npu_pages(self) -> int:
        return self.npu_bytes // self.page_bytes

    @property
    def bytes_per_cycle(self) -> int:
        return self.banks * self.bank_bytes_per_cycle


@dataclass(frozen=True)
class DRAMSpec:
    standard: str
    channels: int = 1
    ranks: int | None = None  # None: the standard's default organisation
    mapping: str | None = None  # None: the standard's default address mapping
    page_policy: str = "open"
    scheduler: str = "frfcfs"
    queue_depth: int = 32
    timing: tuple[tuple[str, int], ...] = ()  # overrides, in DRAM clock cycles

    @property
    def timing_overrides(self) -> dict[str, int]:
        return dict(self.timing)


@dataclass(frozen=True)
class SoCSpec:
    name: str
    npu: NPUSpec
    llc: LLCSpec
    dram: DRAMSpec
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A YAML/JSON-ready dict in the spec file's own vocabulary."""
        n, c, d = self.npu, self.llc, self.dram
        buffers: dict[str, Any] = {"accumulator": format_size(n.accumulator_bytes)}
        if n.unified_scratchpad:
            buffers["scratchpad"] = format_size(n.scratchpad_bytes)
        else:
            buffers["input"] = format_size(n.input_buffer_bytes)
            buffers["weight"] = format_size(n.weight_buffer_bytes)
        dram: dict[str, Any] = {
            "standard": d.standard,
            "channels": d.channels,
            "page_policy": d.page_policy,
            "scheduler": d.scheduler,
            "queue_depth": d.queue_depth,
        }
        if d.ranks is not None:
            dram["ranks"] = d.ranks
        if d.mapping is not None:
            dram["mapping"] = d.mapping
        if d.timing:
            dram["timing"] = dict(d.timing)
        return {
            "name": self.name,
            "npu": {
                "cores": n.cores,
                "array": f"{n.array_rows}x{n.array_cols}",
                "dataflow": n.dataflow,
                "clock": format_frequency(n.clock_hz),
                "buffers": buffers,
                "elem_bytes": {
                    "input": n.input_elem_bytes,
                    "weight": n.weight_elem_bytes,
                    "output": n.output_elem_bytes,
                    "accumulator": n.accumulator_elem_bytes,
                },
                "timing": n.timing,
                "vector_elems_per_cycle": n.vector_elems_per_cycle,
                "dma_bytes_per_cycle": n.dma_bytes_per_cycle,
                "conv_lowering": n.conv_lowering,
                "compute_min_rows": n.compute_min_rows,
                "dma_max_inflight": n.dma_max_inflight,
                "dma_request_bytes": n.dma_request_bytes,
                "layer_setup_cycles": n.layer_setup_cycles,
                "vector_overlap": n.vector_overlap,
                "matmul_waits_for": n.matmul_waits_for,
                "tiler": n.tiler,
                **({} if n.dma_write_request_bytes is None else {"dma_write_request_bytes": n.dma_write_request_bytes}),
            },
            "llc": {
                "size": format_size(c.size_bytes),
                "ways": c.ways,
                "line": format_size(c.line_bytes),
                "banks": c.banks,
                "hit_latency_cycles": c.hit_latency_cycles,
                "miss_latency_cycles": c.miss_latency_cycles,
                "bank_bytes_per_cycle": c.bank_bytes_per_cycle,
                "write_policy": c.write_policy,
                "replacement": c.replacement,
                "npu_ways": c.npu_ways,
                "page": format_size(c.page_bytes),
            },
            "dram": dram,
        }

    def replace(self, **sections: Any) -> "SoCSpec":
        return dataclasses.replace(self, **sections)


# -- presets ----------------------------------------------------------------

def preset_names() -> list[str]:
    folder = resources.files("npusim") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _preset_text(name: str) -> str:
    return (resources.files("npusim") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")


def _identity(ref: str) -> str:
    """A preset's name, or the file's resolved path."""
    return f"preset {ref}" if ref in preset_names() else str(Path(ref).resolve())


def _entry_there(ref: str) -> bool:
    try:
        return entry_there(ref)
    except OSError:  # a name the file system refuses: "no such file" below says enough
        return False


def _read_raw(ref: str, seen: tuple[str, ...] = ()) -> tuple[LineDict, str]:
    """The raw mapping of a preset or file, with ``base:`` chains merged. `seen`:
    the identities (`_identity`) of the files that based themselves on this one."""
    if "\0" in ref:
        raise InputError(ref, "soc", "a file name cannot hold a NUL character")
    path = Path(ref)
    if ref not in preset_names() and path.is_dir():
        raise InputError(ref, "soc", "is a directory, not a SoC file")
    if ref in preset_names():  # presets win over a file of the same name (write ./camdn for the file)
        source = f"preset {ref}"
        data = load_yaml_text(_preset_text(ref), source)
    elif _entry_there(ref) or path.suffix in (".yaml", ".yml") or "/" in ref:  # a FIFO or a link loop too
        source = str(path)
        data = load_yaml(path)
    else:
        raise InputError(
            ref, "soc", f"unknown preset and no such file {ref!r} (presets: {', '.join(preset_names())})"
        )
    if data is None:
        data = LineDict()
    if not isinstance(data, dict):
        raise InputError(source, "document", "expected a mapping with npu, llc and dram sections", 1)
    if "base" in data:
        base = data["base"]
        if not isinstance(base, str) or not base.strip():
            raise InputError(source, "base", "expected a preset name or file", data.key_lines.get("base"))
        if "\0" in base:
            raise InputError(source, "base", "a file name cannot hold a NUL character", data.key_lines.get("base"))
        base_ref = base
        if base not in preset_names() and not Path(base).is_absolute():
            base_ref = str(path.parent / base)
        if base not in preset_names():
            # blamed on the `base:` line of the file that names it
            if Path(base_ref).is_dir():
                raise InputError(source, "base", f"{base!r} is a directory, not a SoC file", data.key_lines.get("base"))
            if not Path(base_ref).is_file():
                looked = "" if base_ref == base else f" (looked for {base_ref})"
                raise InputError(source, "base", f"unknown preset and no such file {base!r}{looked} "
                                                 f"(presets: {', '.join(preset_names())})", data.key_lines.get("base"))
        chain = seen + (_identity(ref),)
        if _identity(base_ref) in chain:  # however the files spell each other's paths
            raise InputError(source, "base", f"circular base chain through {base!r}", data.key_lines.get("base"))
        base_data, base_source = _read_raw(base_ref, chain)
        base_data.pop("name", None)  # a changed SoC is not its base: unnamed, it takes its own file's name
        data = _merge(base_data, data, None if base_source.startswith("preset ") else base_source)
        data.pop("base", None)
    return data, source


def _merge(base: dict, top: dict, base_file: str | None = None) -> LineDict:
    """`top` over `base`. A key only `base` has keeps its line and is blamed on
    `base_file` (or the file it came from further down the chain); a preset's
    keys (`base_file` None) are reported at the overriding section's line."""
    out = LineDict()
    out.line = getattr(top, "line", None) or getattr(base, "line", None)
    base_lines, base_sources = getattr(base, "key_lines", {}), getattr(base, "key_sources", None) or {}
    out.key_lines, out.key_sources = {}, {}
    for key in base:
        source = base_sources.get(key, base_file)  # None: from a preset
        out.key_sources[key] = source
        preset_overridden = source is None and getattr(top, "line", None)
        out.key_lines[key] = out.line if preset_overridden else base_lines.get(key)
    for key in top:
        out.key_sources.pop(key, None)  # the top document's own
    out.key_sources.update(getattr(top, "key_sources", None) or {})
    out.key_lines.update(getattr(top, "key_lines", {}))
    top_texts = getattr(top, "key_texts", None) or {}
    out.key_texts = {k: t for k, t in (getattr(base, "key_texts", None) or {}).items() if k not in top}
    out.key_texts.update(top_texts)
    for key, value in base.items():
        out[key] = value
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, base_sources.get(key, base_file))
        else:
            out[key] = value
    return out


# -- command-line overrides ---------------------------------------------------

OVERRIDE_FLAGS = {
    # flag: (dotted field, parser)
    "--llc-size": "llc.size",
    "--llc-ways": "llc.ways",
    "--cores": "npu.cores",
    "--array": "npu.array",
    "--dataflow": "npu.dataflow",
    "--tiler": "npu.tiler",
    "--dram": "dram.standard",
    "--dram-channels": "dram.channels",
    "--timing": "npu.timing",
}


INTEGER_OVERRIDE_FLAGS = ("--llc-ways", "--cores", "--dram-channels")


def _parse_override(flag: str, value: Any) -> Any:
    """Command-line strings become typed YAML-like values."""
    if flag in INTEGER_OVERRIDE_FLAGS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            return parse_int_text(text)
        except ValueError:
            # a flag's text quoted; a file's value (soc_overrides: {cores: 2.0}) as its YAML reads
            shown = text if isinstance(value, str) else value
            raise InputError(COMMAND_LINE, flag, f"expected an integer, got {shown!r}") from None
    if flag == "--llc-size":
        try:
            return parse_size(value)
        except UnitError as exc:
            raise InputError(COMMAND_LINE, flag, str(exc)) from None
    return value


def apply_overrides(data: dict, overrides: dict[str, Any], source: str = "") -> tuple[LineDict, dict[str, str]]:
    """Merge ``{flag: value}`` into the raw tree (read from `source`); return it and field->flag origins."""
    out = _merge(data, {})
    origins: dict[str, str] = {}
    for flag, value in overrides.items():
        if value is None:
            continue
        if flag not in OVERRIDE_FLAGS:
            raise InputError(COMMAND_LINE, flag, "not a spec override")
        dotted = OVERRIDE_FLAGS[flag]
        section, key = dotted.split(".")
        sub = out.get(section)
        sub = _merge(sub, {}) if isinstance(sub, dict) else LineDict()
        new_value = _parse_override(flag, value)
        if flag == "--llc-ways" and "npu_ways" in sub and "ways" in sub:
            # the file's share is scaled, so the file's ways and npu_ways must be valid as they stand
            sec = Section(sub, source, prefix=section)
            ways = sec.integer("ways", minimum=1, maximum=MAX_LLC_WAYS)
            npu_ways = sec.integer("npu_ways", 0, minimum=0)
            _check_way_split(sec, ways, npu_ways)
            sub["npu_ways"] = min(npu_ways * new_value // ways, new_value - 1) if npu_ways else 0
        sub[key] = new_value
        out[section] = sub
        origins[dotted] = flag
    return out, origins


# -- validation ---------------------------------------------------------------

def array_dims(value: Any) -> tuple[int, int] | None:
    """(rows, cols) of a ROWSxCOLS text (16x16, '16 X 16', 016x16), or None if it is not one; a count
    beyond MAX_ARRAY_DIM is capped, unconverted (thousands of digits)."""
    # a string, never a number: YAML reads 0x32 as the integer 50, not as 0 by 32
    text = value.lower().replace(" ", "") if isinstance(value, str) else ""
    parts = text.split("x")
    # plain ASCII decimals, as everywhere ('３２' and '²' are not numbers here)
    if len(parts) != 2 or not all(p.lstrip("-").isascii() and p.lstrip("-").isdigit() for p in parts):
        return None
    rows, cols = (capped_int(p, MAX_ARRAY_DIM) for p in parts)
    return rows, cols


def array_number_problem(value: int, written: str | None = None) -> str:
    """What is wrong with a YAML number where ROWSxCOLS text is expected (0x32 reads as 50),
    naming it as `written` when the file has its text."""
    base = {"0x": "hex", "0o": "octal"}.get((written or "")[:2].lower())
    got = (f"{written}, which YAML reads as the {base} number {value}" if base
           else f"the number {value} (YAML reads 0x.. and 0o.. as hex and octal numbers)")
    return f"expected ROWSxCOLS such as 32x32, got {got}"


def _parse_array(sec: Section) -> tuple[int, int]:
    value = sec.raw("array")
    dims = array_dims(value)
    if dims is None and isinstance(value, int) and not isinstance(value, bool):
        raise sec.error("array", array_number_problem(value, sec.written("array")))
    if dims is None:
        raise sec.error("array", f"expected ROWSxCOLS such as 32x32, got {value!r}")
    rows, cols = dims
    if rows < 1 or cols < 1:
        raise sec.error("array", f"array needs at least one PE in each dimension, got {value!r}")
    if max(rows, cols) > MAX_ARRAY_DIM:
        raise sec.error("array", f"at most {MAX_ARRAY_DIM} PEs in each dimension, got {value!r}")
    return rows, cols


# beyond these the per-core and per-line state of one simulation no longer fits a
# workstation, or its event count no run finishes (docs/SOC.md)
MAX_CORES = 4096
MAX_ARRAY_DIM = 65536
MAX_LLC_BYTES = 1 << 30
MAX_LLC_WAYS = 64  # the cache kernel keeps a set's ways in one 64-bit mask
MAX_LLC_LINE_BYTES = 4096  # a line is the unit of every cache and DRAM transfer: larger ones cost minutes
MAX_DRAM_CHANNELS = 256
MAX_DRAM_RANKS = 16
MAX_LATENCY_CYCLES = 10**6  # any one latency, setup cost or DRAM timing
MIN_CLOCK_HZ = 10**6
MAX_CLOCK_HZ = 100 * 10**9  # far above any NPU; keeps cycle counts of real runs well inside 2**53


def _npu(sec: Section) -> NPUSpec:
    cores = sec.integer("cores", minimum=1, maximum=MAX_CORES)
    rows, cols = _parse_array(sec)
    dataflow = sec.choice("dataflow", dataflow_names(), "ws")
    clock_hz = sec.frequency("clock", 1_000_000_000)
    if not MIN_CLOCK_HZ <= clock_hz <= MAX_CLOCK_HZ:
        raise sec.error("clock", f"must be between 1MHz and 100GHz, got {format_frequency(clock_hz)}")
    buffers_at = (sec.source_of("buffers"), sec.line_of("buffers"))
    buf = sec.section("buffers")
    acc = buf.size("accumulator")
    scratch = buf.size("scratchpad", None)
    if scratch is not None:
        for key in ("input", "weight"):
            if buf.has(key):
                raise buf.error(key, "give either a unified scratchpad or input/weight buffers, not both")
        inp = wgt = None
    else:
        inp = buf.size("input")
        wgt = buf.size("weight")
    buf.finish()
    eb = sec.section("elem_bytes", required=False)
    elem = {k: eb.integer(k, d, minimum=1, maximum=8)
            for k, d in (("input", 1), ("weight", 1), ("output", 1), ("accumulator", 4))}
    eb.finish()
    timing = sec.choice("timing", timing_names(), "pipelined")
    vector = sec.integer("vector_elems_per_cycle", cols, minimum=1)
    dma = sec.integer("dma_bytes_per_cycle", 64, minimum=1)
    lowering = sec.choice("conv_lowering", CONV_LOWERINGS, "im2col")
    min_rows = sec.integer("compute_min_rows", 1, minimum=1, maximum=rows)
    if min_rows > 1 and lowering != "per_window":
        raise sec.error("compute_min_rows", "applies to conv_lowering: per_window only, whose computes run "
                                            "an output row at a time")
    inflight = sec.integer("dma_max_inflight", 64, minimum=1)
    req_bytes = sec.size("dma_request_bytes", 64)
    write_req_bytes = sec.size("dma_write_request_bytes", None)
    setup = sec.integer("layer_setup_cycles", 0, minimum=0, maximum=MAX_LATENCY_CYCLES)
    vector_overlap = sec.boolean("vector_overlap", True)
    matmul_waits = sec.choice("matmul_waits_for", MATMUL_WAITS, "tile")
    from .mapping.tilers import get_tiler, tiler_names  # the mapping package imports this module

    tiler = sec.choice("tiler", tiler_names(), "search")
    why_not = get_tiler(tiler).check_spec(dataflow=dataflow, unified_scratchpad=scratch is not None)
    if why_not:
        raise sec.error("tiler", f"{tiler} {why_not}")
    sec.finish()
    return NPUSpec(
        cores=cores, array_rows=rows, array_cols=cols, dataflow=dataflow, clock_hz=clock_hz,
        accumulator_bytes=acc, input_buffer_bytes=inp, weight_buffer_bytes=wgt,
        scratchpad_bytes=scratch, input_elem_bytes=elem["input"], weight_elem_bytes=elem["weight"],
        output_elem_bytes=elem["output"], accumulator_elem_bytes=elem["accumulator"],
        timing=timing, vector_elems_per_cycle=vector, dma_bytes_per_cycle=dma, conv_lowering=lowering,
        compute_min_rows=min_rows,
        dma_max_inflight=inflight, dma_request_bytes=req_bytes, dma_write_request_bytes=write_req_bytes,
        layer_setup_cycles=setup,
        vector_overlap=vector_overlap, matmul_waits_for=matmul_waits, tiler=tiler, buffers_at=buffers_at,
    )


def _check_way_split(sec: Section, ways: int, npu_ways: int) -> None:
    if npu_ways > ways:
        raise sec.error_any(("npu_ways", "ways"), f"{npu_ways} NPU ways exceed the cache's "
                                                  f"{count_text(ways, 'way')}")
    if npu_ways and npu_ways == ways:
        every = f"all {ways} ways are NPU ways" if ways != 1 else "the only way is an NPU way"
        raise sec.error_any(("npu_ways", "ways"), f"{every}; leave at least one way for the LRU part")


def _llc(sec: Section) -> LLCSpec:
    size = sec.size("size", maximum=MAX_LLC_BYTES)
    ways = sec.integer("ways", minimum=1, maximum=MAX_LLC_WAYS)
    line = sec.size("line", 64, maximum=MAX_LLC_LINE_BYTES)
    if not _is_pow2(line):
        raise sec.error("line", f"line size must be a power of two, got {line} bytes")
    banks = sec.integer("banks", 8, minimum=1)
    hit = sec.integer("hit_latency_cycles", 20, minimum=0, maximum=MAX_LATENCY_CYCLES)
    miss = sec.integer("miss_latency_cycles", 0, minimum=0, maximum=MAX_LATENCY_CYCLES)
    bw = sec.integer("bank_bytes_per_cycle", 64, minimum=1)
    write = sec.choice("write_policy", WRITE_POLICIES, "write-back")
    repl = sec.choice("replacement", REPLACEMENT_POLICIES, "lru")
    npu_ways = sec.integer("npu_ways", 0, minimum=0)
    page = sec.size("page", 32 * 1024)
    if size % (ways * line):
        raise sec.error_any(("size", "ways", "line"), f"{format_size(size)} is not a whole number of {ways}-way sets of {line} B lines")
    sets = size // (ways * line)
    if not _is_pow2(sets):
        raise sec.error_any(("size", "ways", "line"), f"gives {count_text(sets, 'set')} ({format_size(size)} / {count_text(ways, 'way')} / "
                                f"{line} B lines); "
                                "the set count must be a power of two")
    _check_way_split(sec, ways, npu_ways)
    if page % line:
        raise sec.error_any(("page", "line"), f"page size {page} B is not a multiple of the {line} B line")
    if npu_ways and (size // ways * npu_ways) % page:
        raise sec.error_any(("page", "size", "ways", "npu_ways"),
                            f"the NPU ways ({format_size(size // ways * npu_ways)}) "
                            f"are not a whole number of {format_size(page)} pages")
    sec.finish()
    return LLCSpec(size_bytes=size, ways=ways, line_bytes=line, banks=banks, hit_latency_cycles=hit,
                   miss_latency_cycles=miss,
                   bank_bytes_per_cycle=bw, write_policy=write, replacement=repl,
                   npu_ways=npu_ways, page_bytes=page)


def _dram(sec: Section) -> DRAMSpec:
    standard = sec.choice("standard", dram_standard_names())
    channels = sec.integer("channels", 1, minimum=1, maximum=MAX_DRAM_CHANNELS)
    if not _is_pow2(channels):
        raise sec.error("channels", f"channel count must be a power of two, got {channels}")
    ranks = sec.integer("ranks", None, minimum=1, maximum=MAX_DRAM_RANKS)
    if ranks is not None and not _is_pow2(ranks):
        raise sec.error("ranks", f"rank count must be a power of two, got {ranks}")
    mapping = sec.string("mapping", None)
    page_policy = sec.choice("page_policy", PAGE_POLICIES, "open")
    scheduler = sec.choice("scheduler", DRAM_SCHEDULERS, "frfcfs")
    queue = sec.integer("queue_depth", 32, minimum=1)
    tsec = sec.section("timing", required=False)
    timing = tuple(sorted((str(k), tsec.integer(k, minimum=0, maximum=MAX_LATENCY_CYCLES))
                          for k in list(tsec.data.keys())))
    tsec.finish()
    sec.finish()
    spec = DRAMSpec(standard=standard, channels=channels, ranks=ranks, mapping=mapping,
                    page_policy=page_policy, scheduler=scheduler, queue_depth=queue, timing=timing)
    _check_dram(spec, sec)
    return spec


def _check_dram(spec: DRAMSpec, sec: Section) -> None:
    """Let the DRAM model reject mapping strings and timing overrides it cannot honour."""
    from .dram import validate_spec

    try:
        validate_spec(spec)
    except ValueError as exc:
        fld = getattr(exc, "field", None) or "timing"
        key = fld.split(".")[-1]
        if fld.startswith("timing.") or fld in dict(spec.timing):
            sub = Section(sec.data.get("timing", LineDict()), sec.source, sec.field("timing"), sec.line_of("timing"), sec.origins)
            raise sub.error(key, str(exc)) from None
        raise sec.error(key, str(exc)) from None


def _without_nulls(data: Any) -> Any:
    """A SoC file's `key: null` (or `key:`) means the key's default: it clears what a `base:` file set."""
    if not isinstance(data, dict):
        return data
    out = LineDict((k, _without_nulls(v)) for k, v in data.items() if v is not None)
    out.line = getattr(data, "line", None)
    out.key_lines = getattr(data, "key_lines", {})
    out.key_sources = getattr(data, "key_sources", None)
    out.key_texts = getattr(data, "key_texts", None)
    return out


def soc_from_dict(data: Any, source: str, origins: dict[str, str] | None = None) -> SoCSpec:
    top = Section(_without_nulls(data), source, origins=origins)
    name = top.name("name", Path(source).stem if source else "soc")
    npu = _npu(top.section("npu"))
    llc = _llc(top.section("llc"))
    dram = _dram(top.section("dram"))
    top.finish()
    return SoCSpec(name=name, npu=npu, llc=llc, dram=dram, source=source)


def load_soc(ref: str = "camdn", overrides: dict[str, Any] | None = None) -> SoCSpec:
    """Load a preset (by name) or a YAML file, then apply command-line overrides.

    ``overrides`` maps flags from `OVERRIDE_FLAGS` (``--llc-size`` ...) to
    values; errors they cause are reported against the flag.
    """
    if not str(ref).strip():
        raise InputError(COMMAND_LINE, "soc", "empty: give a preset name or a SoC file")
    data, source = _read_raw(str(ref))
    origins: dict[str, str] = {}
    if overrides:
        data, origins = apply_overrides(data, overrides, source)
    return soc_from_dict(data, source, origins)

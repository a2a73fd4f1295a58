"""Plots and a Markdown report from sweep results or a run directory.

Figures are what a user would put in a paper: units on the axes, a legend,
the Okabe-Ito colour-blind-safe palette, PNG and SVG.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import COMMAND_LINE, InputError, first_line
from .soc import MAX_LLC_BYTES
from .specio import MAX_INT, load_json_text, read_csv_with_text, refuse_repeated_csv_columns
from .units import count_text, format_size

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
POLICY_ORDER = ["isolated", "shared", "waypart", "static", "prema", "camdn-hw", "camdn", "moca"]
# one colour a policy in every plot (Okabe-Ito; yellow, the faintest, for the reference)
POLICY_COLOURS = {"shared": "#0072B2", "waypart": "#E69F00", "camdn-hw": "#009E73", "camdn": "#D55E00",
                  "moca": "#CC79A7", "prema": "#56B4E9", "static": "#000000", "isolated": "#F0E442"}
OTHER_COLOURS = ["#8C564B", "#7F7F7F", "#BCBD22", "#17BECF"]  # policies of plugins: apart from the built-in ones
# one marker per policy as well: lines with equal values stay apart (and readable in grey)
POLICY_MARKERS = {"shared": "o", "waypart": "s", "camdn-hw": "^", "camdn": "D", "moca": "v", "prema": "P",
                  "static": "X", "isolated": "*"}
OTHER_MARKERS = ["h", "<", ">", "p"]
SWEEP_COLUMNS = ("policy", "llc_bytes", "mix", "tenant", "mean_latency_cycles", "dram_bytes", "llc_hit_rate",
                 "sla_rate", "stp", "fairness", "point_sla_rate")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10,
                         "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
                         "svg.hashsalt": "npusim",  # SVG ids from a fixed salt: same input, same file
                         "text.parse_math": False})  # names are text: a '$' in a tenant name is no formula
    return plt


def _policies(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df.policy))
    return [p for p in POLICY_ORDER if p in present] + [p for p in present if p not in POLICY_ORDER]


def _colour(policy: str, policies: list[str]) -> str:
    """The same colour for a policy in every plot; other policies take the palette in turn."""
    if policy in POLICY_COLOURS:
        return POLICY_COLOURS[policy]
    others = [p for p in policies if p not in POLICY_COLOURS]
    return OTHER_COLOURS[others.index(policy) % len(OTHER_COLOURS)]


def _line_style(policy: str, policies: list[str]) -> dict[str, Any]:
    """Colour, marker and weight of a policy's line: later policies are drawn thinner
    and with smaller markers on top of earlier ones, so a line equal to another
    shows as a thin line inside a thick one instead of vanishing under it."""
    k = policies.index(policy) if policy in policies else 0
    if policy in POLICY_MARKERS:
        marker = POLICY_MARKERS[policy]
    else:
        others = [p for p in policies if p not in POLICY_MARKERS]
        marker = OTHER_MARKERS[others.index(policy) % len(OTHER_MARKERS)]
    shrink = min(k, 5)
    return {"color": _colour(policy, policies), "marker": marker, "linewidth": 3.0 - 0.4 * shrink,
            "markersize": 9.0 - shrink, "label": policy}


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, metadata={"Date": None} if p.suffix == ".svg" else None, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


TEXT_COLUMNS = ("policy", "mix", "tenant")  # the others of SWEEP_COLUMNS are numbers
FILLED_COLUMNS = ("llc_bytes", "dram_bytes")  # never empty in a sweep's row (the other numbers may be n/a)
RATE_COLUMNS = ("llc_hit_rate", "sla_rate", "point_sla_rate")
# columns a sweep adds that the report reads when they are there: numbers too
OPTIONAL_NUMBER_COLUMNS = ("speedup", "antt", "dram_bytes_norm", "point_dram_bytes_norm", "point_dram_bytes",
                           "isolated_latency_cycles", "p95_latency_cycles", "makespan_cycles", "cpu_traffic",
                           "background_gb_per_s", "background_dram_bytes")


def first_bad_row(bad: pd.Series, csv: bool) -> tuple[int, int | None]:
    """Position of the first True in `bad`, and its CSV line (header = line 1) when `csv`."""
    i = int(bad.to_numpy().nonzero()[0][0])
    return i, (i + 2 if csv else None)


def _float_or_nan(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


def require_numbers(df: pd.DataFrame, col: str, source: str, *, csv: bool, allow_empty: bool = False) -> None:
    """Make `df[col]` numeric in place; the first cell that is not a number is
    an InputError naming its CSV line (header = line 1) when `csv`."""
    values = df[col]
    # True is no count of bytes (pandas would make it 1); a numeric column holds no booleans
    flags = (values.map(lambda v: isinstance(v, (bool, np.bool_))) if values.dtype == bool or values.dtype == object
             else pd.Series(False, index=values.index))
    if flags.any():
        i, line = first_bad_row(flags, csv)
        raise InputError(source, col, f"expected a number, got {values.iloc[i]}", line)
    try:
        numbers = pd.to_numeric(values, errors="coerce")
    except OverflowError:  # an integer beyond float64: infinite, refused below
        numbers = pd.Series([_float_or_nan(v) for v in values], index=values.index, dtype=float)
    infinite = numbers.isin([np.inf, -np.inf])
    bad = (numbers.isna() & (values.notna() if allow_empty else True)) | infinite
    if bad.any():
        i, line = first_bad_row(bad, csv)
        what = "a finite number" if infinite.iloc[i] else "a number"
        value = values.iloc[i]
        if not isinstance(value, str) and pd.isna(value):
            raise InputError(source, col, f"empty (expected {what})", line)
        shown = repr(value) if isinstance(value, str) else str(value)
        raise InputError(source, col, f"expected {what}, got {shown}", line)
    df[col] = numbers


def require_integers(df: pd.DataFrame, col: str, source: str, *, csv: bool, what: str, cast: bool = True) -> None:
    """Make the numeric column `col` integers in place (`cast=False`: only check, for a column
    whose range is checked later); the first value with a fraction is an InputError
    ("expected <what>") naming its CSV line when `csv`."""
    bad = df[col] % 1 != 0
    if bad.any():
        i, line = first_bad_row(bad, csv)
        raise InputError(source, col, f"expected {what}, got {df[col].iloc[i]:.15g}", line)
    if cast:
        df[col] = df[col].astype(int)


def refuse_out_of_range(df: pd.DataFrame, col: str, source: str, *, csv: bool, top: float = np.inf) -> None:
    """The first value of the numeric column `col` below 0 or above `top` is an
    InputError naming its CSV line (header = line 1) when `csv`."""
    bad = (df[col] < 0) | (df[col] > top)
    if bad.any():
        i, line = first_bad_row(bad, csv)
        value = df[col].iloc[i]
        what = (f"must be a rate from 0 to {top:g}" if top <= 1 else "must not be negative" if value < 0
                else f"must be at most {top:.0f}")
        raise InputError(source, col, f"{what}, got {value}", line)


def check_columns(df: pd.DataFrame, source: str) -> None:
    """Every column the report reads is there and of its kind; a bad cell is
    named by its CSV line (header = line 1)."""
    missing = [c for c in SWEEP_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(source, missing[0], f"column missing from the results (a sweep writes {', '.join(SWEEP_COLUMNS)})")
    if df.empty:
        raise InputError(source, "results", "no rows")
    csv = str(source).lower().endswith(".csv")
    if "point_id" in df.columns:  # a row twice would count its tenant's bytes twice in the point's totals
        twice = df.duplicated(["point_id", "tenant"], keep="first")
        if twice.any():
            i, line = first_bad_row(twice, csv)
            raise InputError(source, "tenant", f"{df.tenant.iloc[i]} is given twice for point "
                                               f"{df.point_id.iloc[i]}", line)
    for col in SWEEP_COLUMNS:
        if col in TEXT_COLUMNS:
            bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
            if bad.any():
                raise InputError(source, col, "empty", first_bad_row(bad, csv)[1])
            df[col] = df[col].astype(str)
        else:
            require_numbers(df, col, source, csv=csv, allow_empty=col not in FILLED_COLUMNS)
    for col in OPTIONAL_NUMBER_COLUMNS:
        if col in df.columns:
            require_numbers(df, col, source, csv=csv, allow_empty=True)
    for col in FILLED_COLUMNS:  # bytes come whole (not cast: 1e300 is refused by its range below)
        require_integers(df, col, source, csv=csv, what="a whole number of bytes", cast=False)
    bad = ~(df.llc_bytes > 0)
    if bad.any():
        i, line = first_bad_row(bad, csv)
        raise InputError(source, "llc_bytes", f"must be a positive size, got {df.llc_bytes.iloc[i]}", line)
    bad = df.llc_bytes > MAX_LLC_BYTES
    if bad.any():
        i, line = first_bad_row(bad, csv)
        raise InputError(source, "llc_bytes", f"must be at most {MAX_LLC_BYTES} (1 GiB), got {df.llc_bytes.iloc[i]}", line)
    for col in [c for c in SWEEP_COLUMNS if c not in TEXT_COLUMNS] + [c for c in OPTIONAL_NUMBER_COLUMNS if c in df]:
        refuse_out_of_range(df, col, source, csv=csv, top=1.0 if col in RATE_COLUMNS else np.inf)
    refuse_points_missing_rows(df, source, csv=csv)
    refuse_points_split(df, source, csv=csv)
    for col in extra_axes(df):  # plotted against: a numeric axis must be finite
        if pd.api.types.is_numeric_dtype(df[col]):
            bad = pd.Series(np.isinf(df[col].to_numpy(dtype=float)))
            if bad.any():
                i, line = first_bad_row(bad, csv)
                raise InputError(source, col, f"expected a finite number, got {df[col].iloc[i]}", line)
    if "qos" in df.columns:  # a swept QoS level: the report plots against its deadline scale
        from .scenario import qos_problem

        problems = [None if pd.isna(q) else qos_problem(str(q)) for q in df.qos]
        bad = pd.Series([p is not None for p in problems])
        if bad.any():
            i, line = first_bad_row(bad, csv)
            raise InputError(source, "qos", problems[i], line)


def refuse_points_split(df: pd.DataFrame, source: str, *, csv: bool) -> None:
    """A point's rows share what the sweep set for it: rows of one `point_id` that disagree
    on its policy, LLC size, mix or SoC were edited or mixed up, and would make two points."""
    if "point_id" not in df.columns:
        return
    for col in ("policy", "llc_bytes", "mix", "soc"):
        if col not in df.columns:
            continue
        first = df.groupby("point_id", sort=False, dropna=False)[col].transform("first")
        bad = (df[col] != first) & ~(df[col].isna() & first.isna())
        if bad.any():
            i, line = first_bad_row(bad, csv)
            raise InputError(source, col, f"{df[col].iloc[i]} differs from {first.iloc[i]}, the value of the "
                                          f"other rows of point {df.point_id.iloc[i]}", line)


def refuse_points_missing_rows(df: pd.DataFrame, source: str, *, csv: bool) -> None:
    """A sweep writes a point's tenants' rows together, and its `point_dram_bytes` is exactly their
    `dram_bytes` summed: a point whose rows sum to less lost a tenant's row (a write cut off at a line
    end). Its totals and mean speedup would be those of the tenants left: refuse it, as --resume runs
    such a point again."""
    if "point_id" not in df.columns or "point_dram_bytes" not in df.columns:
        return  # a table npusim did not write: the point's total is its rows' sum
    g = df.groupby("point_id", sort=False)
    rows_bytes = g.dram_bytes.transform("sum")
    point_bytes = g.point_dram_bytes.transform("first")
    bad = point_bytes.notna() & (rows_bytes != point_bytes)
    if bad.any():
        i, line = first_bad_row(bad, csv)
        raise InputError(source, "point_dram_bytes",
                         f"point {df.point_id.iloc[i]}: its rows' dram_bytes add up to {rows_bytes.iloc[i]:.0f}, "
                         f"not {point_bytes.iloc[i]:.0f}: a tenant's row is missing (a write was cut off): run the "
                         "sweep again with --resume", line)


EXTRA_AXES = ("qos", "scheduler", "seed", "requests", "cpu_traffic", "llc_ways", "cores", "array", "dataflow",
              "tiler", "dram", "dram_channels")


def extra_axes(df: pd.DataFrame) -> list[str]:
    """Swept axes besides mix, LLC size and policy (columns with more than one value)."""
    cols = [c for c in EXTRA_AXES if c in df.columns] + sorted(c for c in df.columns if c.startswith("param."))
    return [c for c in cols if df[c].nunique(dropna=False) > 1]


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (mix, LLC size, policy, other swept axes): mean per-tenant speedup, total
    DRAM bytes vs shared, mean hit rate, and the point's SLA rate (its tasks' share
    that met their deadline, as plotted) and STP. `df` has the derived columns."""
    # dropna=False: a point without a value of a swept axis is still a point of the table (the plots
    # have no x for it, the table lists it)
    g = df.groupby(["mix", "llc_bytes", "policy", *extra_axes(df)], sort=True, dropna=False)
    t = g.agg(speedup=("speedup", "mean"), dram_norm=("point_dram_bytes_norm", "first"),
              dram_MiB=("dram_bytes", lambda x: x.sum() / 2**20), llc_hit_rate=("llc_hit_rate", "mean"),
              sla_rate=("point_sla_rate", "first"), stp=("stp", "first")).reset_index()
    t["llc"] = [format_size(int(b)) for b in t.llc_bytes]
    # QoS levels in deadline order (H, M, L: tightest first) and arrays by size, not as text
    from .scenario import qos_scale

    sort_keys = {"qos": lambda q: qos_scale(str(q)), "array": _axis_order("array")}
    ranked = {c: f for c, f in sort_keys.items() if c in t.columns}
    if ranked:
        keys = ["mix", "llc_bytes", "policy", *extra_axes(df)]
        rank = {c: {v: i for i, v in enumerate(sorted(t[c].dropna().unique(), key=f))} for c, f in ranked.items()}
        order = t.assign(**{c: t[c].map(r) for c, r in rank.items()}).sort_values(keys, kind="stable").index
        t = t.loc[order].reset_index(drop=True)
    return t


def short_table(df: pd.DataFrame) -> str:
    from .sweep import with_derived

    df = with_derived(df)
    t = summary_table(df)
    cols = ["mix", "llc", "policy", *extra_axes(df), "speedup", "dram_norm", "llc_hit_rate", "stp"]
    return t[cols].assign(mix=t.mix.map(short_mix)).to_string(index=False, float_format=lambda v: f"{v:.3f}",
                                                              na_rep="n/a")


def short_mix(mix: str, width: int = 60) -> str:
    """A mix as it fits a table: itself, or its size and workloads counted
    ("25 tenants: kws x8, squeezenet x9, yolo_lite x8")."""
    if len(mix) <= width:
        return mix
    names = mix.split("+")
    counts = {n: names.count(n) for n in dict.fromkeys(names)}
    counted = f"{len(names)} tenants: " + ", ".join(f"{n} x{c}" if c > 1 else n for n, c in counts.items())
    return counted if len(counted) < len(mix) else mix


MAX_PLOTTED_MIXES = 8  # a panel per mix, side by side: more would make figures too wide to read or draw
LOG_LATENCY_RANGE = 20  # latency bars are drawn on a log axis when the largest exceeds the smallest this much


def plot_sweep(df: pd.DataFrame, out: Path) -> list[tuple[str, list[Path]]]:
    """The sweep's figures; per-mix panels for the first MAX_PLOTTED_MIXES mixes."""
    plt = _plt()
    made = []
    policies = _policies(df)
    mixes = list(dict.fromkeys(df.mix))[:MAX_PLOTTED_MIXES]
    points = per_point(df)
    made += _plot_against(points, "llc_bytes", mixes, policies, out)
    # the other swept axes with an order (channels, ways, cores, ...): the same two plots against each
    for axis in extra_axes(df):
        if axis not in ("qos", "cpu_traffic", "seed"):
            made += _plot_against(points, axis, mixes, policies, out)
    # per-tenant latency at the largest LLC size of each mix; a panel grows with its tenants
    widths = [max(4.8, 0.1 + 0.12 * len(policies)) * max(1.0, df[df.mix == m].tenant.nunique() / 8) for m in mixes]
    fig, axes = plt.subplots(1, len(mixes), figsize=(sum(widths), 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, mix in zip(axes[0], mixes):
        sub = df[(df.mix == mix) & (df.llc_bytes == df[df.mix == mix].llc_bytes.max())]
        tenants = list(dict.fromkeys(sub.tenant))
        width = 0.8 / max(1, len(policies))
        drawn = []
        for k, pol in enumerate(policies):
            # mean over any other swept axis (QoS scale, seed, ...)
            s = sub[sub.policy == pol].groupby("tenant").mean_latency_cycles.mean().reindex(tenants)
            ax.bar(np.arange(len(tenants)) + k * width, s / 1e6, width, label=pol,
                   color=_colour(pol, policies))
            drawn += [v for v in s / 1e6 if v > 0]
        ax.set_xticks(np.arange(len(tenants)) + width * (len(policies) - 1) / 2, tenants, rotation=30,
                      ha="right", fontsize=8)
        # tenants whose latencies differ by more than 20x: a log axis keeps the short bars visible
        log = bool(drawn) and max(drawn) > LOG_LATENCY_RANGE * min(drawn)
        if log:
            _log_axis_1_2_5(ax)
        ax.set_ylabel("mean latency (Mcycles, log scale)" if log else "mean latency (Mcycles)")
        ax.set_title(f"{_mix_title(mix)} @ {format_size(int(sub.llc_bytes.max()))}", fontsize=8)
    _legend_outside(axes[0][-1])
    made.append(("per-tenant latency", _save(fig, out, "latency_by_tenant")))
    # QoS metrics when the sweep has them
    if points.stp.notna().any():
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        agg = points.groupby("policy").agg(sla=("point_sla", "mean"), stp=("stp", "mean"),
                                           fairness=("fairness", "mean")).reindex(policies)
        for ax, (col, lab) in zip(axes, (("sla", "SLA satisfaction rate"), ("stp", "STP"),
                                         ("fairness", "fairness"))):
            bars = ax.bar(agg.index, agg[col], color=[_colour(p, policies) for p in agg.index])
            ax.bar_label(bars, fmt="%.2f", fontsize=8)  # a rate of 0 draws no bar: say it
            ax.set_ylabel(lab)
            ax.set_xlabel("policy")
            ax.tick_params(axis="x", rotation=30)
            if col != "stp":  # rates from 0 to 1, whatever the values
                ax.set_ylim(0, 1.05)
            else:
                ax.set_ylim(0, 1.1 * max(agg[col].max(), 1e-9))  # room for the labels
        fig.suptitle(_mean_over(points), fontsize=9)
        made.append(("SLA, STP and fairness", _save(fig, out, "qos_metrics")))
    if "qos" in df.columns and df.qos.nunique() > 1:
        made.append(("SLA satisfaction vs deadline scale", _plot_sla_vs_qos(points, policies, out)))
    if "cpu_traffic" in df.columns and df.cpu_traffic.nunique() > 1:
        made.append(("speedup and slowdown vs CPU background traffic", _plot_cpu_traffic(df, mixes, policies, out)))
    return made


def _mix_title(mix: str) -> str:
    return textwrap.fill(short_mix(mix).replace("+", ", "), 48)


def _mean_over(points: pd.DataFrame) -> str:
    """What a per-policy figure averages over: the sweep's points, by axis."""
    axes = [c for c in ("mix", "llc_bytes", *extra_axes(points)) if c in points and points[c].nunique(dropna=False) > 1]
    if not axes:
        return "per policy"
    listed = [f"{points[c].nunique(dropna=False)} {AXIS_PLURALS.get(c, 'values of ' + c)}" for c in axes]
    return "per policy, mean over " + ", ".join(listed)


def _legend_outside(ax, title: str = "policy") -> None:
    """The legend right of the axes, where it hides no data; it names what any panel of the
    figure draws (a policy with no point in the last panel's mix is still listed)."""
    handles: dict[str, Any] = {}
    for panel in ax.figure.axes:
        for handle, label in zip(*panel.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    ax.legend(list(handles.values()), list(handles), title=title, fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)


def _log_axis_1_2_5(ax) -> None:
    """A log y axis labelled at 1, 2 and 5 of each decade in plain numbers: data
    within a decade or two still gets several labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain text: math is off
    ax.yaxis.set_minor_formatter(NullFormatter())


def _plot_against(points: pd.DataFrame, axis: str, mixes: list[str], policies: list[str],
                  out: Path) -> list[tuple[str, list[Path]]]:
    """Mean speedup and DRAM bytes over shared against one swept axis: a panel per mix,
    a line per policy, the mean over the other axes."""
    plt = _plt()
    # the aggregates are named apart from any swept axis (a sweep of `dram` standards)
    per = points.groupby(["mix", axis, "policy"], dropna=False).agg(
        mean_speedup=("speedup", "mean"), mean_dram_norm=("dram_norm", "mean")).reset_index()
    values = sorted(per[axis].dropna().unique(), key=_axis_order(axis))
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)
    if axis == "llc_bytes":
        x_of, ticks, xlabel, suffix = (lambda v: v / 2**20), [format_size(int(v)) for v in values], "LLC size", "llc"
    else:
        x_of = (lambda v: v) if numeric else (lambda v: values.index(v))
        ticks, xlabel, suffix = [str(v) for v in values], AXIS_LABELS.get(axis, axis), axis
    made = []
    for metric, name, label in (("mean_speedup", f"speedup_vs_{suffix}", "mean speedup over shared (x)"),
                                ("mean_dram_norm", f"dram_norm_vs_{suffix}", "NPU DRAM bytes normalised to shared")):
        if per[metric].notna().sum() == 0:
            continue
        fig, axes = plt.subplots(1, len(mixes), figsize=(4.2 * len(mixes), 3.4), squeeze=False, sharey=True)
        for ax, mix in zip(axes[0], mixes):
            sub = per[per.mix == mix]
            for pol in policies:
                s = sub[(sub.policy == pol) & sub[axis].notna()]  # a point without the axis: no x
                s = s.iloc[np.argsort([x_of(v) for v in s[axis]], kind="stable")]  # the line runs left to right
                if s[metric].notna().any():
                    ax.plot([x_of(v) for v in s[axis]], s[metric], **_line_style(pol, policies))
            if axis == "llc_bytes":
                ax.set_xscale("log", base=2)
            ax.set_xticks([x_of(v) for v in values], ticks)
            ax.set_xlabel(xlabel)
            ax.set_title(_mix_title(mix), fontsize=8)
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[0][0].set_ylabel(label)
        _legend_outside(axes[0][-1])
        made.append((f"{label} vs {xlabel}", _save(fig, out, name)))
    return made


def _axis_order(axis: str):
    """Sort key of an axis' values on a plot's x: arrays by their PEs (16x16 before 128x128, which text
    order puts first), every other axis as its values compare."""
    if axis != "array":
        return None
    from .soc import array_dims

    def key(v: Any) -> tuple:
        dims = array_dims(str(v))
        return (0, dims[0] * dims[1], dims, "") if dims else (1, 0, (0, 0), str(v))  # others after, as text
    return key


AXIS_PLURALS = {"mix": "mixes", "llc_bytes": "LLC sizes", "qos": "QoS levels", "cpu_traffic": "CPU traffic rates",
                "seed": "seeds", "scheduler": "schedulers", "requests": "request counts", "llc_ways": "LLC way counts",
                "cores": "core counts", "array": "arrays", "dataflow": "dataflows", "tiler": "tilers",
                "dram": "DRAM standards",
                "dram_channels": "DRAM channel counts"}
AXIS_LABELS = {"dram_channels": "DRAM channels", "llc_ways": "LLC ways", "cores": "NPU cores",
               "requests": "requests per tenant", "dram": "DRAM standard", "array": "systolic array",
               "dataflow": "dataflow", "tiler": "tiler", "scheduler": "scheduler"}


def per_point(df: pd.DataFrame) -> pd.DataFrame:
    """One row per sweep point: its axes, the mean per-tenant speedup and the point's
    own figures (DRAM vs shared, STP, fairness, SLA rate, ANTT)."""
    keys = ["mix", "llc_bytes", "policy", *extra_axes(df)]
    df = df.assign(**{c: df[c] if c in df.columns else np.nan
                      for c in ("speedup", "stp", "fairness", "point_sla_rate", "antt")})
    by = ["point_id", *keys] if "point_id" in df.columns else keys
    return df.groupby(by, sort=False, dropna=False).agg(
        speedup=("speedup", "mean"), dram_norm=("point_dram_bytes_norm", "first"), stp=("stp", "first"),
        fairness=("fairness", "first"), point_sla=("point_sla_rate", "first"),
        antt=("antt", "first")).reset_index()


def sla_by_scale(points: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The points' SLA rate against the deadline scale (index) per policy (columns),
    one table per combination of the other swept axes (mix, LLC size, CPU traffic, ...),
    titled by it ("" when there is no other axis); repeated points are averaged."""
    from .scenario import qos_scale

    others = [c for c in ("mix", "llc_bytes", *extra_axes(points)) if c != "qos" and points[c].nunique(dropna=False) > 1]
    points = points.assign(scale=[qos_scale(str(q)) for q in points.qos])
    groups = points.groupby(others, sort=True, dropna=False) if others else [((), points)]
    panels = []
    for values, sub in groups:
        values = values if isinstance(values, tuple) else (values,)
        title = ", ".join(_axis_label(c, v) for c, v in zip(others, values))
        panels.append((title, sub.pivot_table(index="scale", columns="policy", values="point_sla", aggfunc="mean")))
    return panels


def _plot_sla_vs_qos(points: pd.DataFrame, policies: list[str], out: Path) -> list[Path]:
    plt = _plt()
    panels = sla_by_scale(points)
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, table) in zip(axes.flat, panels):
        for pol in policies:
            if pol in table.columns:
                s = table[pol].dropna()
                ax.plot(s.index, s.values, **_line_style(pol, policies))
        ax.set_xlabel("deadline scale (x the latency target)")
        ax.set_title(title, fontsize=8)
        ax.set_ylim(-0.03, 1.03)
    for row in axes:
        row[0].set_ylabel("SLA satisfaction rate")
    _legend_outside(axes.flat[len(panels) - 1])
    return _save(fig, out, "sla_vs_qos")


def _axis_label(axis: str, value) -> str:
    if axis == "mix":
        return _mix_title(str(value))
    if axis == "llc_bytes":
        return f"LLC {format_size(int(value))}"
    if axis == "cpu_traffic":
        return f"CPU {value} GB/s"
    return f"{axis}={value}"


def _plot_cpu_traffic(df: pd.DataFrame, mixes: list[str], policies: list[str], out: Path) -> list[Path]:
    """Per mix: mean speedup over shared, and ANTT (slowdown against each model alone), against
    the CPU traffic offered (means over any other swept axis)."""
    plt = _plt()
    per = per_point(df).groupby(["mix", "policy", "cpu_traffic"]).agg(
        speedup=("speedup", "mean"), antt=("antt", "mean")).reset_index()
    fig, axes = plt.subplots(len(mixes), 2, figsize=(9, 3.2 * len(mixes)), squeeze=False)
    for row, mix in zip(axes, mixes):
        for ax, (col, lab) in zip(row, (("speedup", "mean speedup over shared (x)"),
                                        ("antt", "ANTT (latency / alone)"))):
            for pol in policies:
                sub = per[(per.mix == mix) & (per.policy == pol)].sort_values("cpu_traffic")
                if sub[col].notna().any():
                    ax.plot(sub.cpu_traffic, sub[col], **_line_style(pol, policies))
            ax.set_xlabel("CPU traffic offered (GB/s)")
            ax.set_ylabel(lab)
            ax.set_title(_mix_title(mix), fontsize=8)
        row[0].axhline(1.0, color="grey", lw=0.8, ls="--")
    _legend_outside(axes[0][-1])
    return _save(fig, out, "vs_cpu_traffic")


RUN_SUMMARY_KEYS = ("scenario", "policy", "stp", "antt", "fairness", "sla_rate", "makespan_cycles", "tenants")


def read_run(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    """The summary and timeline of an `npusim run --out` directory, checked."""
    path = run_dir / "summary.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "summary", f"cannot read: {exc}") from None
    summary = load_json_text(text, str(path), "summary")
    if not isinstance(summary, dict):
        raise InputError(str(path), "summary", "expected a JSON object (as `npusim run --out` writes)")
    for key in RUN_SUMMARY_KEYS:
        if key not in summary:
            raise InputError(str(path), key, "missing from the run summary")
    if not isinstance(summary["tenants"], list) or not all(isinstance(t, dict) for t in summary["tenants"]):
        raise InputError(str(path), "tenants", "expected a list of per-tenant objects")
    for key in ("scenario", "policy"):
        if not isinstance(summary[key], str) or not summary[key].strip():
            raise InputError(str(path), key, f"expected a name, got {summary[key]!r}")
    for key in ("stp", "antt", "fairness", "sla_rate", "makespan_cycles"):  # null: not defined for this run
        value = summary[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise InputError(str(path), key, f"expected a number of at least 0, got {value!r}")
    llc = summary.get("llc_bytes")  # optional (older runs): a positive whole size when given
    if llc is not None and (isinstance(llc, bool) or not isinstance(llc, (int, float)) or not math.isfinite(llc)
                            or llc <= 0 or llc % 1):
        raise InputError(str(path), "llc_bytes", f"expected a positive whole number of bytes, got {llc!r}")
    names = [t.get("name") for t in summary["tenants"]]
    bad = next((i for i, n in enumerate(names) if not isinstance(n, str) or not n.strip()), None)
    if bad is not None:
        raise InputError(str(path), f"tenants[{bad}].name", f"expected a tenant name, got {names[bad]!r}")
    tl_path = next((run_dir / f"timeline.{ext}" for ext in ("csv", "parquet") if (run_dir / f"timeline.{ext}").is_file()), None)
    if tl_path is None:
        raise InputError(str(run_dir), "timeline", "no timeline.csv or timeline.parquet in the run directory")
    if tl_path.suffix == ".csv":
        refuse_repeated_csv_columns(tl_path)
    try:
        tl = pd.read_parquet(tl_path) if tl_path.suffix == ".parquet" else read_csv_with_text(tl_path, ("tenant",))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(str(tl_path), "timeline", f"cannot read: {first_line(exc)}") from None
    for col in ("cycle", "tenant", "llc_lines", "region_pages"):
        if col not in tl.columns:
            raise InputError(str(tl_path), col, "column missing from the timeline")
    if tl.empty:
        raise InputError(str(tl_path), "timeline", "no rows")
    csv = tl_path.suffix == ".csv"
    for col, what in (("cycle", "a cycle"), ("llc_lines", "a count of lines"), ("region_pages", "a count of pages")):
        require_numbers(tl, col, str(tl_path), csv=csv)
        refuse_out_of_range(tl, col, str(tl_path), csv=csv, top=MAX_INT)
        require_integers(tl, col, str(tl_path), csv=csv, what=what)
    bad = tl["tenant"].isna() | (tl["tenant"].astype(str).str.strip() == "")
    if bad.any():
        raise InputError(str(tl_path), "tenant", "empty", first_bad_row(bad, csv)[1])
    tl["tenant"] = tl["tenant"].astype(str)
    owners = set(names) | {b.get("name") for b in summary.get("background") or [] if isinstance(b, dict)}
    stray = ~tl.tenant.isin(owners)
    if stray.any():
        i, line = first_bad_row(stray, csv)
        raise InputError(str(tl_path), "tenant", f"{tl.tenant.iloc[i]!r} is no tenant of the run's summary.json", line)
    return summary, tl


def plot_timeline(tl: pd.DataFrame, out: Path, summary: dict | None = None) -> list[tuple[str, list[Path]]]:
    """Each LLC owner's region pages (or, without regions, LRU-way lines) over time:
    stacked, since they share one LLC; under `isolated` each tenant ran alone with
    an LLC of its own, so one line each. Owners in the run's order (tenants, then
    CPU-side generators), so a tenant keeps its colour across runs of one mix."""
    plt = _plt()
    made = []
    summary = summary or {}
    use_pages = tl.region_pages.sum() > 0
    col, label = ("region_pages", "region pages held") if use_pages else ("llc_lines", "LLC lines held (LRU ways)")
    fig, ax = plt.subplots(figsize=(8, 3.4))
    present = list(dict.fromkeys(tl.tenant))
    listed = [t.get("name") for t in summary.get("tenants") or []] + \
             [b.get("name") for b in summary.get("background") or [] if isinstance(b, dict)]
    tenants = [t for t in dict.fromkeys(listed) if t in present] + [t for t in present if t not in listed]
    wide = tl.pivot_table(index="cycle", columns="tenant", values=col, aggfunc="last").ffill().fillna(0)
    wide = wide[tenants]
    n = len(tenants)  # one distinct colour a tenant
    if n <= len(OKABE_ITO):
        colours = OKABE_ITO[:n]
    elif n <= 20:
        colours = [plt.get_cmap("tab20")(i) for i in range(n)]
    else:
        colours = [plt.get_cmap("turbo")(i / (n - 1)) for i in range(n)]
    alone = summary.get("policy") == "isolated"
    if alone:
        for name, colour in zip(tenants, colours):
            ax.step(wide.index / 1e6, wide[name], where="post", label=name, color=colour)
        label += ", each in its own LLC"
    else:
        ax.stackplot(wide.index / 1e6, wide.T.values, labels=tenants, colors=colours, step="post")
    ax.set_xlabel("time (Mcycles)")
    ax.set_ylabel(label)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + (len(tenants) - 1) // 16,
              frameon=False)
    what = "each tenant alone" if alone else "stacked"
    llc = f", LLC {format_size(int(summary['llc_bytes']))}" if _is_number(summary.get("llc_bytes")) else ""
    if summary.get("policy"):
        ax.set_title(f"cache allocation over time ({what}): {summary.get('scenario')}, "
                     f"{summary['policy']}{llc}", fontsize=9)
    else:
        ax.set_title(f"cache allocation over time ({what})")
    made.append(("cache allocation timeline", _save(fig, out, "timeline")))
    return made


def write_report(source: Path, out: Path) -> Path:
    """Plots plus report.md for a sweep results file/directory or a run directory.
    The input is read and checked before `out` is created."""
    sections = []
    is_run = source.is_dir() and (source / "summary.json").is_file()
    if is_run:
        summary, timeline = read_run(source)
    else:
        from .sweep import read_results, with_derived

        df = read_results(source)
        check_columns(df, str(source))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(COMMAND_LINE, "--out", f"cannot create {str(out)!r}: {exc.strerror or exc}") from None
    if is_run:
        figs = plot_timeline(timeline, out, summary)
        tenants = pd.DataFrame(summary["tenants"])
        sections.append(f"# Run report: {summary['scenario']} ({summary['policy']})\n")
        rates = ", ".join(f"{label} {_cell(summary[key], 3)}" for label, key in
                          (("STP", "stp"), ("ANTT", "antt"), ("fairness", "fairness"), ("SLA", "sla_rate")))
        sections.append(f"{rates}, makespan {_cell(summary['makespan_cycles'], 0)} cycles.\n")
        sections.append(_table(tenants))
        background = summary.get("background")
        if isinstance(background, list) and background and all(isinstance(b, dict) for b in background):
            cols = ["name", "pattern", "footprint_bytes", "offered_gb_per_s", "achieved_gb_per_s", "llc_hit_rate",
                    "dram_bytes"]
            sections.append("\nCPU-side background traffic:\n")
            sections.append(_table(pd.DataFrame(background).reindex(columns=cols)))
    else:
        df = with_derived(df)
        figs = plot_sweep(df, out)
        table = summary_table(df)[["mix", "llc", "policy", *extra_axes(df), "speedup", "dram_norm", "dram_MiB",
                                    "llc_hit_rate", "sla_rate", "stp"]]
        table = table.assign(mix=table.mix.map(short_mix))
        sections.append("# Sweep report\n")
        relative = ("Speedup and DRAM bytes are relative to `shared` at the same point." if "shared" in set(df.policy)
                    else "No `shared` point was swept: speedup and DRAM relative to it are n/a.")
        relative += (" DRAM bytes are the NPU tenants' (`dram_MiB`); CPU-side traffic is not counted in them."
                     " `sla_rate` is the share of requests whose latency is within their target x the QoS"
                     " scale; a target left out is the isolated latency, so at QoS M (1x) a co-located"
                     " request meets it only by running as fast as alone (docs/METRICS.md).")
        n_points = df.point_id.nunique() if "point_id" in df else len(df)
        sections.append(f"Source: `{source}`; {count_text(n_points, 'point')}, "
                        f"{count_text(len(df), 'tenant row')}. {relative}\n")
        mixes = df.mix.nunique()
        if mixes > MAX_PLOTTED_MIXES:
            sections.append(f"The per-mix plots show the first {MAX_PLOTTED_MIXES} of the {mixes} mixes; "
                            "the table lists them all.\n")
        sections.append("```\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="n/a")
                        + "\n```")
    for title, paths in figs:
        sections.append(f"\n## {title}\n\n![{title}]({paths[0].name})\n")
    path = out / "report.md"
    path.write_text("\n".join(sections) + "\n", encoding="utf-8")
    return path


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _cell(v: Any, decimals: int | None = None) -> str:
    """A value for reading: n/a for none; integers exact; other numbers with `decimals`
    (default: none if whole, else 3), and none from 1000 up; never -0."""
    if v is None or (_is_number(v) and math.isnan(float(v))):
        return "n/a"
    if not _is_number(v):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    x = float(v)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if decimals is None:
        decimals = 0 if x.is_integer() else 3
    text = f"{x:.{0 if abs(x) >= 1000 else decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _table(df: pd.DataFrame) -> str:
    """A table for reading: a column of whole numbers stays whole; in a column with
    fractions, values get 3 decimals (0.000, 0.500) below 1000 and none above."""
    df = df.astype(object)
    cols = {}
    for c in df.columns:
        finite = [float(v) for v in df[c] if _is_number(v) and math.isfinite(float(v))]
        decimals = 0 if all(x.is_integer() for x in finite) else 3
        cols[c] = [_cell(v, decimals) for v in df[c]]
    # a fenced block, not to_markdown: the file must not depend on whether tabulate is installed
    return "```\n" + pd.DataFrame(cols).to_string(index=False) + "\n```"
